"""How much does CLIP pretraining help when labels are scarce? AstroM3's label-fraction study for lcml.

Rizhko & Bloom (2024, arXiv:2411.08842) found that contrastive (CLIP) pretraining across photometry,
spectra and metadata helps a classifier most when few objects are labelled. :func:`label_fraction_study`
measures that on one lcml release:

1. the release's own train/val/test split (``data.split`` of the profile) is loaded; every object
   gets auxiliary photometry features computed **from its light curve** (log10 amplitude and log10
   Lomb-Scargle period, :func:`lcml.features.extract.featurize` with the survey's period range), never
   from a catalog column, and the
   metadata modality the release has (:func:`study_metadata`);
2. the AstroM3 encoders are CLIP-pretrained **once** on every train object (labels unused, so
   unlabelled objects count too);
3. for each label fraction and seed a stratified subset of the labelled train objects is drawn
   (:func:`nested_label_subsets`: the same subset for every modality set and both inits, and each
   fraction's subset contains the smaller fractions' subsets); a :class:`~lcml.models.astrom3.Classifier`
   per modality set is fine-tuned on it from random weights (``scratch``) or from the pretrained
   encoders (``clip``, :func:`build_classifier`) and scored on every labelled test object.

Everything is logged to the MLflow experiment ``<survey>-label-fraction``: a parent run with the table
(``label_fraction.csv``, ``label_fraction.json``), the pretraining loss curve and the CLIP gains as
metrics, and one nested run per cell.

Metadata
    The release's metadata modality, as :mod:`lcml.training.multimodal` reads it: never the label or
    catalog light-curve features.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lcml.errors import InputError
from lcml.studies.fractions import (  # noqa: F401 - the study's parts, named here for its readers
    FUSED, METRICS, check_fractions, fraction_count, nested_label_subsets, build_classifier, _scores, _all_present, default_modality_sets, _check_sets, gain_summary, _loss_plot,
)
from lcml.training.multimodal import (  # noqa: F401 - the study's inputs, named here for its readers
    AUX_NAMES, FORBIDDEN_COLUMNS, SKY_METADATA_COLUMNS, StudyData, light_curve_aux, load_study_data, study_config,
    study_metadata,
)

INITS: tuple[str, ...] = ("scratch", "clip")
DEFAULT_FRACTIONS: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0)
VAL_LABELS: tuple[str, ...] = ("fraction", "all", "none")
TABLE_COLUMNS: tuple[str, ...] = ("modalities", "init", "label_fraction", "n_labelled", "seed", *METRICS)


# --------------------------------------------------------------------------------------------------
# label subsets and classifiers
# --------------------------------------------------------------------------------------------------

def label_fraction_study(
    release: str,
    *,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    modality_sets: Sequence[str] | None = None,
    inits: Sequence[str] = INITS,
    pretrain_epochs: int = 10,
    finetune_epochs: int = 10,
    seeds: Sequence[int] = (0,),
    profile: str | None = None,
    overrides: dict | None = None,
    embed_dim: int = 64,
    config: Mapping[str, Any] | None = None,
    pretrain_lr: float = 1e-3,
    pretrain_batch_size: int = 128,
    finetune_lr: float = 1e-3,
    finetune_batch_size: int = 64,
    min_steps: int = 0,
    val_labels: str = "fraction",
    fusion: str = "average",
    feature_jobs: int = 1,
    device: str | None = None,
    run_name: str | None = None,
    progress: Callable[[str], None] | None = None,
    data: StudyData | None = None,
) -> pd.DataFrame:
    """Test scores of scratch and CLIP-initialised classifiers as the labelled share of the train split grows.

    Parameters
    ----------
    release
        ``<survey>/<version>`` with light curves and at least one more modality.
    fractions
        Shares of the labelled train objects used for fine-tuning, each in (0, 1].
    modality_sets
        Classifier inputs: ``"photometry"``, ``"spectra"``, ``"metadata"`` or ``"all"`` (fused);
        default :func:`default_modality_sets` of what the release has.
    inits
        ``"scratch"`` and/or ``"clip"``; CLIP pretraining runs only when ``"clip"`` is asked for.
    pretrain_epochs, finetune_epochs
        Epochs of the one CLIP pretraining (every train object) and of each fine-tuning.
    seeds
        One row per seed: the seed draws the label subsets and initialises the classifier.
        Pretraining runs once, with the first seed.
    min_steps
        Each fine-tuning takes at least this many optimiser steps (its epochs raised accordingly), so
        a small label fraction is not judged after a handful of updates; 0 keeps ``finetune_epochs``.
    val_labels
        Which validation labels pick the best fine-tuning epoch: ``"fraction"`` (default: the
        validation split's labels subsampled at the same fraction, so the whole label budget scales),
        ``"all"``, or ``"none"`` (the last epoch).
    profile, overrides
        Parameters (``data.split`` and the ``features`` period search) and state paths.
    embed_dim, config
        Encoder sizes: :func:`study_config`'s small CPU encoders, ``config`` overriding fields.
    data
        A :func:`load_study_data` result to reuse (tests, repeated studies); loaded when ``None``.

    Returns
    -------
    pandas.DataFrame
        One row per (modality set, init, fraction, seed): :data:`TABLE_COLUMNS` then ``n_test``,
        ``n_val_labelled``, ``epochs`` (of fine-tuning, after ``min_steps``), ``best_val_balanced_accuracy``
        and ``seconds``. ``attrs`` holds ``run_id``, ``experiment``, ``gain`` (:func:`gain_summary`
        records), ``pretrain_history`` and ``timings``.

    Raises
    ------
    InputError
        A fraction outside (0, 1], an unknown init or modality set, or a release with one modality only.
    """
    import mlflow

    fractions, inits, seeds = _checked(fractions, inits, seeds, val_labels, pretrain_epochs, finetune_epochs)
    say = progress or (lambda _msg: None)
    start = time.perf_counter()
    if data is None:
        data = load_study_data(release, profile=profile, overrides=overrides, embed_dim=embed_dim, config=config,
                               feature_jobs=feature_jobs, progress=say)
    timings: dict[str, float] = {f"data_{k}_s": round(v, 2) for k, v in data.seconds.items()}
    sets = _check_sets(modality_sets if modality_sets is not None else default_modality_sets(data.modalities),
                       data.modalities)
    pool, test, val_pool = _pools(release, data)
    experiment = _experiment(release, profile, overrides)
    settings = {"fractions": ",".join(f"{f:g}" for f in fractions), "modality_sets": ",".join(sets),
                "inits": ",".join(inits), "seeds": ",".join(map(str, seeds)), "pretrain_epochs": pretrain_epochs,
                "finetune_epochs": finetune_epochs, "pretrain_lr": pretrain_lr, "finetune_lr": finetune_lr,
                "pretrain_batch_size": pretrain_batch_size, "finetune_batch_size": finetune_batch_size,
                "min_steps": min_steps, "val_labels": val_labels, "fusion": fusion}
    fit = {"lr": finetune_lr, "batch_size": finetune_batch_size, "device": device, "fusion": fusion}
    with mlflow.start_run(run_name=run_name or f"label-fraction-{release.replace('/', '-')}") as parent:
        _log_setup(release, data, settings, pool, test)
        pretrained, history = _pretrain_once(release, data, seeds[0], pretrain_epochs, pretrain_lr, pretrain_batch_size,
                                             device, say, timings) if "clip" in inits else (None, [])
        grid = {"sets": sets, "inits": inits, "fractions": fractions, "seeds": seeds, "val_labels": val_labels,
                "finetune_epochs": finetune_epochs, "min_steps": min_steps}
        t_cells = time.perf_counter()
        table = pd.DataFrame(_cells(release, data, grid, pool, val_pool, test, pretrained, fit, say))
        timings.update(finetune_s=round(time.perf_counter() - t_cells, 2), total_s=round(time.perf_counter() - start, 2))
        gain = _log_results(release, data, table, timings)
    table.attrs.update({"run_id": parent.info.run_id, "experiment": experiment, "gain": gain.to_dict("records"),
                        "pretrain_history": history, "timings": timings, "classes": data.classes,
                        "metadata_columns": data.metadata_columns, "modalities": list(data.modalities)})
    return table


def _cells(release: str, data: StudyData, grid: dict, pool: np.ndarray, val_pool: np.ndarray, test, pretrained,
           fit: dict, say: Callable[[str], None]) -> list[dict[str, Any]]:
    """Every (seed, fraction, modality set, init) cell, in that order: the study's rows."""
    rows = []
    for seed in grid["seeds"]:
        subsets = nested_label_subsets(data.train.labels, grid["fractions"], seed, pool=pool)
        val_subsets = (nested_label_subsets(data.val.labels, grid["fractions"], seed, pool=val_pool)
                       if grid["val_labels"] == "fraction" and val_pool.any() else {})
        for fraction in grid["fractions"]:
            train_part = data.train.subset(subsets[fraction])
            val_part = _val_part(data, grid["val_labels"], val_pool, val_subsets.get(fraction, ()))
            steps_per_epoch = math.ceil(len(train_part) / fit["batch_size"])
            epochs = max(int(grid["finetune_epochs"]), math.ceil(grid["min_steps"] / max(steps_per_epoch, 1)))
            for modality_set in grid["sets"]:
                for init in grid["inits"]:
                    rows.append(_cell(release, data, modality_set, init, fraction, seed, epochs, train_part,
                                      val_part, test, pretrained if init == "clip" else None, fit, say))
    return rows


def _checked(fractions, inits, seeds, val_labels: str, pretrain_epochs: int, finetune_epochs: int) -> tuple:
    """The study's arguments checked: fractions, inits (deduplicated) and seeds as tuples."""
    fractions = check_fractions(fractions)
    inits = tuple(dict.fromkeys((inits,) if isinstance(inits, str) else inits))
    if not inits or any(i not in INITS for i in inits):
        raise InputError(f"inits must be among {', '.join(INITS)}, got {', '.join(map(str, inits)) or 'none'}")
    if val_labels not in VAL_LABELS:
        raise InputError(f"val_labels must be one of {', '.join(VAL_LABELS)}, got {val_labels!r}")
    seeds = tuple(int(s) for s in seeds)
    if not seeds:
        raise InputError("at least one seed is needed")
    for name, value in (("pretrain_epochs", pretrain_epochs), ("finetune_epochs", finetune_epochs)):
        if int(value) < 1:
            raise InputError(f"{name} must be >= 1, got {value}")
    return fractions, inits, seeds


def _pools(release: str, data: StudyData) -> tuple[np.ndarray, Any, np.ndarray]:
    """One labelled train pool and one test set for every modality set: objects with all the release's modalities."""
    pool = _all_present(data.train, data.modalities) & (data.train.labels >= 0)
    test_rows = np.flatnonzero(_all_present(data.test, data.modalities) & (data.test.labels >= 0))
    if not pool.any():
        raise InputError(f"release {release} has no labelled train object with {', '.join(data.modalities)}")
    if len(test_rows) == 0:
        raise InputError(f"release {release} has no labelled test object with {', '.join(data.modalities)}")
    val_pool = _all_present(data.val, data.modalities) & (data.val.labels >= 0)
    return pool, data.test.subset(test_rows), val_pool


def _val_part(data: StudyData, val_labels: str, val_pool: np.ndarray, subset) -> Any:
    """The validation objects whose labels pick the best fine-tuning epoch (``None``: the last epoch)."""
    if val_labels == "fraction" and len(subset):
        return data.val.subset(subset)
    if val_labels == "all" and val_pool.any():
        return data.val.subset(np.flatnonzero(val_pool))
    return None


def _log_setup(release: str, data: StudyData, settings: dict, pool: np.ndarray, test) -> None:
    import mlflow

    mlflow.set_tags({"release": release, "manifest_hash": data.manifest_hash, "family": "astrom3-clip",
                     "study": "label-fraction", "metadata": data.metadata_kind})
    mlflow.log_params({
        **settings, "release_modalities": ",".join(data.modalities),
        "metadata_columns": ",".join(data.metadata_columns),
        "aux_features": ",".join(AUX_NAMES) + " (from the light curves)", "n_classes": len(data.classes),
        "n_train": len(data.train), "n_train_labelled": int(pool.sum()), "n_test": len(test),
        "n_val": len(data.val), "config": json.dumps(data.cfg.as_dict()),
    })


def _experiment(release: str, profile: str | None, overrides: dict | None) -> str:
    """MLflow set to the survey's ``<survey>-label-fraction`` experiment; its name."""
    from lcml.config import context
    from lcml.tracking import setup_mlflow

    _, paths = context(profile, overrides)
    experiment = f"{release.split('/')[0]}-label-fraction"
    setup_mlflow(paths, experiment)
    return experiment


def _pretrain_once(release: str, data: StudyData, seed: int, epochs: int, lr: float, batch_size: int,
                   device: str | None, say: Callable[[str], None], timings: dict) -> tuple[Any, list[dict]]:
    """CLIP pretraining on every train object (labels unused), logged to the active run (its time in ``timings``)."""
    import mlflow
    import torch

    from lcml.models.astrom3 import AstroM3
    from lcml.training.clip import pretrain

    t0 = time.perf_counter()
    say(f"{release}: CLIP pretraining on {len(data.train)} train objects ({', '.join(data.modalities)}), "
        f"{epochs} epochs")
    torch.manual_seed(seed)
    pretrained = AstroM3(data.cfg, modalities=data.modalities)

    def logged(epoch: int, entry: dict) -> None:
        mlflow.log_metrics({f"pretrain_{k}": float(v) for k, v in entry.items()
                            if k != "epoch" and isinstance(v, (int, float)) and math.isfinite(float(v))}, step=epoch)
        say(f"  pretrain epoch {epoch + 1}/{epochs}: loss {entry['train_loss']:.3f}"
            + (f", val {entry['val_loss']:.3f}" if "val_loss" in entry else ""))

    history = pretrain(pretrained, data.train, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed,
                       device=device, val=data.val if len(data.val) >= 2 else None, on_epoch=logged)
    pretrained.cpu()
    mlflow.log_dict({"history": history}, "pretrain_history.json")
    with tempfile.TemporaryDirectory() as tmp:
        if _loss_plot(history, Path(tmp) / "pretrain_loss.png"):
            mlflow.log_artifact(str(Path(tmp) / "pretrain_loss.png"))
    timings["pretrain_s"] = round(time.perf_counter() - t0, 2)
    return pretrained, history


def _cell(release: str, data: StudyData, modality_set: str, init: str, fraction: float, seed: int, epochs: int,
          train_part, val_part, test, pretrained, fit: dict, say: Callable[[str], None]) -> dict[str, Any]:
    """One classifier fine-tuned on one label subset and scored on the test set, as a nested run; its row."""
    import mlflow

    from lcml.training.clip import finetune, predict_proba

    t0 = time.perf_counter()
    classifier = build_classifier(data.cfg, len(data.classes), modality_set, seed=seed, fusion=fit["fusion"],
                                  pretrained=pretrained)
    name = f"{modality_set}-{init}-f{fraction:g}-s{seed}"
    with mlflow.start_run(run_name=name, nested=True):
        mlflow.set_tags({"modalities": modality_set, "init": init, "release": release})
        mlflow.log_params({"label_fraction": fraction, "n_labelled": len(train_part), "seed": seed, "epochs": epochs})
        with warnings.catch_warnings():  # a tiny validation subset lacks a predicted class
            warnings.filterwarnings("ignore", "y_pred contains classes not in y_true")
            ft = finetune(classifier, train_part, epochs=epochs, lr=fit["lr"], batch_size=fit["batch_size"],
                          seed=seed, device=fit["device"], val=val_part, on_epoch=lambda e, m: mlflow.log_metrics(
                              {k: float(v) for k, v in m.items() if k != "epoch" and math.isfinite(float(v))}, step=e))
        pred = predict_proba(classifier, test, device=fit["device"]).argmax(1)
        scores = _scores(test.labels, pred)
        mlflow.log_metrics({f"test_{k}": v for k, v in scores.items() if math.isfinite(v)})
    best_val = max((h.get("val_balanced_accuracy", float("nan")) for h in ft), default=float("nan"))
    row = {"modalities": modality_set, "init": init, "label_fraction": fraction, "n_labelled": len(train_part),
           "seed": seed, **scores, "n_test": len(test), "n_val_labelled": 0 if val_part is None else len(val_part),
           "epochs": epochs, "best_val_balanced_accuracy": best_val, "seconds": round(time.perf_counter() - t0, 2)}
    say(f"  {name}: n={len(train_part)} bal.acc {scores['balanced_accuracy']:.3f} "
        f"macro-F1 {scores['macro_f1']:.3f} ({row['seconds']:.0f} s)")
    return row


def _log_results(release: str, data: StudyData, table: pd.DataFrame, timings: dict) -> pd.DataFrame:
    """CLIP's gains and mean scores as metrics, the table as CSV and JSON, in the active (parent) run; the gains."""
    import mlflow

    gain = gain_summary(table)
    for r in gain.to_dict("records"):
        for m in METRICS:
            if math.isfinite(r[f"{m}_gain"]):
                mlflow.log_metric(f"gain_{m}.{r['modalities']}.f{r['label_fraction']:g}", r[f"{m}_gain"])
    means = table.groupby(["modalities", "init", "label_fraction"])[list(METRICS)].mean().reset_index()
    for r in means.to_dict("records"):
        for m in METRICS:
            if math.isfinite(r[m]):
                mlflow.log_metric(f"{m}.{r['modalities']}.{r['init']}.f{r['label_fraction']:g}", r[m])
    mlflow.log_metrics({f"time_{k}": v for k, v in timings.items()})
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "label_fraction.csv"
        table.to_csv(csv, index=False)
        mlflow.log_artifact(str(csv))
    mlflow.log_dict({"release": release, "classes": data.classes, "modalities": list(data.modalities),
                     "metadata_columns": data.metadata_columns, "aux_features": list(AUX_NAMES),
                     "table": table.to_dict("records"), "gain": gain.to_dict("records"),
                     "timings": timings}, "label_fraction.json")
    return gain

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
    A release with the AstroM3 catalog columns (:data:`~lcml.data.sources.astrom3.ASTROM3_METADATA_COLUMNS`,
    e.g. ``astrom3/sim-*``) uses those 34 columns. A catalog with sky positions only (Catalina SSS:
    ``ra``, ``dec``, ``vmag``) uses the Galactic position and the catalog magnitude
    (:data:`SKY_METADATA_COLUMNS`). Class labels and catalog light-curve features (``type_code``,
    ``period``, ``amplitude``, ``lksl_statistic``, ``rfr_score``) are never model inputs: the catalog
    period and amplitude were measured knowing the class (Catalina doubles binaries' periods), and the
    simulator's are the noise-free truth.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tempfile
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lcml.errors import InputError
from lcml.features.extract import ASTROM3_AUX

INITS: tuple[str, ...] = ("scratch", "clip")
FUSED = "all"
DEFAULT_FRACTIONS: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0)
METRICS: tuple[str, ...] = ("accuracy", "balanced_accuracy", "macro_f1")
VAL_LABELS: tuple[str, ...] = ("fraction", "all", "none")
#: Metadata built from a catalog's sky position and magnitude (:func:`sky_metadata`).
SKY_METADATA_COLUMNS: tuple[str, ...] = ("gal_x", "gal_y", "gal_z", "vmag")
#: Columns that are never model inputs: the label and catalog quantities derived knowing it.
FORBIDDEN_COLUMNS: tuple[str, ...] = ("label", "type_code", "period", "amplitude", "lksl_statistic", "rfr_score")
#: Auxiliary photometry features, both computed from the light curve, in the encoder's input order
#: (:data:`lcml.features.extract.ASTROM3_AUX`, shared with the astrom3 family).
AUX_NAMES: tuple[str, ...] = tuple(name.replace("log10_", "log10_lc_") for name in ASTROM3_AUX)
TABLE_COLUMNS: tuple[str, ...] = ("modalities", "init", "label_fraction", "n_labelled", "seed", *METRICS)


# --------------------------------------------------------------------------------------------------
# inputs
# --------------------------------------------------------------------------------------------------

def galactic_coordinates(ra: Sequence[float] | np.ndarray, dec: Sequence[float] | np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Galactic longitude and latitude (degrees) of ICRS ``ra``, ``dec`` (degrees), via astropy."""
    import astropy.units as u
    from astropy.coordinates import SkyCoord

    ra = np.asarray(ra, np.float64)
    dec = np.asarray(dec, np.float64)
    ok = np.isfinite(ra) & np.isfinite(dec) & (np.abs(dec) <= 90.0)
    l_deg = np.full(ra.shape, np.nan)
    b_deg = np.full(ra.shape, np.nan)
    if ok.any():
        gal = SkyCoord(ra=ra[ok] * u.deg, dec=dec[ok] * u.deg, frame="icrs").galactic
        l_deg[ok], b_deg[ok] = gal.l.deg, gal.b.deg
    return l_deg, b_deg


def sky_metadata(objects: pd.DataFrame) -> pd.DataFrame:
    """Metadata from a catalog's sky position (and magnitude): ``object_id`` + :data:`SKY_METADATA_COLUMNS`.

    The position enters as the Galactic unit vector ``(cos b cos l, cos b sin l, sin b)``, not as
    ``l, b``: longitude wraps at 0/360 deg (the Galactic centre would sit at both ends of a scaled
    ``l``) and is undefined at the poles, where the vector is continuous; its three components carry
    what classes differ in: the height above the plane (``sin b``, thin-disc binaries versus halo RR Lyrae)
    and the direction to the bulge or anticentre (``cos b cos l``). ``vmag`` is the catalog's mean
    magnitude (left out when the frame has none). Nothing else of the frame is read: labels,
    ``type_code`` and the catalog ``period``/``amplitude`` never become inputs.

    Raises
    ------
    InputError
        Without ``object_id``, ``ra`` and ``dec`` columns.
    """
    missing = [c for c in ("object_id", "ra", "dec") if c not in objects.columns]
    if missing:
        raise InputError(f"sky metadata needs object_id, ra and dec; the objects table lacks {', '.join(missing)}")
    l_deg, b_deg = galactic_coordinates(pd.to_numeric(objects["ra"], errors="coerce"),
                                        pd.to_numeric(objects["dec"], errors="coerce"))
    l_rad, b_rad = np.radians(l_deg), np.radians(b_deg)
    out = pd.DataFrame({"object_id": objects["object_id"].astype(str).to_numpy(),
                        "gal_x": np.cos(b_rad) * np.cos(l_rad), "gal_y": np.cos(b_rad) * np.sin(l_rad),
                        "gal_z": np.sin(b_rad)})
    if "vmag" in objects.columns:
        out["vmag"] = pd.to_numeric(objects["vmag"], errors="coerce").to_numpy(np.float64)
    return out


def study_metadata(objects: pd.DataFrame | None) -> tuple[pd.DataFrame | None, str]:
    """The metadata modality of a release's objects table: ``(frame, kind)``.

    ``kind`` is ``"astrom3"`` (the 34 AstroM3 catalog columns), ``"sky"`` (:func:`sky_metadata`, for
    catalogs with ``ra``/``dec``) or ``"none"`` (frame ``None``). The frame holds ``object_id`` and the
    metadata columns only.
    """
    from lcml.data.sources.astrom3 import ASTROM3_METADATA_COLUMNS

    if objects is None or "object_id" not in objects.columns:
        return None, "none"
    if set(ASTROM3_METADATA_COLUMNS) <= set(objects.columns):
        frame = objects[["object_id", *ASTROM3_METADATA_COLUMNS]].copy()
        frame["object_id"] = frame["object_id"].astype(str)
        return frame, "astrom3"
    if {"ra", "dec"} <= set(objects.columns):
        return sky_metadata(objects), "sky"
    return None, "none"


def _aux_chunk(task: tuple[list, Any]) -> np.ndarray:
    from lcml.features.extract import AUX_FEATURES, featurize

    curves, params = task
    out = np.full((len(curves), len(AUX_NAMES)), np.nan)
    for i, (t, f, e) in enumerate(curves):
        try:
            _, aux = featurize(t, f, e, params)
        except ValueError:  # < 3 points, or a corrupt time span: no period; the scaler maps NaN to the mean
            continue
        out[i] = aux[[AUX_FEATURES.index(name) for name in ASTROM3_AUX]]
    return out


def light_curve_aux(lightcurves: pd.DataFrame, features: Any, n_jobs: int = 1) -> np.ndarray:
    """``(N, 2)`` log10 amplitude and log10 period (:data:`AUX_NAMES`) of each light curve, measured on it.

    The Lomb-Scargle period search of ``features`` (:class:`lcml.config.FeatureParams`, the survey's
    settings applied), as the product's feature extraction runs it; NaN where a curve has no period.
    ``n_jobs > 1`` spreads chunks over processes.
    """
    curves = list(zip(lightcurves["time"], lightcurves["flux"], lightcurves["flux_err"]))
    if not curves:
        return np.zeros((0, len(AUX_NAMES)))
    size = max(1, math.ceil(len(curves) / max(1, 4 * n_jobs)))
    tasks = [(curves[i:i + size], features) for i in range(0, len(curves), size)]
    if n_jobs > 1 and len(tasks) > 1:
        from joblib import Parallel, delayed

        parts = Parallel(n_jobs=n_jobs, backend="loky")(delayed(_aux_chunk)(t) for t in tasks)
    else:
        parts = [_aux_chunk(t) for t in tasks]
    return np.concatenate(parts)


def study_config(n_metadata: int, embed_dim: int = 64, **overrides: Any):
    """Small CPU encoders, as :func:`lcml.pretrain.pretrain_release` uses (AstroM3's own sizes are the defaults)."""
    from lcml.models.astrom3 import AstroM3Config

    sizes = dict(embed_dim=embed_dim, phot_dim=64, phot_layers=2, phot_ff=128, spec_bins=640,
                 spec_channels=(16, 16, 16), meta_hidden=128, n_metadata=n_metadata, n_aux=len(AUX_NAMES))
    sizes.update(overrides)
    return AstroM3Config(**sizes)


@dataclass
class StudyData:
    """One release, ready for the study: three splits in memory and what they hold."""

    release: str
    train: Any  # MultimodalData: every train object, unlabelled ones with label -1
    val: Any
    test: Any
    cfg: Any  # AstroM3Config
    classes: list[str]
    modalities: tuple[str, ...]
    metadata_kind: str
    metadata_columns: list[str]
    manifest_hash: str
    seconds: dict[str, float]


def load_study_data(release: str, *, profile: str | None = None, overrides: dict | None = None,
                    embed_dim: int = 64, config: Mapping[str, Any] | None = None, feature_jobs: int = 1,
                    progress: Callable[[str], None] | None = None) -> StudyData:
    """Load ``release`` split by ``data.split``, with light-curve aux features and its metadata modality.

    Raises
    ------
    InputError
        The release does not exist, has no light curves, or has one modality only.
    """
    from lcml.data import release as rel
    from lcml.models.astrom3 import MODALITIES, Standardizer
    from lcml.pipeline import context
    from lcml.training.clip import MultimodalData

    say = progress or (lambda _msg: None)
    params, paths = context(profile, overrides)
    folder = rel.release_dir(paths, release)
    if not (folder / rel.MANIFEST).is_file():
        raise InputError(f"release {release} not found at {folder}")
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    curves = rel.load_release(folder, labelled_only=False)
    if curves.empty:
        raise InputError(f"release {release} has no usable light curves")
    curves["object_id"] = curves["object_id"].astype(str)
    objects = pd.read_parquet(folder / rel.OBJECTS) if (folder / rel.OBJECTS).is_file() else None
    spectra = pd.read_parquet(folder / rel.SPECTRA) if (folder / rel.SPECTRA).is_file() else None
    if spectra is not None and spectra.empty:
        spectra = None
    metadata, kind = study_metadata(objects)
    have = {"photometry": True, "spectra": spectra is not None, "metadata": metadata is not None}
    modalities = tuple(m for m in MODALITIES if have[m])
    if len(modalities) < 2:
        raise InputError(
            f"release {release} has one modality only ({', '.join(modalities)}); the label-fraction study "
            "compares CLIP pretraining across modalities and needs a second one: spectra.parquet, or "
            "objects.parquet with the AstroM3 metadata columns or a sky position (ra, dec)")
    columns = [c for c in metadata.columns if c != "object_id"] if metadata is not None else []
    assert not set(columns) & set(FORBIDDEN_COLUMNS), columns  # never the label or catalog light-curve features
    seconds["load"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    say(f"{release}: measuring period and amplitude of {len(curves)} light curves")
    features = params.features.for_survey(release.split("/")[0])  # e.g. Catalina: periods up to 1500 d (LPVs)
    aux_raw = light_curve_aux(curves, features, n_jobs=feature_jobs)
    seconds["aux_features"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    cfg = study_config(len(columns) or 1, embed_dim, **dict(config or {}))
    build_cfg = dataclasses.replace(cfg, n_aux=0)  # aux comes from the light curves, set below
    split = curves["object_id"].map(lambda oid: rel.split_of(oid, params.data.split)).to_numpy()
    labels = curves["label"]
    classes = sorted({str(v) for v in labels if isinstance(v, str) and v})
    if not classes:
        raise InputError(f"release {release} has no labelled object")
    frames: dict[str, Any] = {}
    meta_scaler = aux_scaler = None
    for name in ("train", "val", "test"):
        rows = split == name
        part = curves.loc[rows].reset_index(drop=True)
        ids = set(part["object_id"])
        spec_part = spectra[spectra["object_id"].astype(str).isin(ids)] if spectra is not None else None
        data = MultimodalData.from_frames(part, metadata, spec_part, cfg=build_cfg, metadata_columns=columns,
                                          aux_columns=(), metadata_scaler=meta_scaler, classes=classes)
        meta_scaler = data.metadata_scaler
        aux_frame = pd.DataFrame(aux_raw[rows], columns=list(AUX_NAMES))
        aux_scaler = aux_scaler or Standardizer.fit(aux_frame, list(AUX_NAMES))
        frames[name] = dataclasses.replace(data, aux=aux_scaler.transform(aux_frame), aux_scaler=aux_scaler)
    seconds["inputs"] = time.perf_counter() - t0
    if len(frames["train"]) == 0:
        raise InputError(f"release {release} has no object in its train split")
    return StudyData(release=release, train=frames["train"], val=frames["val"], test=frames["test"], cfg=cfg,
                     classes=classes, modalities=modalities, metadata_kind=kind, metadata_columns=columns,
                     manifest_hash=rel.manifest_hash(folder), seconds=seconds)


# --------------------------------------------------------------------------------------------------
# label subsets and classifiers
# --------------------------------------------------------------------------------------------------

def check_fractions(fractions: Sequence[float]) -> tuple[float, ...]:
    """Sorted distinct fractions, each in (0, 1]; :class:`InputError` otherwise."""
    try:
        values = [float(f) for f in fractions]
    except (TypeError, ValueError):
        raise InputError(f"label fractions must be numbers in (0, 1], got {fractions!r}") from None
    bad = [f for f in values if not (0.0 < f <= 1.0)]
    if bad or not values:
        raise InputError(f"label fractions must be in (0, 1] (a share of the labelled train objects), got {bad or values}")
    return tuple(sorted(set(values)))


def fraction_count(n: int, fraction: float) -> int:
    """Objects of a class of ``n`` kept at ``fraction``: ``round(fraction * n)``, at least 1 (when ``n > 0``).

    Never fewer than one, so every class is seen at every fraction; monotone in ``fraction``, so
    subsets nest.
    """
    if n <= 0:
        return 0
    return int(min(n, max(1, math.floor(fraction * n + 0.5))))


def nested_label_subsets(labels: np.ndarray, fractions: Sequence[float], seed: int = 0,
                         pool: np.ndarray | None = None) -> dict[float, np.ndarray]:
    """Stratified, nested subsets of the labelled objects: ``{fraction: sorted positions}``.

    Each class's objects (``labels >= 0``, within ``pool`` when given: a boolean mask) are shuffled
    once with ``seed``; a fraction keeps the first :func:`fraction_count` of them. A larger fraction
    therefore contains every smaller one's objects, and fraction 1 is the whole pool.
    """
    fractions = check_fractions(fractions)
    labels = np.asarray(labels)
    usable = labels >= 0 if pool is None else (labels >= 0) & np.asarray(pool, bool)
    rng = np.random.default_rng(seed)
    orders = {c: rng.permutation(np.flatnonzero(usable & (labels == c))) for c in np.unique(labels[usable])}
    return {f: np.sort(np.concatenate([order[:fraction_count(len(order), f)] for order in orders.values()]
                                      or [np.zeros(0, np.int64)]).astype(np.int64))
            for f in fractions}


def build_classifier(cfg: Any, n_classes: int, modality_set: str, *, pretrained: Any = None, seed: int = 0,
                     fusion: str = "average"):
    """The classifier of one cell, before fine-tuning.

    ``pretrained`` ``None`` gives random encoders (``scratch``); an :class:`~lcml.models.astrom3.AstroM3`
    gives :meth:`Classifier.from_pretrained <lcml.models.astrom3.Classifier.from_pretrained>` (``clip``).
    The same ``seed`` gives both the same head, so a cell pair differs in the encoders only. A fused
    classifier always holds all three encoders; one the pretrained model lacks (a modality the
    release has not, never fed) keeps its random weights.
    """
    import torch

    from lcml.models.astrom3 import Classifier

    inputs = modality_set  # Classifier's inputs: "photometry", "spectra", "metadata", or "all" (fused)
    torch.manual_seed(seed)
    fresh = Classifier(cfg, n_classes, inputs=inputs, fusion=fusion)
    if pretrained is None:
        return fresh
    state = {**fresh.backbone.state_dict(), **pretrained.state_dict()}
    torch.manual_seed(seed)
    return Classifier.from_pretrained(state, n_classes, cfg=cfg, inputs=inputs, fusion=fusion)


def _scores(truth: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

    if len(truth) == 0:
        return {m: float("nan") for m in METRICS}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a class predicted but absent from the test set
        return {"accuracy": float(accuracy_score(truth, pred)),
                "balanced_accuracy": float(balanced_accuracy_score(truth, pred)),
                "macro_f1": float(f1_score(truth, pred, average="macro", zero_division=0))}


def _all_present(data: Any, modalities: Sequence[str]) -> np.ndarray:
    rows = np.ones(len(data), bool)
    for m in modalities:
        rows &= data.present[m]
    return rows


# --------------------------------------------------------------------------------------------------
# the study
# --------------------------------------------------------------------------------------------------

def default_modality_sets(modalities: Sequence[str]) -> tuple[str, ...]:
    """Each modality the release has, then ``"all"`` (their fusion) when there are two or more."""
    return tuple(modalities) + ((FUSED,) if len(modalities) >= 2 else ())


def _check_sets(sets: Sequence[str], available: Sequence[str]) -> tuple[str, ...]:
    if isinstance(sets, str):
        sets = (sets,)
    sets = tuple(dict.fromkeys(sets))
    bad = [s for s in sets if s != FUSED and s not in available]
    if bad or not sets:
        raise InputError(f"modality sets must be among {', '.join([*available, FUSED])} (what the release has), "
                         f"got {', '.join(bad) if bad else 'none'}")
    return sets


def gain_summary(table: pd.DataFrame, fraction: float | None = None) -> pd.DataFrame:
    """CLIP minus scratch per modality set and label fraction, metrics averaged over seeds.

    Columns: ``modalities``, ``label_fraction``, ``n_labelled``, then ``<metric>_scratch``,
    ``<metric>_clip`` and ``<metric>_gain`` for each of :data:`METRICS`. ``fraction`` keeps one
    fraction (the closest present).
    """
    if table.empty or not {"scratch", "clip"} <= set(table["init"]):
        return pd.DataFrame()
    if fraction is not None:
        present = np.array(sorted(table["label_fraction"].unique()))
        table = table[table["label_fraction"] == present[np.argmin(np.abs(present - fraction))]]
    mean = table.groupby(["modalities", "label_fraction", "init"], sort=False)[[*METRICS, "n_labelled"]].mean()
    wide = mean[list(METRICS)].unstack("init")
    out = pd.DataFrame(index=wide.index)
    out["n_labelled"] = mean["n_labelled"].groupby(level=[0, 1], sort=False).mean()
    for m in METRICS:
        out[f"{m}_scratch"] = wide[(m, "scratch")]
        out[f"{m}_clip"] = wide[(m, "clip")]
        out[f"{m}_gain"] = wide[(m, "clip")] - wide[(m, "scratch")]
    return out.reset_index()


def _loss_plot(history: list[dict], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception:  # plotting is a nicety; the curve is in the metrics and the JSON
        return False
    fig, ax = plt.subplots(figsize=(5, 3.2))
    epochs = [h["epoch"] + 1 for h in history]
    ax.plot(epochs, [h["train_loss"] for h in history], marker="o", label="train")
    if history and "val_loss" in history[0]:
        ax.plot(epochs, [h["val_loss"] for h in history], marker="o", label="val")
    ax.set_xlabel("epoch")
    ax.set_ylabel("CLIP loss (sum over modality pairs)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


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
    import torch

    from lcml.models.astrom3 import AstroM3
    from lcml.pipeline import context, setup_mlflow
    from lcml.training.clip import finetune, predict_proba, pretrain

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
    say = progress or (lambda _msg: None)
    timings: dict[str, float] = {}
    start = time.perf_counter()

    if data is None:
        data = load_study_data(release, profile=profile, overrides=overrides, embed_dim=embed_dim, config=config,
                               feature_jobs=feature_jobs, progress=say)
    timings.update({f"data_{k}_s": round(v, 2) for k, v in data.seconds.items()})
    sets = _check_sets(modality_sets if modality_sets is not None else default_modality_sets(data.modalities),
                       data.modalities)
    cfg, n_classes = data.cfg, len(data.classes)
    # one labelled pool and one test set for every modality set: objects that have all the release's modalities
    pool = _all_present(data.train, data.modalities) & (data.train.labels >= 0)
    test_rows = np.flatnonzero(_all_present(data.test, data.modalities) & (data.test.labels >= 0))
    if not pool.any():
        raise InputError(f"release {release} has no labelled train object with {', '.join(data.modalities)}")
    if len(test_rows) == 0:
        raise InputError(f"release {release} has no labelled test object with {', '.join(data.modalities)}")
    test = data.test.subset(test_rows)
    val_pool = _all_present(data.val, data.modalities) & (data.val.labels >= 0)

    _, paths = context(profile, overrides)
    survey = release.split("/")[0]
    experiment = f"{survey}-label-fraction"
    setup_mlflow(paths, experiment)
    rows: list[dict] = []
    history: list[dict] = []
    with mlflow.start_run(run_name=run_name or f"label-fraction-{release.replace('/', '-')}") as parent:
        mlflow.set_tags({"release": release, "manifest_hash": data.manifest_hash, "family": "astrom3-clip",
                         "study": "label-fraction", "metadata": data.metadata_kind})
        mlflow.log_params({
            "fractions": ",".join(f"{f:g}" for f in fractions), "modality_sets": ",".join(sets),
            "inits": ",".join(inits), "seeds": ",".join(map(str, seeds)), "pretrain_epochs": pretrain_epochs,
            "finetune_epochs": finetune_epochs, "pretrain_lr": pretrain_lr, "finetune_lr": finetune_lr,
            "pretrain_batch_size": pretrain_batch_size, "finetune_batch_size": finetune_batch_size,
            "min_steps": min_steps, "val_labels": val_labels, "fusion": fusion,
            "release_modalities": ",".join(data.modalities), "metadata_columns": ",".join(data.metadata_columns),
            "aux_features": ",".join(AUX_NAMES) + " (from the light curves)", "n_classes": n_classes,
            "n_train": len(data.train), "n_train_labelled": int(pool.sum()), "n_test": len(test_rows),
            "n_val": len(data.val), "config": json.dumps(cfg.as_dict()),
        })

        pretrained = None
        if "clip" in inits:
            t0 = time.perf_counter()
            say(f"{release}: CLIP pretraining on {len(data.train)} train objects "
                f"({', '.join(data.modalities)}), {pretrain_epochs} epochs")
            torch.manual_seed(seeds[0])
            pretrained = AstroM3(cfg, modalities=data.modalities)

            def logged(epoch: int, entry: dict) -> None:
                mlflow.log_metrics({f"pretrain_{k}": float(v) for k, v in entry.items()
                                    if k != "epoch" and isinstance(v, (int, float)) and math.isfinite(float(v))},
                                   step=epoch)
                say(f"  pretrain epoch {epoch + 1}/{pretrain_epochs}: loss {entry['train_loss']:.3f}"
                    + (f", val {entry['val_loss']:.3f}" if "val_loss" in entry else ""))

            history = pretrain(pretrained, data.train, epochs=pretrain_epochs, lr=pretrain_lr,
                               batch_size=pretrain_batch_size, seed=seeds[0], device=device,
                               val=data.val if len(data.val) >= 2 else None, on_epoch=logged)
            pretrained.cpu()
            timings["pretrain_s"] = round(time.perf_counter() - t0, 2)
            mlflow.log_dict({"history": history}, "pretrain_history.json")
            with tempfile.TemporaryDirectory() as tmp:
                if _loss_plot(history, Path(tmp) / "pretrain_loss.png"):
                    mlflow.log_artifact(str(Path(tmp) / "pretrain_loss.png"))

        t_cells = time.perf_counter()
        for seed in seeds:
            subsets = nested_label_subsets(data.train.labels, fractions, seed, pool=pool)
            val_subsets = (nested_label_subsets(data.val.labels, fractions, seed, pool=val_pool)
                           if val_labels == "fraction" and val_pool.any() else {})
            for fraction in fractions:
                train_part = data.train.subset(subsets[fraction])
                if val_labels == "fraction" and len(val_subsets.get(fraction, ())):
                    val_part = data.val.subset(val_subsets[fraction])
                elif val_labels == "all" and val_pool.any():
                    val_part = data.val.subset(np.flatnonzero(val_pool))
                else:
                    val_part = None
                steps_per_epoch = math.ceil(len(train_part) / finetune_batch_size)
                epochs = max(int(finetune_epochs), math.ceil(min_steps / max(steps_per_epoch, 1)))
                for modality_set in sets:
                    for init in inits:
                        t0 = time.perf_counter()
                        classifier = build_classifier(cfg, n_classes, modality_set, seed=seed, fusion=fusion,
                                                      pretrained=pretrained if init == "clip" else None)
                        name = f"{modality_set}-{init}-f{fraction:g}-s{seed}"
                        with mlflow.start_run(run_name=name, nested=True):
                            mlflow.set_tags({"modalities": modality_set, "init": init, "release": release})
                            mlflow.log_params({"label_fraction": fraction, "n_labelled": len(train_part),
                                               "seed": seed, "epochs": epochs})
                            with warnings.catch_warnings():  # a tiny validation subset lacks a predicted class
                                warnings.filterwarnings("ignore", "y_pred contains classes not in y_true")
                                ft = finetune(classifier, train_part, epochs=epochs, lr=finetune_lr,
                                              batch_size=finetune_batch_size, seed=seed, device=device,
                                              val=val_part, on_epoch=lambda e, m: mlflow.log_metrics(
                                                  {k: float(v) for k, v in m.items()
                                                   if k != "epoch" and math.isfinite(float(v))}, step=e))
                            pred = predict_proba(classifier, test, device=device).argmax(1)
                            scores = _scores(test.labels, pred)
                            mlflow.log_metrics({f"test_{k}": v for k, v in scores.items() if math.isfinite(v)})
                        best_val = max((h.get("val_balanced_accuracy", float("nan")) for h in ft),
                                       default=float("nan"))
                        rows.append({"modalities": modality_set, "init": init, "label_fraction": fraction,
                                     "n_labelled": len(train_part), "seed": seed, **scores, "n_test": len(test),
                                     "n_val_labelled": 0 if val_part is None else len(val_part), "epochs": epochs,
                                     "best_val_balanced_accuracy": best_val,
                                     "seconds": round(time.perf_counter() - t0, 2)})
                        say(f"  {name}: n={len(train_part)} bal.acc {scores['balanced_accuracy']:.3f} "
                            f"macro-F1 {scores['macro_f1']:.3f} ({rows[-1]['seconds']:.0f} s)")
        timings["finetune_s"] = round(time.perf_counter() - t_cells, 2)

        table = pd.DataFrame(rows)
        gain = gain_summary(table)
        for r in gain.to_dict("records"):
            for m in METRICS:
                if math.isfinite(r[f"{m}_gain"]):
                    mlflow.log_metric(f"gain_{m}.{r['modalities']}.f{r['label_fraction']:g}", r[f"{m}_gain"])
        for r in table.groupby(["modalities", "init", "label_fraction"])[list(METRICS)].mean().reset_index().to_dict(
                "records"):
            for m in METRICS:
                if math.isfinite(r[m]):
                    mlflow.log_metric(f"{m}.{r['modalities']}.{r['init']}.f{r['label_fraction']:g}", r[m])
        timings["total_s"] = round(time.perf_counter() - start, 2)
        mlflow.log_metrics({f"time_{k}": v for k, v in timings.items()})
        with tempfile.TemporaryDirectory() as tmp:
            csv = Path(tmp) / "label_fraction.csv"
            table.to_csv(csv, index=False)
            mlflow.log_artifact(str(csv))
        mlflow.log_dict({"release": release, "classes": data.classes, "modalities": list(data.modalities),
                         "metadata_columns": data.metadata_columns, "aux_features": list(AUX_NAMES),
                         "table": table.to_dict("records"), "gain": gain.to_dict("records"),
                         "timings": timings}, "label_fraction.json")
    table.attrs.update({"run_id": parent.info.run_id, "experiment": experiment, "gain": gain.to_dict("records"),
                        "pretrain_history": history, "timings": timings, "classes": data.classes,
                        "metadata_columns": data.metadata_columns, "modalities": list(data.modalities)})
    return table

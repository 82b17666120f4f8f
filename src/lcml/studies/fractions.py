"""The label-fraction study's parts: nested labelled subsets, the classifiers, scores and CLIP's gain
(see :mod:`lcml.studies.label_fraction`)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lcml.errors import InputError

FUSED = "all"
METRICS: tuple[str, ...] = ("accuracy", "balanced_accuracy", "macro_f1")


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

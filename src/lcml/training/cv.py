"""Stratified k-fold cross-validation of one candidate: the figure a model card sets beside its test split.

The test split of a release has ~15 objects of a rare class, so one test recall moves by 0.07 with one
answer. Cross-validation over train + validation scores every object once, and its spread over folds
says how much of a difference between two models is noise. The same function is the yardstick of
``bench/bench_cv.py``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from lcml.training.loop import Dataset

#: share of a fold's training objects held out for early stopping (families that need a validation split)
INNER_VALIDATION = 0.15


def _subset(ds: Dataset, idx: np.ndarray) -> Dataset:
    return Dataset(folded=ds.folded[idx], aux=ds.aux[idx], y=ds.y[idx])


def inner_split(y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions of a stratified ``1 - INNER_VALIDATION`` / ``INNER_VALIDATION`` split of ``y``."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    counts = np.bincount(y)
    stratify = y if counts[counts > 0].min() >= 2 else None
    fit, val = train_test_split(idx, test_size=INNER_VALIDATION, random_state=seed, stratify=stratify)
    return np.sort(fit), np.sort(val)


def fit_split(family: Any, train: Dataset, seed: int) -> tuple[Dataset, Dataset]:
    """What ``family`` trains on and stops early on: all of ``train`` and nothing for a family that
    refits, a stratified ``1 - INNER_VALIDATION`` / ``INNER_VALIDATION`` split of it otherwise."""
    if family.refits:
        return train, _subset(train, np.arange(0))
    a, b = inner_split(train.y, seed)
    return _subset(train, a), _subset(train, b)


def fit_and_predict(family: Any, hp: dict[str, Any], train: Dataset, test: Dataset, *, search: Any,
                    n_classes: int, seed: int) -> np.ndarray:
    """Class probabilities for ``test`` of one candidate fitted on ``train``.

    ``family`` is a :class:`lcml.families.fitting.Fitter`. A family that refits (no early stopping on a
    validation split) trains on all of ``train``; the others hold out a stratified share of it.
    """
    fit, val = fit_split(family, train, seed)
    fitted = family.fit(hp, fit, val, search=search, n_classes=n_classes, seed=seed, options=search.options)
    return family.predict_proba(fitted.model, test.folded, test.aux)


def scores(y: np.ndarray, pred: np.ndarray) -> dict[str, Any]:
    """Balanced accuracy, macro-F1 and per-class recall and precision (keyed by label index) of ``pred``."""
    from sklearn.metrics import balanced_accuracy_score, f1_score, precision_recall_fscore_support

    import warnings

    present = np.unique(y)
    p, r, _, _ = precision_recall_fscore_support(y, pred, labels=present, zero_division=0)
    with warnings.catch_warnings():  # a fold without a tiny class may still predict it: expected
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
        balanced = float(balanced_accuracy_score(y, pred))
    return {"balanced_accuracy": balanced,
            "macro_f1": float(f1_score(y, pred, labels=present, average="macro", zero_division=0)),
            "recall": dict(zip(present.tolist(), r.tolist())), "precision": dict(zip(present.tolist(), p.tolist()))}


def _stats(values: list[float]) -> dict[str, Any]:
    return {"mean": round(float(np.mean(values)), 4), "std": round(float(np.std(values)), 4),
            "folds": [round(float(v), 4) for v in values]}


def cross_validate(family: Any, hp: dict[str, Any], data: Dataset, *, search: Any, classes: list[str],
                   folds: int = 5, seed: int = 0, max_folds: int | None = None,
                   progress: Callable[[int, float], None] | None = None,
                   proba_out: np.ndarray | None = None) -> dict[str, Any]:
    """``folds``-fold stratified cross-validation of one candidate (hyperparameters ``hp``) on ``data``.

    Parameters
    ----------
    family
        A :class:`lcml.families.fitting.Fitter`.
    hp, search
        The candidate's hyperparameters and its family's search settings (epochs, patience, options).
    data, classes
        Inputs made by the family from the objects to cross-validate, and the taxonomy (label order).
    folds, seed
        ``StratifiedKFold(folds, shuffle=True, random_state=seed)``; fold ``k`` trains with seed ``seed + k``.
    max_folds
        Stop after this many folds (a quick look); the figures then cover those folds only.
    progress
        Called as ``progress(fold, balanced_accuracy)`` after each fold.
    proba_out
        An ``(N, n_classes)`` array to receive each object's out-of-fold class probabilities (bench/
        blends two candidates' with it).

    Returns
    -------
    dict
        ``balanced_accuracy`` and ``macro_f1`` (``mean``, ``std``, ``folds``), per-class ``recall`` and
        ``precision`` (mean over the folds that test the class) with their ``*_std``, the pooled
        out-of-fold ``confusion_matrix``, ``n_folds_run``, ``fit_seconds_per_fold``, and
        ``classes_in_fewer_folds`` (classes with fewer objects than folds, so absent from some folds).
    """
    from sklearn.metrics import confusion_matrix
    from sklearn.model_selection import StratifiedKFold

    import warnings

    counts = np.bincount(data.y)
    if len(data.y) < 2 * folds:
        raise ValueError(f"{folds}-fold cross-validation needs at least {2 * folds} objects, got {len(data.y)}")
    # a class with fewer objects than folds is tested in only some folds (CRTS has 3 LADS): named in the result
    rare = [classes[c] for c in np.flatnonzero((counts > 0) & (counts < folds))]
    pred = np.full(len(data.y), -1)
    per_fold, seconds = [], []
    splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        splits = list(splitter.split(data.folded, data.y))
    for k, (train_idx, test_idx) in enumerate(splits):
        if max_folds is not None and k >= max_folds:
            break
        started = time.perf_counter()
        proba = fit_and_predict(family, hp, _subset(data, train_idx), _subset(data, test_idx), search=search,
                                n_classes=len(classes), seed=seed + k)
        seconds.append(time.perf_counter() - started)
        pred[test_idx] = proba.argmax(1)
        if proba_out is not None:
            proba_out[test_idx] = proba
        per_fold.append(scores(data.y[test_idx], pred[test_idx]))
        if progress is not None:
            progress(k, per_fold[-1]["balanced_accuracy"])
    done = pred >= 0
    present = [int(c) for c in np.unique(data.y)]
    out: dict[str, Any] = {
        "folds": folds, "n_folds_run": len(per_fold), "fit_seconds_per_fold": round(float(np.mean(seconds)), 1),
        "classes_in_fewer_folds": rare,
        "balanced_accuracy": _stats([f["balanced_accuracy"] for f in per_fold]),
        "macro_f1": _stats([f["macro_f1"] for f in per_fold]),
    }
    for kind in ("recall", "precision"):
        values = {classes[c]: [f[kind][c] for f in per_fold if c in f[kind]] or [0.0] for c in present}
        out[kind] = {c: round(float(np.mean(v)), 4) for c, v in values.items()}
        out[f"{kind}_std"] = {c: round(float(np.std(v)), 4) for c, v in values.items()}
    out["confusion_matrix"] = {"labels": [classes[c] for c in present],
                               "rows_true_cols_pred": confusion_matrix(data.y[done], pred[done], labels=present).tolist()}
    return out

"""The feature baseline every astronomer asks about: HistGradientBoosting on classical features.

Features (:mod:`lcml.features.baseline`) are computed from the light curve only — period from lcml's
own search, amplitude, percentiles, skew, kurtosis, Fourier R21/R31/phi21/phi31, ... — never from a
catalog. The model is saved with skops, and loading trusts only scikit-learn's tree predictor type.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from lcml.families.base import Family, Fitted

#: share of the training data held out inside a fit for early stopping
VALIDATION_FRACTION = 0.1
#: the only non-default type a saved HistGradientBoostingClassifier holds
TRUSTED_TYPES = ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]


class BaselineFamily(Family):
    name = "baseline"
    weights_file = "model.skops"
    refits = True

    def inputs(self, curves, features, options: dict[str, Any] | None = None) -> tuple[np.ndarray, np.ndarray]:
        import json

        from lcml.features.baseline import FEATURE_NAMES, baseline_matrix
        from lcml.features.extract import cached

        p = features.period
        curves = list(curves)
        if not curves:
            return np.zeros((0, len(FEATURE_NAMES)), np.float32), np.zeros((0, 0), np.float32)
        # pre-folded curves: time is phase, so the "period" is one unit and nothing is searched
        folded = bool(getattr(features, "folded", False))
        # A folded curve costs ~1 ms (no period search): starting worker processes would cost more.
        n_jobs = 1 if folded else int((options or {}).get("n_jobs", 1))
        settings = dict(min_period=p.min_period_days, max_period=p.max_period_days, oversample=p.oversample,
                        prewhiten=not folded)
        periods = [1.0] * len(curves) if folded else None

        def compute() -> dict[str, np.ndarray]:
            return {"x": baseline_matrix(curves, **settings, periods=periods, n_jobs=n_jobs)}

        # inside feature_cache (a training): the search workers' matrices serve the refit
        x = cached(curves, json.dumps({"baseline": FEATURE_NAMES, "folded": folded, **settings}), compute)["x"]
        return x.astype(np.float32), np.zeros((len(x), 0), np.float32)

    def fit(self, hp, train, val, *, search, n_classes, seed, options, report=None) -> Fitted:
        from sklearn.ensemble import HistGradientBoostingClassifier
        from sklearn.metrics import balanced_accuracy_score

        early = _early_stopping(train.y, bool((options or {}).get("early_stopping", True)))
        model = HistGradientBoostingClassifier(
            learning_rate=float(hp.get("learning_rate", 0.1)), max_leaf_nodes=int(hp.get("max_leaf_nodes", 31)),
            l2_regularization=float(hp.get("l2_regularization", 0.0)), max_iter=int(hp.get("max_iter", 200)),
            class_weight="balanced" if search.class_weighted else None, random_state=seed,
            early_stopping=early, validation_fraction=VALIDATION_FRACTION,
        )
        model.fit(train.folded, train.y)
        proba = self.predict_proba(_WithClasses(model, n_classes), val.folded, val.aux)
        score = float(balanced_accuracy_score(val.y, proba.argmax(1))) if len(val) else 0.0
        if report is not None:
            report(0, {"train_loss": float("nan"), "val_balanced_accuracy": score})
        return Fitted(_WithClasses(model, n_classes), score, 0, {"n_classes": n_classes, "early_stopping": early})

    def save(self, model, path: Path) -> None:
        import warnings

        import skops.io as sio

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sio.dump(model.model, path)

    def load(self, path: Path, architecture: dict[str, Any]):
        import warnings

        import skops.io as sio

        with warnings.catch_warnings():
            # skops looks types up with getattr over loaded modules, which wakes Airflow's deprecation shims
            warnings.simplefilter("ignore")
            untrusted = [t for t in sio.get_untrusted_types(file=path) if t not in TRUSTED_TYPES]
            if untrusted:
                raise ValueError(f"{path}: refusing to load unexpected types {untrusted}")
            return _WithClasses(sio.load(path, trusted=TRUSTED_TYPES), int(architecture["n_classes"]))

    def predict_proba(self, model, x, aux) -> np.ndarray:
        out = np.zeros((len(x), model.n_classes))
        if len(x):
            # a class absent from the training split has no column in scikit-learn's output
            out[:, model.model.classes_] = model.model.predict_proba(_columns_for(model.model, x))
        return out


def _early_stopping(y: np.ndarray, wanted: bool) -> bool:
    """Stop boosting on a held-out slice of the training data, whenever that slice can hold every class.

    scikit-learn's default ('auto') switches early stopping on only above 10,000 samples, so the same
    search overfitted CRTS (4,900 stars in train + validation, up to 400 iterations) but not Catalina
    SSS (13,700). With one fixed set of hyperparameters, 5-fold CV balanced accuracy on CRTS's train +
    validation stars rose from 0.651 to 0.672 with it, and on Catalina SSS's it is 0.766 against 0.719
    without; on the simulated demo release it changes nothing (0.914-0.924 either way). The slice is
    stratified, so it needs two objects of every class and one slot per class; tiny training sets
    (tests, CI) train without it.
    """
    counts = np.bincount(y)
    present = counts[counts > 0]
    return wanted and present.size > 0 and int(present.min()) >= 2 and (
        math.ceil(VALIDATION_FRACTION * len(y)) >= present.size)


def _columns_for(model, x: np.ndarray) -> np.ndarray:
    """The feature columns ``model`` was trained on.

    New features are only ever appended to :data:`lcml.features.baseline.FEATURE_NAMES`, so a model
    registered by an older lcml reads the leading columns it knows and keeps scoring.
    """
    from lcml.features.baseline import FEATURE_NAMES

    expected = int(model.n_features_in_)
    if x.shape[1] == expected:
        return x
    if x.shape[1] > expected:
        return x[:, :expected]
    raise ValueError(
        f"this baseline model expects {expected} features but lcml computes {x.shape[1]} "
        f"({', '.join(FEATURE_NAMES[:3])}, ...): it was saved by a newer lcml; upgrade lcml to score with it"
    )


class _WithClasses:
    """A fitted classifier and the number of classes of the taxonomy it predicts."""

    def __init__(self, model, n_classes: int) -> None:
        self.model, self.n_classes = model, n_classes

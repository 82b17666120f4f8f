"""The feature baseline every astronomer asks about: HistGradientBoosting on classical features.

Features (:mod:`lcml.features.baseline`) are computed from the light curve only — period from lcml's
own search, amplitude, percentiles, skew, kurtosis, Fourier R21/R31/phi21/phi31, ... — never from a
catalog. The model is saved as plain arrays of its trees (:mod:`lcml.models.trees`, no pickle); models
saved before that, with skops, still load, trusting only scikit-learn's tree predictor type.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lcml.families.base import Family, feature_jobs

#: the weights file of models saved before :mod:`lcml.models.trees` (skops)
LEGACY_WEIGHTS_FILE = "model.skops"
#: the only non-default types such a file holds: scikit-learn's tree predictor, and lcml's balanced
#: bagging of HistGradientBoosting members (``options.bags``)
TRUSTED_TYPES = ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
                 "lcml.models.balanced.BalancedBagging"]


class BaselineFamily(Family):
    name = "baseline"
    weights_file = "model-trees.npz"
    refits = True

    def inputs(self, curves, features, options: dict[str, Any] | None = None) -> tuple[np.ndarray, np.ndarray]:
        from lcml.features.baseline import FEATURE_NAMES, baseline_matrix
        from lcml.features.extract import cached

        curves = list(curves)
        if not curves:
            return np.zeros((0, len(FEATURE_NAMES)), np.float32), np.zeros((0, 0), np.float32)
        settings = feature_settings(features, options)

        def compute() -> dict[str, np.ndarray]:
            return {"x": baseline_matrix(curves, **settings.kwargs, periods=settings.periods(len(curves)),
                                         n_jobs=settings.n_jobs)}

        # inside feature_cache (a training): the search workers' matrices serve the refit
        x = cached(curves, settings.key, compute)["x"]
        return x.astype(np.float32), np.zeros((len(x), 0), np.float32)

    def save(self, model, path: Path) -> None:
        from lcml.models import trees

        trees.save(model.model, path)

    def load(self, path: Path, architecture: dict[str, Any]):
        from lcml.models import trees

        path = Path(path)
        legacy = path.with_name(path.name.replace(self.weights_file, LEGACY_WEIGHTS_FILE))
        if path.suffix == ".skops" or (not path.exists() and legacy.exists()):
            return WithClasses(_load_skops(path if path.suffix == ".skops" else legacy), int(architecture["n_classes"]))
        return WithClasses(trees.load(path), int(architecture["n_classes"]))

    def predict_proba(self, model, x, aux) -> np.ndarray:
        out = np.zeros((len(x), model.n_classes))
        if len(x):
            # a class absent from the training split has no column in scikit-learn's output
            out[:, model.model.classes_] = model.model.predict_proba(_columns_for(model.model, x))
        return out


@dataclass(frozen=True)
class FeatureSettings:
    """How the baseline computes a release's features (:func:`feature_settings`)."""

    kwargs: dict[str, Any]   #: :func:`lcml.features.baseline.baseline_matrix`'s settings
    folded: bool             #: pre-folded curves: time is phase, nothing is searched
    n_jobs: int              #: feature processes
    key: str                 #: what the feature cache's key names besides the curves

    def periods(self, n: int) -> list[float] | None:
        return [1.0] * n if self.folded else None


def feature_settings(features, options: dict[str, Any] | None) -> FeatureSettings:
    """The baseline's feature settings for ``features`` (a survey's :class:`lcml.config.FeatureParams`) and
    ``options``: one place for :meth:`BaselineFamily.inputs` and the streamed features of a release."""
    import json

    from lcml.features.baseline import FEATURE_NAMES

    p = features.period
    folded = bool(getattr(features, "folded", False))
    kwargs = dict(min_period=p.min_period_days, max_period=p.max_period_days, oversample=p.oversample,
                  prewhiten=not folded)
    if p.coarse is not None:  # absent from the cache key otherwise: caches made before it still serve
        kwargs["coarse"] = p.coarse
    # A folded curve costs ~1 ms (no period search): starting worker processes would cost more.
    n_jobs = 1 if folded else feature_jobs(options)
    return FeatureSettings(kwargs, folded, n_jobs, json.dumps({"baseline": FEATURE_NAMES, "folded": folded, **kwargs}))


def _load_skops(path: Path):
    """A model saved by lcml before its own tree format, trusting only :data:`TRUSTED_TYPES`."""
    import warnings

    import skops.io as sio

    with warnings.catch_warnings():
        # skops looks types up with getattr over loaded modules, which wakes Airflow's deprecation shims
        warnings.simplefilter("ignore")
        untrusted = [t for t in sio.get_untrusted_types(file=path) if t not in TRUSTED_TYPES]
        if untrusted:
            raise ValueError(f"{path}: refusing to load unexpected types {untrusted}")
        return sio.load(path, trusted=TRUSTED_TYPES)


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


class WithClasses:
    """A fitted classifier and the number of classes of the taxonomy it predicts."""

    def __init__(self, model, n_classes: int) -> None:
        self.model, self.n_classes = model, n_classes

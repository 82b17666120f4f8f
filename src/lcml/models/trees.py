"""Boosted trees saved as plain arrays: the baseline's weights without pickle and without skops.

A fitted ``HistGradientBoostingClassifier`` (or :class:`~lcml.models.balanced.BalancedBagging` of them)
predicts from its trees alone: per boosting iteration one tree per class, each a flat array of nodes
(scikit-learn's ``TreePredictor``), added to a baseline score and passed through a softmax (a sigmoid
for two classes). :func:`save` writes exactly that into one ``.npz`` (structured arrays, no objects,
read back with ``allow_pickle=False``) and :func:`load` returns a :class:`TreeEnsemble` that predicts
the same probabilities with scikit-learn's own tree code.

Why not skops, the format before this one: it stores every object of the model separately and audits
each on load; a bagged baseline (10 members x 11 classes x 100 iterations: 11,000 trees) took ~10 s to
load, and skops's save checks each array's name against the whole archive, so it grows with the square
of the trees (16 s for 3 members on a K2 release). Models saved in skops still load
(:mod:`lcml.families.baseline`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

#: version of the layout below; a file of another version is refused with a clear message
FORMAT = 1


class TreeEnsemble:
    """What a fitted tree classifier predicts with: ``classes_``, ``n_features_in_``, ``predict_proba``.

    ``members``: one dict per boosted model (``classes``, ``baseline`` (1, K), ``iterations``: a list
    of K ``TreePredictor`` per iteration, ``known_cat_bitsets``, ``f_idx_map``); their probabilities
    are averaged, each member's columns placed at its classes.
    """

    def __init__(self, classes: np.ndarray, n_features: int, members: list[dict]) -> None:
        self.classes_ = np.asarray(classes)
        self.n_features_in_ = int(n_features)
        self.members = members

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        from scipy.special import expit, softmax
        from sklearn.utils._openmp_helpers import _openmp_effective_n_threads

        x = np.asarray(x, dtype=np.float64)  # what scikit-learn's tree code reads
        if x.ndim != 2 or x.shape[1] != self.n_features_in_:
            raise ValueError(f"expected {self.n_features_in_} feature columns, got shape {x.shape}")
        threads = _openmp_effective_n_threads()
        out = np.zeros((len(x), len(self.classes_)))
        for m in self.members:
            raw = np.zeros((len(x), m["baseline"].shape[1])) + m["baseline"]
            for trees in m["iterations"]:
                for k, tree in enumerate(trees):
                    raw[:, k] += tree.predict(x, m["known_cat_bitsets"], m["f_idx_map"], threads)
            proba = softmax(raw, axis=1) if raw.shape[1] > 1 else np.hstack([1 - expit(raw), expit(raw)])
            out[:, np.searchsorted(self.classes_, m["classes"])] += proba
        return out / len(self.members)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.classes_[self.predict_proba(x).argmax(1)]


def _boosted(model) -> list:
    """The ``HistGradientBoostingClassifier`` members of ``model`` (itself, or a bagging's estimators)."""
    return list(getattr(model, "estimators_", None) or [model])


def save(model, path: Path) -> None:
    """Write a fitted ``HistGradientBoostingClassifier``, :class:`BalancedBagging` or :class:`TreeEnsemble`
    to ``path`` (``.npz``)."""
    import sklearn

    members = model.members if isinstance(model, TreeEnsemble) else [_member_of(m) for m in _boosted(model)]
    arrays: dict[str, np.ndarray] = {}
    meta = {"format": FORMAT, "sklearn": sklearn.__version__, "classes": np.asarray(model.classes_).tolist(),
            "n_features": int(model.n_features_in_), "members": []}
    for j, m in enumerate(members):
        trees = [tree for it in m["iterations"] for tree in it]
        arrays[f"m{j}_nodes"] = np.concatenate([t.nodes for t in trees])
        arrays[f"m{j}_binned_bitsets"] = np.concatenate([t.binned_left_cat_bitsets for t in trees])
        arrays[f"m{j}_raw_bitsets"] = np.concatenate([t.raw_left_cat_bitsets for t in trees])
        arrays[f"m{j}_sizes"] = np.array([[t.nodes.size, t.binned_left_cat_bitsets.shape[0],
                                           t.raw_left_cat_bitsets.shape[0]] for t in trees], np.int64)
        arrays[f"m{j}_baseline"] = np.asarray(m["baseline"], np.float64)
        arrays[f"m{j}_known_cat_bitsets"] = m["known_cat_bitsets"]
        arrays[f"m{j}_f_idx_map"] = m["f_idx_map"]
        meta["members"].append({"classes": np.asarray(m["classes"]).tolist(), "iterations": len(m["iterations"]),
                                "trees_per_iteration": int(m["baseline"].shape[1])})
    with open(path, "wb") as fh:  # np.savez would append ".npz" to a name without it
        np.savez(fh, meta=np.array(json.dumps(meta)), **arrays)


def load(path: Path) -> TreeEnsemble:
    """The :class:`TreeEnsemble` written by :func:`save`; ``ValueError`` for anything else."""
    from sklearn.ensemble._hist_gradient_boosting.common import PREDICTOR_RECORD_DTYPE
    from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor

    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        meta = json.loads(str(arrays.pop("meta")))
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a saved lcml tree model ({exc})") from None
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path}: tree-model format {meta.get('format')!r}; this lcml reads format {FORMAT}")
    members = []
    for j, spec in enumerate(meta["members"]):
        nodes = arrays[f"m{j}_nodes"]
        if nodes.dtype != PREDICTOR_RECORD_DTYPE:
            raise ValueError(f"{path}: tree nodes saved by scikit-learn {meta['sklearn']} have another layout "
                             "than this scikit-learn's; retrain the model")
        ends = np.cumsum(arrays[f"m{j}_sizes"], axis=0)
        starts = ends - arrays[f"m{j}_sizes"]
        trees = [TreePredictor(nodes[s[0]:e[0]], arrays[f"m{j}_binned_bitsets"][s[1]:e[1]],
                               arrays[f"m{j}_raw_bitsets"][s[2]:e[2]]) for s, e in zip(starts, ends)]
        k = spec["trees_per_iteration"]
        members.append({"classes": np.asarray(spec["classes"]), "baseline": arrays[f"m{j}_baseline"],
                        "iterations": [trees[i:i + k] for i in range(0, len(trees), k)],
                        "known_cat_bitsets": arrays[f"m{j}_known_cat_bitsets"],
                        "f_idx_map": arrays[f"m{j}_f_idx_map"]})
    return TreeEnsemble(np.asarray(meta["classes"]), meta["n_features"], members)


def _member_of(model) -> dict:
    if getattr(model, "_preprocessor", None) is not None:
        raise ValueError("categorical features are not saved by lcml.models.trees")
    known_cat_bitsets, f_idx_map = model._bin_mapper.make_known_categories_bitsets()
    return {"classes": model.classes_, "baseline": np.asarray(model._baseline_prediction, np.float64),
            "iterations": model._predictors, "known_cat_bitsets": known_cat_bitsets, "f_idx_map": f_idx_map}

"""Balanced bagging of gradient-boosted trees: every class counts as much in every member.

Real surveys are imbalanced by two orders of magnitude (Catalina SSS: 3,156 EW, 102 dSct). One
boosted model with inverse-frequency weights still sees each rare star once, and learns the common
classes' boundaries in far more detail. Each member here is trained on the same number of stars of
every class — a random draw of ``per_class`` from each (with replacement when a class has fewer) —
and the members' probabilities are averaged (Wallace et al. 2011; the self-paced ensemble of Zhang
et al. 2023 lifted Catalina Blazhko recall from 0.12 to 0.85 with the same idea). The majority classes
are undersampled in each member but covered across members.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin


class BalancedBagging(ClassifierMixin, BaseEstimator):
    """``n_estimators`` HistGradientBoosting members, each on ``per_class`` stars of every class.

    Parameters
    ----------
    n_estimators
        Members; their class probabilities are averaged.
    per_class
        Stars drawn from each class for each member.
    learning_rate, max_leaf_nodes, l2_regularization, max_iter
        Every member's boosting settings (``HistGradientBoostingClassifier``; no early stopping: a
        member's few hundred stars leave no room for a held-out slice).
    random_state
        Seed of the draws and of member ``i`` (``random_state + i``).
    n_jobs
        Worker processes fitting members (joblib's ``loky``; each member on ``cores / n_jobs`` threads).
        A member's thousand-odd stars leave OpenMP's threads mostly idle, so members side by side
        finish sooner than members one after another on all cores. The fit is the same either way.
    """

    def __init__(self, n_estimators: int = 20, per_class: int = 100, learning_rate: float = 0.1,
                 max_leaf_nodes: int = 31, l2_regularization: float = 0.0, max_iter: int = 100,
                 random_state: int = 0, n_jobs: int = 1) -> None:
        self.n_estimators = n_estimators
        self.per_class = per_class
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.l2_regularization = l2_regularization
        self.max_iter = max_iter
        self.random_state = random_state
        self.n_jobs = n_jobs

    def fit(self, x: np.ndarray, y: np.ndarray) -> "BalancedBagging":
        x, y = np.asarray(x), np.asarray(y)
        self.classes_ = np.unique(y)
        self.n_features_in_ = x.shape[1]
        rng = np.random.default_rng(self.random_state)
        members = [np.flatnonzero(y == c) for c in self.classes_]
        # every draw made here, in member order: the result does not depend on n_jobs
        draws = [np.concatenate([rng.choice(m, size=self.per_class, replace=m.size < self.per_class)
                                 for m in members]) for _ in range(self.n_estimators)]
        settings = dict(learning_rate=self.learning_rate, max_leaf_nodes=self.max_leaf_nodes,
                        l2_regularization=self.l2_regularization, max_iter=self.max_iter)
        tasks = [(x[idx], y[idx], settings, self.random_state + i) for i, idx in enumerate(draws)]
        if self.n_jobs != 1 and len(tasks) > 1:
            from joblib import Parallel, delayed  # scikit-learn's own dependency

            self.estimators_ = Parallel(n_jobs=self.n_jobs, backend="loky")(delayed(_fit_member)(*t) for t in tasks)
        else:
            self.estimators_ = [_fit_member(*t) for t in tasks]
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Mean of the members' probabilities, columns in ``classes_`` order."""
        return np.mean([m.predict_proba(x) for m in self.estimators_], axis=0)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.classes_[self.predict_proba(x).argmax(1)]


def _fit_member(x: np.ndarray, y: np.ndarray, settings: dict, seed: int):
    """One member: HistGradientBoosting without early stopping (no room for a held-out slice)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(**settings, early_stopping=False, random_state=seed).fit(x, y)

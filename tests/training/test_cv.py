"""Cross-validation of one candidate (lcml.training.cv) with the families' real fitting code."""

import numpy as np
import pytest

from lcml.config import FamilySearchParams
from lcml.families.fitting import fitter
from lcml.training.cv import cross_validate, inner_split
from lcml.training.loop import Dataset


def _separable(n_per_class: int = 30, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(3), n_per_class)
    x = rng.normal(size=(y.size, 16)).astype(np.float32)
    x[:, 0] += 4 * y  # one informative column
    return Dataset(folded=x, aux=np.zeros((y.size, 2), np.float32), y=y.astype(np.int64))


def _search(**kw) -> FamilySearchParams:
    base = dict(n_trials=1, epochs=1, batch_size=16, patience=1, space={}, options={"early_stopping": False})
    return FamilySearchParams(**(base | kw))


def test_baseline_cross_validation_scores_every_object_once():
    data = _separable()
    out = cross_validate(fitter("baseline"), {"max_iter": 50}, data, search=_search(), classes=["a", "b", "c"],
                         folds=5, seed=0)
    assert out["n_folds_run"] == 5 and len(out["balanced_accuracy"]["folds"]) == 5
    assert out["balanced_accuracy"]["mean"] > 0.9  # one column separates the classes
    cm = np.array(out["confusion_matrix"]["rows_true_cols_pred"])
    assert cm.sum() == len(data.y) and cm.sum(1).tolist() == [30, 30, 30]
    assert set(out["recall"]) == {"a", "b", "c"} and set(out["precision_std"]) == {"a", "b", "c"}


def test_torch_family_holds_out_an_inner_validation_split():
    fit, val = inner_split(np.repeat(np.arange(3), 20), seed=1)
    assert len(val) == 9 and not set(fit) & set(val) and np.bincount(np.repeat(np.arange(3), 20)[val]).tolist() == [3, 3, 3]
    data = _separable(12)
    data = Dataset(folded=np.repeat(data.folded, 2, axis=1), aux=data.aux, y=data.y)  # 32 bins
    seen = []
    out = cross_validate(fitter("conv_bilstm"), {"n_layers": 1, "filters": 16, "dropout": 0.1, "lr": 1e-2}, data,
                         search=_search(options={}), classes=["a", "b", "c"], folds=3, seed=0, max_folds=2,
                         progress=lambda k, s: seen.append(k))
    assert seen == [0, 1] and out["n_folds_run"] == 2
    assert np.array(out["confusion_matrix"]["rows_true_cols_pred"]).sum() == 2 * 12  # two folds of 36 / 3


def test_a_class_smaller_than_the_folds_is_named_not_fatal():
    data = _separable(30)
    data = Dataset(folded=data.folded[:63], aux=data.aux[:63], y=data.y[:63])  # class c: 3 objects
    out = cross_validate(fitter("baseline"), {"max_iter": 20}, data, search=_search(), classes=["a", "b", "c"],
                         folds=5)
    assert out["classes_in_fewer_folds"] == ["c"] and out["n_folds_run"] == 5
    assert np.array(out["confusion_matrix"]["rows_true_cols_pred"]).sum(1).tolist() == [30, 30, 3]
    with pytest.raises(ValueError, match="5-fold cross-validation needs at least 10 objects, got 6"):
        cross_validate(fitter("baseline"), {}, Dataset(data.folded[:6], data.aux[:6], data.y[:6]), search=_search(),
                       classes=["a", "b", "c"], folds=5)

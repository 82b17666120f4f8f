"""Boosted trees saved as arrays: the same probabilities as the fitted scikit-learn model, no pickle."""

import json

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier

from lcml.models import trees
from lcml.models.balanced import BalancedBagging


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 12))
    y = np.clip(np.round(2 * x[:, 0] + x[:, 1] + rng.normal(size=600)), -2, 2).astype(int) + 2  # 5 classes
    x[rng.random(x.shape) < 0.03] = np.nan  # missing values take each node's learned side
    return x, y


@pytest.mark.parametrize("make", [
    lambda x, y: HistGradientBoostingClassifier(max_iter=30, random_state=0).fit(x, y),
    lambda x, y: HistGradientBoostingClassifier(max_iter=15, random_state=0).fit(x, y >= 3),  # two classes
    lambda x, y: HistGradientBoostingClassifier(max_iter=15, class_weight="balanced").fit(x, y + 10),
    lambda x, y: BalancedBagging(n_estimators=3, per_class=40, max_iter=20).fit(x, y),
], ids=["multiclass", "binary", "other-labels", "bagging"])
def test_saved_trees_predict_exactly_what_the_fitted_model_does(make, data, tmp_path):
    x, y = data
    model = make(x, y)
    trees.save(model, tmp_path / "m.npz")
    loaded = trees.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded.classes_, model.classes_)
    assert loaded.n_features_in_ == x.shape[1]
    np.testing.assert_array_equal(loaded.predict_proba(x), model.predict_proba(x))
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    # saved again from what was loaded: the same file content
    trees.save(loaded, tmp_path / "again.npz")
    np.testing.assert_array_equal(trees.load(tmp_path / "again.npz").predict_proba(x), model.predict_proba(x))


def test_the_file_holds_no_objects_and_other_files_are_refused(data, tmp_path):
    x, y = data
    trees.save(HistGradientBoostingClassifier(max_iter=5).fit(x, y), tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as saved:  # would raise on any object array
        meta = json.loads(str(saved["meta"]))
        assert all(saved[k].dtype != object for k in saved.files)
    assert meta["format"] == trees.FORMAT and len(meta["members"]) == 1
    with pytest.raises(ValueError, match="expected 12 feature columns"):
        trees.load(tmp_path / "m.npz").predict_proba(x[:, :5])
    meta["format"] = 99
    with np.load(tmp_path / "m.npz", allow_pickle=False) as saved:
        arrays = {k: saved[k] for k in saved.files}
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(tmp_path / "future.npz", **arrays)
    with pytest.raises(ValueError, match="format 99; this lcml reads format 1"):
        trees.load(tmp_path / "future.npz")
    (tmp_path / "junk.npz").write_bytes(b"\x00" * 64)
    with pytest.raises(ValueError, match="not a saved lcml tree model"):
        trees.load(tmp_path / "junk.npz")

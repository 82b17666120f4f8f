"""A release's training data: read once, split like the loader splits, params never changed."""

from __future__ import annotations

from lcml import pipeline
from lcml.config import Paths, load_params
from lcml.data import release as rel
from lcml.pipeline.data import _splits, training_data


def test_splits_from_one_read_equal_the_loader_split_by_split(project):
    rid = pipeline.prepare_release()
    params, paths = load_params(), Paths.from_env()
    folder = rel.release_dir(paths, rid)
    together = rel.load_splits(folder, params.data.split)
    for split in rel.SPLITS:
        alone = rel.load_release(folder, split, params.data.split)
        assert together[split]["object_id"].tolist() == alone["object_id"].tolist()
        assert together[split]["label"].tolist() == alone["label"].tolist()
    assert sum(len(f) for f in together.values()) == len(rel.load_release(folder))


def test_training_data_narrows_a_copy_and_follows_the_quarantine(project):
    rid = pipeline.prepare_release()
    params, paths = load_params(), Paths.from_env()
    before = params.model_dump(mode="json")
    data = training_data(params, paths, rid)
    assert params.model_dump(mode="json") == before  # the params given are never changed
    assert data.params.features.surveys == {} and data.params.features.folded is False
    assert data.classes == list(pipeline.classes_for("kepler"))

    hits = _splits.cache_info().hits
    again = training_data(params, paths, rid)
    assert _splits.cache_info().hits == hits + 1 and again.frames["train"] is data.frames["train"]

    pipeline.validate(rid)  # writes quarantine.parquet: the cached frames must not outlive it
    misses = _splits.cache_info().misses
    training_data(params, paths, rid)
    assert _splits.cache_info().misses == misses + 1

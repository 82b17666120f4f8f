"""Features computed ahead, a batch of curves at a time: exactly what a training of the release reads."""

import numpy as np
import pytest

from lcml import pipeline
from lcml.data import release as rel
from lcml.errors import InputError
from tests.cli.test_predict import lcml


def _no_period_search(*args, **kwargs):
    raise AssertionError("features were computed again instead of read from the cache")


def test_features_ahead_are_what_the_training_reads(project, monkeypatch):
    import lcml.features.baseline as baseline_features
    from lcml.config import context
    from lcml.families import get_family
    from lcml.features.extract import feature_cache
    from lcml.pipeline.data import training_data

    rid = pipeline.prepare_release()
    pipeline.validate(rid)
    monkeypatch.setattr(rel, "SCAN_ROWS", 37)  # many batches, each holding both splits
    out = pipeline.featurize_release(rid)
    assert not out["train"]["cached"] and not out["val"]["cached"]
    params, paths = context()
    data = training_data(params, paths, rid)
    assert out["train"]["n_curves"] == len(data.frames["train"]) and out["val"]["n_curves"] == len(data.frames["val"])
    family, options = get_family("baseline"), params.search.of("baseline").options
    for split in ("train", "val"):
        frame = data.frames[split]
        curves = list(zip(frame["time"], frame["flux"], frame["flux_err"]))
        expected, _ = family.inputs(curves, data.params.features, options)  # no cache: computed here
        with monkeypatch.context() as patched, feature_cache(paths.feature_cache):
            patched.setattr(baseline_features, "baseline_matrix", _no_period_search)
            got, _ = family.inputs(curves, data.params.features, options)  # the training's path
        np.testing.assert_array_equal(got, expected)
    # a second run finds both entries after hashing the curves, and computes nothing
    monkeypatch.setattr(baseline_features, "baseline_matrix", _no_period_search)
    again = pipeline.featurize_release(rid)
    assert again["train"]["cached"] and again["val"]["cached"]
    assert again["train"]["entry"] == out["train"]["entry"]
    with pytest.raises(InputError, match="only the baseline's features"):
        pipeline.featurize_release(rid, family="conv_bilstm")
    # the command: one line per split; a release that is not there is one error line
    proc = lcml("data", "features", rid)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [f"{split}: {out[split]['n_curves']:,} curves, already cached "
                                        f"({out[split]['entry']} in {paths.feature_cache})" for split in ("train", "val")]
    missing = lcml("data", "features", "kepler/nope")
    assert missing.returncode != 0 and missing.stderr.strip().splitlines()[-1].startswith("error: release kepler/nope")

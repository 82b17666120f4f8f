import json

import numpy as np
import pyarrow as pa
import pytest
import yaml

from lcml.config import Paths, SplitParams
from lcml.data import release as rel
from lcml.errors import InputError, LcmlError


def tiny_table(n=20, labels=("RR", "EB")):
    rng = np.random.default_rng(0)
    t = np.arange(200) * 0.02
    return pa.table({
        "object_id": [f"o{i}" for i in range(n)],
        "label": [labels[i % len(labels)] for i in range(n)],
        "time": [t for _ in range(n)],
        "flux": [(1 + 0.01 * rng.normal(size=t.size)).astype(np.float32) for _ in range(n)],
        "flux_err": [np.full(t.size, 0.01, np.float32) for _ in range(n)],
    })


def test_split_is_deterministic_and_follows_fractions():
    fractions = SplitParams(train=0.7, val=0.15, test=0.15)
    ids = [f"KIC {i}" for i in range(4000)]
    splits = [rel.split_of(i, fractions) for i in ids]
    assert splits == [rel.split_of(i, fractions) for i in ids]
    share = {s: splits.count(s) / len(ids) for s in rel.SPLITS}
    assert abs(share["train"] - 0.7) < 0.03 and abs(share["test"] - 0.15) < 0.03
    # adding stars never moves an existing one
    assert rel.split_of("KIC 7", fractions) == splits[7]


def test_write_release_manifest_and_immutability(project):
    paths = Paths.from_env().ensure()
    folder = rel.write_release(paths, "kepler/t1", tiny_table(), source="unit test")
    manifest = rel.read_manifest(folder)
    assert manifest["release_id"] == "kepler/t1"
    assert manifest["class_counts"] == {"EB": 10, "RR": 10}
    assert manifest["files"]["lightcurves.parquet"] == rel.sha256_file(folder / "lightcurves.parquet")
    assert manifest["schema_version"] == 1
    with pytest.raises(LcmlError, match="immutable"):
        rel.write_release(paths, "kepler/t1", tiny_table(), source="again")
    with pytest.raises(InputError, match="columns missing"):
        rel.write_release(paths, "kepler/t2", tiny_table().drop_columns(["flux_err"]), source="x")
    with pytest.raises(InputError, match="<survey>/<version>"):
        rel.release_dir(paths, "../escape")


def test_load_release_leaves_out_quarantine(project):
    import pyarrow.parquet as pq

    paths = Paths.from_env().ensure()
    folder = rel.write_release(paths, "kepler/t3", tiny_table(), source="unit test")
    pq.write_table(pa.table({"object_id": ["o1", "o2"], "reasons": [["x"], ["y"]]}), folder / rel.QUARANTINE)
    frame = rel.load_release(folder)
    assert len(frame) == 18 and not {"o1", "o2"} & set(frame["object_id"])
    fractions = SplitParams(train=0.5, val=0.25, test=0.25)
    parts = [rel.load_release(folder, s, fractions) for s in rel.SPLITS]
    assert sum(len(p) for p in parts) == 18
    assert isinstance(frame["time"].iloc[0], np.ndarray)


def test_publish_with_real_dvc(project):
    paths = Paths.from_env().ensure()
    rel.write_release(paths, "kepler/t4", tiny_table(), source="unit test")
    md5 = rel.publish(paths)
    assert md5.endswith(".dir") and md5 == rel.data_md5(paths)
    dvcfile = yaml.safe_load((project / "data.dvc").read_text())
    assert dvcfile["outs"][0]["path"] == "data"
    remote = paths.home / "dvc-remote"
    assert any(remote.rglob("*")), "dvc push put nothing in the local remote"
    # publishing unchanged data is stable; new data changes the md5
    assert rel.publish(paths) == md5
    rel.write_release(paths, "kepler/t5", tiny_table(4), source="unit test")
    assert rel.publish(paths) != md5
    config_local = (project / ".dvc" / "config.local").read_text()
    assert "lcml" in config_local and str(remote) in config_local
    assert json.loads((paths.releases / "kepler" / "t4" / "manifest.json").read_text())["n_objects"] == 20

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lcml.config import Paths
from lcml.data import release as rel
from lcml.data.validation.validate import validate_release
from lcml.errors import ValidationFailed

CLASSES = ("T2CEP", "RR", "HYB", "GDOR", "EB", "DSCT")


def curve(n=150, start=0.0):
    t = start + np.arange(n) * 0.02
    return t, np.ones(n, np.float32), np.full(n, 1e-3, np.float32)


def broken_table(n_good=40):
    rows = {"object_id": [], "label": [], "time": [], "flux": [], "flux_err": []}

    def add(oid, label, t, f, e):
        for k, v in zip(rows, (oid, label, t, f, e)):
            rows[k].append(v)

    for i in range(n_good):
        add(f"good{i}", CLASSES[i % 6], *curve())
    t, f, e = curve()
    add("dup", "RR", t, f, e)
    add("dup", "RR", t, f, e)
    add("short", "EB", *curve(20))
    nan = f.copy(); nan[5] = np.nan
    add("nanflux", "EB", t, nan, e)
    back = t.copy(); back[10] = back[9]
    add("timeback", "EB", back, f, e)
    add("negerr", "EB", t, f, -e)
    add("badlabel", "Mira", t, f, e)
    add("unlabelled", None, t, f, e)
    add("ragged", "RR", t[:-1], f, e)
    return pa.table(rows)


def test_quarantine_has_every_bad_row_with_reasons(project):
    paths = Paths.from_env().ensure()
    folder = rel.write_release(paths, "kepler/bad", broken_table(), source="unit test")
    with pytest.raises(ValidationFailed, match=r"8/49 rows quarantined"):
        validate_release(folder, min_points=100, classes=CLASSES, max_bad_fraction=0.05)
    q = pq.read_table(folder / rel.QUARANTINE).to_pandas()
    reasons = {}
    for oid, rs in zip(q["object_id"], q["reasons"]):
        reasons.setdefault(oid, set()).update(rs)
    assert set(reasons) == {"dup", "short", "nanflux", "timeback", "negerr", "badlabel", "ragged"}
    assert (q["object_id"] == "dup").sum() == 2  # both copies: which one is right is unknown
    assert reasons["short"] == {"fewer than 100 points"}
    assert reasons["nanflux"] == {"non-finite time, flux or flux_err"}
    assert reasons["timeback"] == {"time not strictly increasing"}
    assert reasons["negerr"] == {"flux_err not positive"}
    assert any("label not one of" in r for r in reasons["badlabel"])
    assert reasons["ragged"] == {"time, flux and flux_err differ in length"}
    # the quarantined rows keep their data: nothing is lost
    assert len(q["time"][q["object_id"] == "short"].iloc[0]) == 20
    manifest = rel.read_manifest(folder)
    assert manifest["validation"]["passed"] is False
    assert manifest["validation"]["n_quarantined"] == 8
    assert manifest["files"][rel.QUARANTINE] == rel.sha256_file(folder / rel.QUARANTINE)
    # unlabelled stars are fine (pretraining uses them), and are not training rows
    assert "unlabelled" not in set(q["object_id"])


def test_tolerated_bad_fraction_passes_and_loader_skips_bad_rows(project):
    paths = Paths.from_env().ensure()
    folder = rel.write_release(paths, "kepler/ok", broken_table(n_good=400), source="unit test")
    summary = validate_release(folder, min_points=100, classes=CLASSES, max_bad_fraction=0.05)
    assert summary.passed and summary.n_quarantined == 8 and summary.n_rows == 409
    # the unlabelled star stays (pretraining) but is not silent: the summary counts it
    assert "1 object(s) without a label: kept for pretraining and scoring, not trained on" in summary.flags
    assert summary.reasons["duplicate object_id"] == 2
    loaded = rel.load_release(folder)
    assert len(loaded) == 400 and loaded["object_id"].str.startswith("good").all()
    assert (folder / "validation.json").is_file()

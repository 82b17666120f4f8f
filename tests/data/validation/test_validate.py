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


def test_validation_streams_the_curves_and_gives_the_same_verdict_in_any_batch_size(project, monkeypatch):
    paths = Paths.from_env().ensure()
    results = {}
    for batch_rows in (1000, 7, 1):  # one batch; batches that split the bad rows and the duplicates
        monkeypatch.setattr(rel, "SCAN_ROWS", batch_rows)
        folder = rel.write_release(paths, f"kepler/batch-{batch_rows}", broken_table(n_good=60), source="unit test")
        previous = rel.release_dir(paths, "kepler/batch-1000") if batch_rows != 1000 else None
        summary = validate_release(folder, min_points=100, classes=CLASSES, max_bad_fraction=0.2, previous=previous)
        quarantine = pq.read_table(folder / rel.QUARANTINE)
        assert not (folder / f"{rel.QUARANTINE}.partial").exists()
        results[batch_rows] = (summary, quarantine)
    (one, q_one), (seven, q_seven), (single, q_single) = results.values()
    for other, q_other in ((seven, q_seven), (single, q_single)):
        assert q_other.drop_columns(["flux"]).equals(q_one.drop_columns(["flux"]))
        for got, want in zip(q_other.column("flux").to_pylist(), q_one.column("flux").to_pylist()):
            np.testing.assert_array_equal(np.asarray(got, float), np.asarray(want, float))  # NaN included
        assert (other.n_rows, other.n_quarantined, other.n_accepted, other.reasons, other.class_counts) == \
               (one.n_rows, one.n_quarantined, one.n_accepted, one.reasons, one.class_counts)
        # drift against the release with the same curves: computed from streamed statistics, nothing moved
        assert other.drift["n_reference"] == other.drift["n_current"] == one.n_accepted
        assert other.drift["drifted"] == []
    assert one.n_quarantined == 8 and q_one.column("reasons").null_count == 0


def test_take_rows_reads_any_rows_a_batch_at_a_time(project):
    paths = Paths.from_env().ensure()
    folder = rel.write_release(paths, "kepler/take", broken_table(n_good=30), source="unit test")
    whole = pq.read_table(folder / rel.LIGHTCURVES)
    rows = [0, 6, 7, 8, 29, 38]
    parts = list(rel.take_rows(folder, rows, batch_rows=7))
    assert pa.concat_tables(parts).equals(whole.take(rows))
    assert max(p.num_rows for p in parts) <= 7
    assert list(rel.take_rows(folder, [])) == []
    with pytest.raises(ValueError, match="ascending"):
        list(rel.take_rows(folder, [3, 1]))
    frames = list(rel.scan_release(folder, ["object_id"], batch_rows=10))
    assert [f.index[0] for f in frames] == [0, 10, 20, 30]
    assert sum(len(f) for f in frames) == whole.num_rows

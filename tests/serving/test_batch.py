"""Streaming batch scoring: inputs read a batch at a time, predictions written a row group at a time."""

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lcml.errors import InputError
from lcml.serving.inputs import count_input, iter_input, read_input

MODEL = "models:/kepler-variable-star-classifier@champion"


def _write(path, ids, n_points=40, row_group_size=None, bad=()):
    rng = np.random.default_rng(len(ids))
    rows = {"object_id": [], "time": [], "flux": [], "flux_err": []}
    for oid in ids:
        t = np.sort(rng.uniform(0, 30, n_points))
        f = 1 + 0.1 * np.sin(2 * np.pi * t / rng.uniform(0.3, 5)) + 0.01 * rng.normal(size=n_points)
        if oid in bad:
            f[:] = np.nan
        rows["object_id"].append(oid)
        rows["time"].append(t)
        rows["flux"].append(f)
        rows["flux_err"].append(np.full(n_points, 0.01))
    pq.write_table(pa.table(rows), path, row_group_size=row_group_size)
    return path


def test_parquet_is_read_a_batch_at_a_time(tmp_path):
    path = _write(tmp_path / "a.parquet", [f"s{i}" for i in range(10)], row_group_size=3)
    batches = list(iter_input(path, batch_size=4))
    assert [len(b) for b in batches] == [4, 4, 2]
    assert pd.concat(batches)["object_id"].tolist() == [f"s{i}" for i in range(10)]
    assert count_input(path) == 10
    assert read_input(path)["object_id"].tolist() == [f"s{i}" for i in range(10)]


def test_folder_batches_span_files_and_catch_a_repeated_id(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    _write(folder / "1.parquet", ["a", "b", "c"])
    _write(folder / "2.parquet", ["d", "e"])
    batches = list(iter_input(folder, batch_size=4))
    assert [b["object_id"].tolist() for b in batches] == [["a", "b", "c", "d"], ["e"]]
    assert count_input(folder) == 5
    _write(folder / "3.parquet", ["f", "b"])
    with pytest.raises(InputError, match="object_id 'b' appears more than once in the input"):
        list(iter_input(folder, batch_size=4))


def test_a_bad_curve_deep_in_the_file_stops_the_stream_naming_it(tmp_path):
    path = _write(tmp_path / "a.parquet", [f"s{i}" for i in range(9)], row_group_size=3, bad=("s7",))
    stream = iter_input(path, batch_size=3)
    assert len(next(stream)) == 3  # the good batches before it are served
    with pytest.raises(InputError, match="light curve 's7' has all-NaN flux"):
        list(stream)
    empty = tmp_path / "empty.parquet"
    pq.write_table(pa.table({"object_id": pa.array([], pa.string()), "time": pa.array([], pa.list_(pa.float64())),
                             "flux": pa.array([], pa.list_(pa.float64()))}), empty)
    with pytest.raises(InputError, match="holds no light curves"):
        read_input(empty)


def test_score_to_parquet_writes_a_row_group_per_batch_and_nothing_on_failure(in_trained, tmp_path):
    from lcml.serving.batch import score, score_to_parquet

    source = _write(tmp_path / "in.parquet", [f"s{i}" for i in range(11)], n_points=200)
    out = tmp_path / "out" / "pred.parquet"
    done = score_to_parquet(MODEL, source, out, batch_size=4, progress=False)
    assert done.n_curves == 11 and sum(done.label_counts.values()) == 11
    assert done.model_name == "kepler-variable-star-classifier" and done.model_version == "1"
    stored = pq.ParquetFile(out)
    assert stored.metadata.num_row_groups == 3 and stored.metadata.num_rows == 11
    written = stored.read().to_pandas()
    whole = score(MODEL, source, batch_size=64, progress=False)  # one batch, in memory
    assert written["object_id"].tolist() == whole["object_id"].tolist()
    assert written["label_pred"].tolist() == whole["label_pred"].tolist()
    assert np.allclose(written.filter(like="p_").to_numpy(), whole.filter(like="p_").to_numpy(), atol=1e-6)

    bad = _write(tmp_path / "bad.parquet", [f"s{i}" for i in range(11)], n_points=200, bad=("s9",))
    failed = tmp_path / "failed.parquet"
    with pytest.raises(InputError, match="'s9'"):
        score_to_parquet(MODEL, bad, failed, batch_size=4, progress=False, strict=True)
    assert not failed.exists() and not list(tmp_path.glob(".failed.parquet*"))  # no partial output left


def _problems():
    found = []
    return found, lambda source, oid, reason: found.append((source.name, oid, reason))


def test_a_reporting_read_keeps_every_curve_marks_the_bad_and_skips_unreadable_files(tmp_path):
    """Released + reported always equals what came in: each curve has a row (bad ones with their
    reason in `error`), and a folder's unreadable file is reported, not fatal."""
    folder = tmp_path / "in"
    folder.mkdir()
    _write(folder / "1.parquet", ["a", "b", "c"], bad=("b",))
    rows = {"object_id": ["d", "a", None, "e", "f", "g"],
            "time": [[0.0, 1.0, 2.0, 3.0]] * 6,
            "flux": [[1.0, 2.0, 1.0, 2.0], [1.0, 2.0, 1.0, 2.0], [1.0, 2.0, 1.0, 2.0], [1.0, 1e300, 1.0, 2.0],
                     [1.0, 2.0, 1.0, 2.0], [1.0, 2.0, 1.0, 2.0]],
            "flux_err": [[0.1] * 4, [0.1] * 4, [0.1] * 4, [0.1] * 4, [-0.1] * 4, [0.1, 0.0, -1.0, 0.1]]}
    pq.write_table(pa.table(rows), folder / "2.parquet")
    (folder / "3.parquet").write_bytes(b"not parquet")
    found, on_error = _problems()
    frames = list(iter_input(folder, batch_size=4, on_error=on_error))
    whole = pd.concat(frames, ignore_index=True)
    assert whole["object_id"].tolist() == ["a", "b", "c", "d", "a", None, "e", "f", "g"]
    errors = dict(zip(range(len(whole)), whole["error"]))
    assert [i for i, e in errors.items() if e is None] == [0, 2, 3]
    assert errors[1] == "has all-NaN flux"
    assert "repeats an object_id" in errors[4]
    assert errors[5] == "has no object_id"
    assert errors[6] == "has flux values beyond +-1e+100"
    assert errors[7] == errors[8] == "has fewer than 3 points with a positive, finite flux_err"
    assert sorted((s, str(o)) for s, o, _ in found) == [
        ("1.parquet", "b"), ("2.parquet", "None"), ("2.parquet", "a"), ("2.parquet", "e"), ("2.parquet", "f"),
        ("2.parquet", "g"), ("3.parquet", "None")]
    assert len(whole) == 3 + 6  # every curve of the readable files has its row; the unreadable file is reported
    assert "not a readable Parquet file" in found[-1][2] and found[-1][:2] == ("3.parquet", None)
    # strict (the default): the first problem stops the read, naming it
    with pytest.raises(InputError, match="light curve 'b' has all-NaN flux"):
        list(iter_input(folder, batch_size=4))


def test_scalar_and_non_numeric_curves_are_named_not_crashed_on(tmp_path):
    path = tmp_path / "scalar.parquet"
    pq.write_table(pa.table({"object_id": ["s1", "s2"], "time": [1.0, 2.0], "flux": [3.0, 4.0]}), path)
    found, on_error = _problems()
    frame = next(iter_input(path, on_error=on_error))
    assert frame["error"].tolist() == ["has time/flux/flux_err that are not lists of numbers"] * 2
    text = tmp_path / "text.parquet"
    pq.write_table(pa.table({"object_id": ["t1"], "time": [["a", "b", "c"]], "flux": [["1", "2", "x"]]}), text)
    with pytest.raises(InputError, match="light curve 't1' has time/flux/flux_err values that are not numbers"):
        list(iter_input(text))


class _FailsOn:
    """A model that cannot score some curves (as a pyfunc raising from inside its features would)."""

    def __init__(self, bad: set[str]) -> None:
        self.bad, self.calls = bad, 0

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        self.calls += 1
        hit = sorted(self.bad & set(frame["object_id"]))
        if hit:
            raise ValueError(f"SVD did not converge for {hit[0]}\nLAPACK detail")
        return pd.DataFrame({"object_id": frame["object_id"], "label_pred": "RR", "proba": 1.0, "p_RR": 1.0})


def test_a_curve_the_model_fails_on_is_found_and_named_and_the_rest_are_scored():
    from lcml.serving.batch import _predict_rows

    frame = pd.DataFrame({"object_id": [f"s{i}" for i in range(16)], "time": [[0.0]] * 16,
                          "flux": [[1.0]] * 16, "flux_err": [[1.0]] * 16, "error": [None] * 15 + ["is empty"]})
    model = _FailsOn({"s5"})
    found, on_error = _problems()
    out = _predict_rows(model, frame, Path("in.parquet"), on_error)
    assert out["object_id"].tolist() == frame["object_id"].tolist()
    assert out["error"].tolist()[5] == "ValueError: SVD did not converge for s5"
    assert out["error"].tolist()[15] == "is empty" and out["error"].isna().sum() == 14
    assert out["label_pred"].isna().tolist() == [i in (5, 15) for i in range(16)]
    assert found == [("in.parquet", "s5", "ValueError: SVD did not converge for s5")]
    assert model.calls <= 9  # halving: ~2 log2(15) calls, not one per curve
    with pytest.raises(InputError, match="light curve 's5' could not be scored: ValueError: SVD did not converge"):
        _predict_rows(_FailsOn({"s5"}), frame.iloc[:15], Path("in.parquet"), None)


def test_score_to_parquet_scores_the_good_curves_and_lists_the_bad_beside_the_output(in_trained, tmp_path):
    from lcml.serving.batch import errors_path, score_to_parquet

    source = _write(tmp_path / "in.parquet", [f"s{i}" for i in range(9)], n_points=200, bad=("s2", "s7"))
    out = tmp_path / "pred.parquet"
    done = score_to_parquet(MODEL, source, out, batch_size=4, progress=False)
    assert (done.n_curves, done.n_errors, done.errors_file) == (7, 2, errors_path(out))
    written = pd.read_parquet(out)
    assert written["object_id"].tolist() == [f"s{i}" for i in range(9)]
    assert written["error"].notna().tolist() == [i in (2, 7) for i in range(9)]
    assert written["label_pred"].isna().tolist() == [i in (2, 7) for i in range(9)]
    listed = pd.read_csv(errors_path(out))
    assert listed["object_id"].tolist() == ["s2", "s7"] and (listed["error"] == "has all-NaN flux").all()
    assert "7 light curves scored" in done.summary(out) and "2 could not be scored" in done.summary(out)
    # curves no model can take, named before scoring
    for flux, err, words in (([1.0, 1e300, 1.0, 2.0], [0.01] * 4, "has flux values beyond +-1e+100"),
                             ([1.0, 2.0, 1.0, 2.0], [-0.1, 0.0, -1.0, 0.1], "has fewer than 3 points with a positive, finite flux_err")):
        odd = tmp_path / "odd.parquet"
        pq.write_table(pa.table({"object_id": ["x1"], "time": [[1.0, 2.0, 3.0, 4.0]], "flux": [flux], "flux_err": [err]}), odd)
        with pytest.raises(InputError, match=f"no light curve could be scored .*light curve .x1. {re.escape(words)}"):
            score_to_parquet(MODEL, odd, tmp_path / "odd-pred.parquet", progress=False)
    # nothing left to score: one clear error, no output, the list of why
    dead = _write(tmp_path / "dead.parquet", ["x", "y"], bad=("x", "y"))
    with pytest.raises(InputError, match=r"no light curve could be scored \(2 problems"):
        score_to_parquet(MODEL, dead, tmp_path / "dead-pred.parquet", progress=False)
    assert not (tmp_path / "dead-pred.parquet").exists() and errors_path(tmp_path / "dead-pred.parquet").exists()
    # a clean run removes the stale list of an earlier one
    clean = _write(tmp_path / "clean.parquet", ["c1", "c2"], n_points=200)
    assert score_to_parquet(MODEL, clean, out, progress=False).errors_file is None
    assert not errors_path(out).exists()


def test_a_damaged_row_group_keeps_the_curves_before_it_and_more_bad_rows_are_named(tmp_path):
    path = _write(tmp_path / "a.parquet", [f"s{i}" for i in range(6)], row_group_size=3)
    meta = pq.ParquetFile(path).metadata.row_group(1)
    start = min(meta.column(i).data_page_offset for i in range(meta.num_columns))
    data = bytearray(path.read_bytes())
    data[start:start + 200] = b"\xab" * 200  # the second row group's pages overwritten
    path.write_bytes(bytes(data))
    found, on_error = _problems()
    frames = list(iter_input(path, batch_size=3, on_error=on_error))
    assert [f["object_id"].tolist() for f in frames] == [["s0", "s1", "s2"]]
    assert len(found) == 1 and found[0][:2] == ("a.parquet", None)
    assert "not a readable Parquet file" in found[0][2] and "\n" not in found[0][2]
    with pytest.raises(InputError, match="not a readable Parquet file"):
        list(iter_input(path, batch_size=3))

    odd = tmp_path / "odd.parquet"
    pq.write_table(pa.table({"object_id": ["flat", "short"], "time": [[5.0, 5.0, 5.0, 5.0], [1.0, 2.0, 3.0]],
                             "flux": [[1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0]]}), odd)
    found, on_error = _problems()
    assert next(iter_input(odd, on_error=on_error))["error"].tolist() == [
        "spans no time (every finite point at one time)", None]
    mags = tmp_path / "mags.parquet"
    pq.write_table(pa.table({"id": [1], "mjd": [[53000.0, 53001.0]], "mag": [[15.0]]}), mags)
    with pytest.raises(InputError, match="light curve '1' has mjd/mag/mag_err of different lengths"):
        list(iter_input(mags))

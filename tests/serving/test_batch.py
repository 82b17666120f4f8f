"""Streaming batch scoring: inputs read a batch at a time, predictions written a row group at a time."""

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
    with pytest.raises(InputError, match="object_id 'b' appears in more than one input"):
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
        score_to_parquet(MODEL, bad, failed, batch_size=4, progress=False)
    assert not failed.exists() and not list(tmp_path.glob(".failed.parquet*"))  # no partial output left

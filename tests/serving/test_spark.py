"""Scoring on a real local Spark (``local[2]``): the same predictions as in-process, bad rows reported."""

import os
import shutil

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.serving.test_batch import MODEL, _write


@pytest.fixture(scope="module")
def spark():
    if shutil.which("java") is None or not _has_pyspark():
        if os.environ.get("CI"):
            pytest.fail("CI must have a Java runtime and PySpark (.ci/run installs Java; .[dev] PySpark)")
        pytest.skip("no Java runtime or PySpark here")
    from lcml.serving.spark import spark_session

    session = spark_session("local[2]", app="lcml-tests")
    yield session
    session.stop()


def _has_pyspark() -> bool:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return False
    return True


def test_spark_scores_like_the_local_path_and_reports_bad_rows(in_trained, spark, tmp_path):
    from lcml.serving.batch import score
    from lcml.serving.spark import score_parquet_spark

    good_ids = [f"s{i}" for i in range(8)]
    good = _write(tmp_path / "good.parquet", good_ids, n_points=200)
    rows = pq.read_table(good).to_pylist()
    rows.append({"object_id": "nan", "time": [1.0, 2.0, 3.0, 4.0], "flux": [float("nan")] * 4,
                 "flux_err": [0.01] * 4})
    rows.append({"object_id": "empty", "time": [], "flux": [], "flux_err": []})
    mixed = tmp_path / "mixed.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=pq.read_schema(good)), mixed)

    done = score_parquet_spark(MODEL, mixed, tmp_path / "out", spark=spark)
    assert done.n_curves == 8 and done.n_errors == 2 and sum(done.label_counts.values()) == 8
    assert done.model_name == "kepler-variable-star-classifier" and done.model_version == "1"
    written = pd.read_parquet(tmp_path / "out").set_index("object_id")
    assert sorted(written.index) == sorted([*good_ids, "nan", "empty"])  # nothing dropped
    assert written.loc["nan", "error"] == "has all-NaN flux" and written.loc["empty", "error"] == "is empty"
    assert written.loc[["nan", "empty"], "label_pred"].isna().all()

    local = score(MODEL, good, progress=False).set_index("object_id")
    on_spark = written.loc[local.index]
    assert on_spark["error"].isna().all()
    assert on_spark["label_pred"].tolist() == local["label_pred"].tolist()
    probs = [c for c in local.columns if c.startswith("p_")]
    assert np.allclose(on_spark[probs].to_numpy(float), local[probs].to_numpy(float), atol=1e-6)
    assert (on_spark["model_version"] == "1").all()


def test_predict_engine_spark_from_the_command_line(in_trained, spark, tmp_path):
    """``lcml predict --engine spark`` (in this process: the CLI finds the test's Spark session running)."""
    from typer.testing import CliRunner

    from lcml.cli import app

    source = _write(tmp_path / "in.parquet", ["a", "b", "c"], n_points=150)
    result = CliRunner().invoke(app, ["predict", "--model", MODEL, "--input", str(source), "--output",
                                      str(tmp_path / "out"), "--engine", "spark"])
    assert result.exit_code == 0, result.output
    assert "3 light curves scored with kepler-variable-star-classifier v1 on Spark" in result.output
    assert len(pd.read_parquet(tmp_path / "out")) == 3
    missing = CliRunner().invoke(app, ["predict", "--model", MODEL, "--input", str(tmp_path / "nope.parquet"),
                                       "--output", str(tmp_path / "o"), "--engine", "spark"])
    assert missing.exit_code != 0
    assert missing.output.strip().splitlines() == [f"error: {tmp_path / 'nope.parquet'}: no such file or folder"]
    pq.write_table(pa.table({"object_id": ["a"], "flux": [[1.0, 2.0, 3.0]]}), tmp_path / "cols.parquet")
    lacking = CliRunner().invoke(app, ["predict", "--model", MODEL, "--input", str(tmp_path / "cols.parquet"),
                                       "--output", str(tmp_path / "o2"), "--engine", "spark"])
    assert lacking.exit_code != 0
    assert lacking.output.strip().splitlines() == [f"error: {tmp_path / 'cols.parquet'}: Parquet file lacks "
                                                   "light-curve column(s) time (or magnitude columns id, mjd, mag[, mag_err])"]

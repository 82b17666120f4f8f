"""The `lcml` command as a user runs it (a subprocess, so exit codes and stderr are real)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

MODEL = "models:/kepler-variable-star-classifier@champion"
CLASSES = ("T2CEP", "RR", "HYB", "GDOR", "EB", "DSCT")


def lcml(*args: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("lcml")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, env=os.environ.copy(), timeout=600)


def test_predict_real_mission_fits_folder(in_trained, real_data, tmp_path):
    out = tmp_path / "pred.parquet"
    proc = lcml("predict", "--model", MODEL, "--input", str(real_data / "kepler_fits"), "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    frame = pd.read_parquet(out)
    fits = sorted(p.name.removesuffix(".fits") for p in (real_data / "kepler_fits").glob("*.fits"))
    assert sorted(frame["object_id"]) == fits and len(fits) == 7
    assert list(frame.columns) == ["object_id", "label_pred", "proba", *[f"p_{c}" for c in CLASSES],
                                   "model_name", "model_version", "error"]
    assert frame["error"].isna().all() and not (tmp_path / "pred.errors.csv").exists()
    probs = frame[[f"p_{c}" for c in CLASSES]].to_numpy()
    assert np.allclose(probs.sum(1), 1, atol=1e-5)
    assert np.allclose(frame["proba"], probs.max(1))
    assert set(frame["label_pred"]) <= set(CLASSES)
    assert (frame["model_name"] == "kepler-variable-star-classifier").all()
    assert (frame["model_version"] == "1").all()


def test_predict_single_fits_and_release_parquet(in_trained, real_data, tmp_path):
    one = real_data / "kepler_fits" / "ktwo211117077-c04_llc.fits"
    proc = lcml("predict", "--model", MODEL, "--input", str(one), "--output", str(tmp_path / "one.parquet"))
    assert proc.returncode == 0, proc.stderr
    assert pd.read_parquet(tmp_path / "one.parquet")["object_id"].tolist() == ["ktwo211117077-c04_llc"]

    release = in_trained["root"] / "data" / "releases" / "kepler" / "sim-v1" / "lightcurves.parquet"
    proc = lcml("predict", "--model", "models:/kepler-variable-star-classifier/1", "--input", str(release),
                "--output", str(tmp_path / "rel.parquet"), "--batch-size", "64")
    assert proc.returncode == 0, proc.stderr
    scored = pd.read_parquet(tmp_path / "rel.parquet")
    truth = pq.read_table(release, columns=["object_id", "label"]).to_pandas()
    assert scored["object_id"].tolist() == truth["object_id"].tolist()
    assert (scored["label_pred"] == truth["label"]).mean() > 1 / len(CLASSES)  # better than chance


def _curves(tmp_path, name, time, flux, err=None):
    path = tmp_path / name
    err = [0.01] * len(flux) if err is None else err
    pq.write_table(pa.table({"object_id": ["x1"], "time": [time], "flux": [flux], "flux_err": [err]}), path)
    return path


def _no_rows(tmp_path):
    path = tmp_path / "none.parquet"
    pq.write_table(pa.table({"object_id": pa.array([], pa.string()), "time": pa.array([], pa.list_(pa.float64())),
                             "flux": pa.array([], pa.list_(pa.float64()))}), path)
    return path


@pytest.mark.parametrize(
    "make_input, message",
    [
        (lambda d: d / "missing.fits", "no such file or folder"),
        (lambda d: (d / "notes.txt").write_text("hello") and d / "notes.txt", "unsupported input"),
        (lambda d: (d / "fake.fits").write_bytes(b"not a fits file") and d / "fake.fits",
         "not a readable mission light-curve FITS file"),
        (lambda d: (d / "fake.parquet").write_bytes(b"garbage") and d / "fake.parquet", "not a readable Parquet file"),
        (lambda d: _curves(d, "empty.parquet", [], []), "light curve 'x1' is empty"),
        (lambda d: _curves(d, "nan.parquet", [1.0, 2.0, 3.0, 4.0], [float("nan")] * 4), "all-NaN flux"),
        (lambda d: (d / "emptydir").mkdir() or d / "emptydir", "folder holds no .fits or .parquet files"),
        (_no_rows, "holds no light curves"),
    ],
    ids=["missing", "not-fits-or-parquet", "corrupt-fits", "corrupt-parquet", "empty-curve", "all-nan", "empty-dir",
         "no-rows"],
)
def test_predict_bad_input_is_one_clear_line(in_trained, tmp_path, make_input, message):
    path = make_input(tmp_path)
    out = tmp_path / "out.parquet"
    proc = lcml("predict", "--model", MODEL, "--input", str(path), "--output", str(out))
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and message in lines[0] and str(path) in lines[0]
    assert not out.exists()


def test_predict_folder_with_a_bad_file_scores_the_rest_and_lists_it(in_trained, real_data, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    fits = sorted((real_data / "kepler_fits").glob("*.fits"))[:2]
    for f in fits:
        (folder / f.name).symlink_to(f)
    (folder / "broken.fits").write_bytes(b"not a fits file")
    out = tmp_path / "pred.parquet"
    proc = lcml("predict", "--model", MODEL, "--input", str(folder), "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "2 light curves scored" in proc.stdout and f"1 could not be scored: see {tmp_path / 'pred.errors.csv'}" in proc.stdout
    assert sorted(pd.read_parquet(out)["object_id"]) == sorted(f.name.removesuffix(".fits") for f in fits)
    listed = pd.read_csv(tmp_path / "pred.errors.csv")
    assert listed["source"].tolist() == [str(folder / "broken.fits")]
    assert "not a readable mission light-curve FITS file" in listed["error"].iloc[0]
    # --strict (in-process: the same function): the bad file stops the run, nothing written
    from lcml.errors import InputError
    from lcml.serving.batch import score_to_parquet

    strict = tmp_path / "strict.parquet"
    with pytest.raises(InputError, match="broken.fits: not a readable mission light-curve FITS file"):
        score_to_parquet(MODEL, folder, strict, progress=False, strict=True)
    assert not strict.exists()


def test_predict_output_naming_a_directory_is_refused_before_scoring(in_trained, real_data, tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    proc = lcml("predict", "--model", MODEL, "--input", str(real_data / "kepler_fits"), "--output", str(folder))
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert f"error: --output {folder} is a directory" in proc.stderr
    assert "scoring" not in proc.stderr and not list(folder.iterdir())  # refused before any curve was scored


def test_predict_unknown_model(in_trained, real_data, tmp_path):
    proc = lcml("predict", "--model", "models:/nope@champion", "--input", str(real_data / "kepler_fits"),
                "--output", str(tmp_path / "o.parquet"))
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "error: model models:/nope@champion not found" in proc.stderr


def test_registry_status_json_and_table(in_trained):
    proc = lcml("registry", "status", "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["aliases"]["champion"] == "1"
    v1 = next(v for v in info["versions"] if v["version"] == "1")
    assert v1["verdict"] == "passed" and "balanced_accuracy" in v1["metrics"]
    table = lcml("registry", "status")
    assert table.returncode == 0 and "@champion→v1" in table.stdout


def test_unknown_profile_is_a_clear_error(project):
    proc = lcml("data", "build", "--profile", "nope")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "unknown profile 'nope'" in proc.stderr

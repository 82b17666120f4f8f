"""Mission FITS: every real file loads, quarters of one star stitch, a damaged file is rejected alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lcml.data.schema import LIGHTCURVE_SCHEMA
from lcml.data.sources.kepler import read_fits, read_fits_folder, read_target
from lcml.errors import InputError

KIC_Q2 = "kplr010002792-2009259160929_llc.fits"
KIC_Q5 = "kplr010002792-2010174085026_llc.fits"
TARGETS = {"KIC 10002792", "KIC 10666592", "KIC 5110407", "EPIC 211117077", "TIC 358108509", "TIC 25155310"}


@pytest.fixture(scope="module")
def fits_dir(real_data) -> Path:
    return real_data / "kepler_fits"


@pytest.fixture(scope="module")
def folder(fits_dir):
    return read_fits_folder(fits_dir, labels={"10002792": "ROT", "TIC 358108509": "FLARE"})


def test_every_real_file_loads_as_one_target(folder, fits_dir):
    assert len(list(fits_dir.glob("*.fits"))) == 7
    assert folder.rejected.empty
    assert set(folder.lightcurves.column("object_id").to_pylist()) == TARGETS
    assert folder.lightcurves.schema.equals(LIGHTCURVE_SCHEMA)
    objects = folder.objects.set_index("object_id")
    assert set(objects["mission"]) == {"Kepler", "K2", "TESS"}
    assert objects.loc["KIC 10002792", "n_segments"] == 2 and objects["n_segments"].sum() == 7
    assert (objects["n_dropped_points"] > 0).all()  # quality-flagged cadences are counted, not hidden
    for row in folder.lightcurves.to_pylist():
        assert len(row["time"]) > 3000 and np.all(np.diff(row["time"]) > 0)
        assert abs(np.median(row["flux"]) - 1) < 1e-3
    labels = dict(zip(folder.lightcurves.column("object_id").to_pylist(), folder.lightcurves.column("label").to_pylist()))
    assert labels["KIC 10002792"] == "ROT" and labels["TIC 358108509"] == "FLARE" and labels["KIC 5110407"] is None


def test_two_quarters_stitch_with_per_segment_normalisation(fits_dir):
    stitched = read_target([fits_dir / KIC_Q5, fits_dir / KIC_Q2])
    q2, q5 = read_fits(fits_dir / KIC_Q2), read_fits(fits_dir / KIC_Q5)
    assert stitched["object_id"] == "KIC 10002792"
    assert [p.name for p in stitched["files"]] == [KIC_Q2, KIC_Q5]
    time, flux = stitched["time"], stitched["flux"]
    assert len(time) == len(q2["time"]) + len(q5["time"]) and np.all(np.diff(time) > 0)
    n2 = stitched["segment_points"][0]
    assert time[n2 - 1] < time[n2]
    assert np.median(flux[:n2]) == pytest.approx(1, abs=1e-6)
    assert np.median(flux[n2:]) == pytest.approx(1, abs=1e-6)
    np.testing.assert_array_equal(flux[:n2], q2["flux"])
    np.testing.assert_array_equal(flux[n2:], q5["flux"])


def test_files_of_different_targets_do_not_stitch(fits_dir):
    with pytest.raises(InputError, match="different targets"):
        read_target([fits_dir / KIC_Q2, fits_dir / "ktwo211117077-c04_llc.fits"])
    with pytest.raises(InputError, match="no files"):
        read_target([])


def test_truncated_file_is_rejected_and_the_rest_still_load(fits_dir, tmp_path):
    for path in fits_dir.glob("*.fits"):
        (tmp_path / path.name).symlink_to(path)
    broken = tmp_path / "kplr999999999-2009259160929_llc.fits"
    broken.write_bytes((fits_dir / KIC_Q2).read_bytes()[:3000])
    (tmp_path / "SOURCES.md").write_text("not an input")
    result = read_fits_folder(tmp_path)
    assert set(result.lightcurves.column("object_id").to_pylist()) == TARGETS
    assert len(result.rejected) == 1
    rejected = result.rejected.iloc[0]
    assert rejected["object_id"] is None and rejected["source"] == str(broken)
    assert str(broken) in rejected["reason"] and "not a readable mission light-curve FITS file" in rejected["reason"]


def test_missing_or_empty_folder(tmp_path):
    with pytest.raises(InputError, match="no such folder"):
        read_fits_folder(tmp_path / "nope")
    with pytest.raises(InputError, match="holds no FITS files"):
        read_fits_folder(tmp_path)


def test_a_folder_shows_progress_over_its_files(fits_dir, monkeypatch, caplog):
    import lcml.data.sources as sources

    monkeypatch.setattr(sources, "PROGRESS_EVERY_S", 0.0)  # a line per file; 5 s apart normally
    with caplog.at_level("INFO", logger="lcml.data"):
        read_fits_folder(fits_dir)
    lines = [r.getMessage() for r in caplog.records if r.name == "lcml.data"]
    assert lines[0].startswith("read 1 of ") and lines[0].endswith(" FITS files (14%)")
    assert lines[-1].startswith(f"read {len(list(fits_dir.glob('*.fits')))} of ") and lines[-1].endswith("(100%)")
    assert len(lines) == len(list(fits_dir.glob("*.fits")))

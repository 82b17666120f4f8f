"""AstroM3 reader on a small dataset folder that the test writes in the published layout."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from lcml.data.schema import LIGHTCURVE_SCHEMA
from lcml.surveys import classes_for
from lcml.data.sources.astrom3 import (
    ASTROM3_METADATA_COLUMNS,
    ASTROM3_PHOTO_COLUMNS,
    MultimodalIngested,
    read_astrom3,
)
from lcml.errors import InputError

GOOD_TABLE, GOOD_IMAGE, MISSING_SPEC, BAD_PHOT = (
    "ASASSN-V J000001.00+000001.0",
    "ASASSN-V J000002.00+000002.0",
    "ASASSN-V J000003.00+000003.0",
    "ASASSN-V J000004.00+000004.0",
)


def _lc_text(rng: np.random.Generator, n: int = 40) -> str:
    hjd = 2456000.5 + np.sort(rng.uniform(0, 1000, n))
    mag = 12 + 0.3 * np.sin(hjd / 0.37) + rng.normal(0, 0.02, n)
    lines = ["#ASAS-SN V-band light curve", "HJD MAG MAG_ERR FLUX FLUX_ERR"]
    lines += [f"{t:.5f} {m:.3f} 0.020 {10 ** (-0.4 * (m - 16.4)):.3f} 0.5" for t, m in zip(hjd, mag)]
    lines.append(f"{hjd[-1] + 1:.5f} >13.900 99.990 0.0 0.5")  # upper limit: not a point
    return "\n".join(lines) + "\n"


def _table_spectrum(path: Path, n: int = 3000) -> None:
    wavelength = np.geomspace(3690, 9100, n)
    columns = [fits.Column(name=name, format=f"{n}E", array=values[None, :])
               for name, values in (("FLUX", np.full(n, 100.0)), ("IVAR", np.full(n, 0.01)), ("WAVELENGTH", wavelength))]
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(columns)]).writeto(path)


def _image_spectrum(path: Path, n: int = 3000) -> None:
    hdu = fits.PrimaryHDU(np.vstack([np.full(n, 50.0), np.full(n, 0.04), np.zeros(n)]).astype(np.float32))
    hdu.header["COEFF0"], hdu.header["COEFF1"] = np.log10(3690.0), 1e-4
    hdu.writeto(path)


def _dataset(root: Path, zipped: bool = False) -> Path:
    rng = np.random.default_rng(7)
    meta = {c: rng.normal(size=4) for c in ASTROM3_METADATA_COLUMNS + ASTROM3_PHOTO_COLUMNS}
    table = pd.DataFrame({"name": [GOOD_TABLE, GOOD_IMAGE, MISSING_SPEC, BAD_PHOT],
                          "target": ["RRAB", "EW", "SR", "M"],
                          "spec_filename": ["spec-1.fits", "spec-2.fits", "spec-3.fits", "spec-4.fits"], **meta})
    splits = root / "splits" / "full" / "42"
    splits.mkdir(parents=True)
    table.iloc[:2].to_csv(splits / "train.csv", index=False)
    table.iloc[2:3].to_csv(splits / "val.csv", index=False)
    table.iloc[3:].to_csv(splits / "test.csv", index=False)
    files = {f"{n.replace(' ', '')}.dat": _lc_text(rng) for n in (GOOD_TABLE, GOOD_IMAGE, MISSING_SPEC)}
    files[f"{BAD_PHOT.replace(' ', '')}.dat"] = "\x00\x01 binary garbage\nnot a light curve at all\n"
    if zipped:
        with zipfile.ZipFile(root / "photometry.zip", "w") as archive:
            for name, text in files.items():
                archive.writestr(f"vardb_files/{name}", text)
    else:
        (root / "photometry").mkdir()
        for name, text in files.items():
            (root / "photometry" / name).write_text(text)
    for cls in ("RRAB", "EW", "M"):
        (root / "spectra" / cls).mkdir(parents=True)
    _table_spectrum(root / "spectra" / "RRAB" / "spec-1.fits")
    _image_spectrum(root / "spectra" / "EW" / "spec-2.fits")
    _table_spectrum(root / "spectra" / "M" / "spec-4.fits")  # spec-3.fits is missing on purpose
    return root


@pytest.fixture(scope="module")
def ingested(tmp_path_factory) -> MultimodalIngested:
    return read_astrom3(_dataset(tmp_path_factory.mktemp("astrom3")))


def test_objects_are_ingested_or_rejected_with_reasons(ingested):
    assert isinstance(ingested, MultimodalIngested)
    assert ingested.lightcurves.schema.equals(LIGHTCURVE_SCHEMA)
    assert ingested.lightcurves.column("object_id").to_pylist() == [GOOD_TABLE, GOOD_IMAGE, MISSING_SPEC]
    assert ingested.lightcurves.column("label").to_pylist() == ["RRAB", "EW", "SR"]
    assert set(ingested.lightcurves.column("label").to_pylist()) <= set(classes_for("astrom3"))
    assert len(ingested.rejected) == 1
    bad = ingested.rejected.iloc[0]
    assert bad["object_id"] == BAD_PHOT and bad["source"].endswith("ASASSN-VJ000004.00+000004.0.dat")
    assert bad["reason"].startswith("unreadable photometry")


def test_photometry_is_converted_and_upper_limits_are_counted(ingested):
    objects = ingested.objects.set_index("object_id")
    assert (objects["n_points"] == 40).all() and (objects["n_dropped_points"] == 1).all()
    assert objects["astrom3_split"].tolist() == ["train", "train", "val"]
    for row in ingested.lightcurves.to_pylist():
        assert np.all(np.diff(row["time"]) > 0) and row["time"][0] > 2456000
        assert np.median(row["flux"]) == pytest.approx(1, abs=0.01)
        np.testing.assert_allclose(row["flux_err"], 0.4 * np.log(10) * np.asarray(row["flux"]) * 0.02, rtol=1e-5)


def test_spectra_in_both_lamost_layouts_and_a_missing_one(ingested):
    spectra = ingested.spectra.set_index("object_id")
    assert list(spectra.index) == [GOOD_TABLE, GOOD_IMAGE]
    for oid, flux in ((GOOD_TABLE, 100.0), (GOOD_IMAGE, 50.0)):
        wavelength = np.asarray(spectra.loc[oid, "wavelength"])
        assert wavelength.min() >= 3850 and wavelength.max() <= 9000 and len(wavelength) > 1000
        assert len(spectra.loc[oid, "flux"]) == len(spectra.loc[oid, "ivar"]) == len(wavelength)
        assert np.allclose(spectra.loc[oid, "flux"], flux)
    objects = ingested.objects.set_index("object_id")
    assert objects["has_spectrum"].tolist() == [True, True, False]
    assert "spec-3.fits not found" in objects.loc[MISSING_SPEC, "spectrum_issue"]


def test_metadata_columns_reach_objects(ingested):
    assert len(ASTROM3_METADATA_COLUMNS) == len(set(ASTROM3_METADATA_COLUMNS)) == 34
    assert ingested.objects.columns[0] == "object_id"
    assert set(ASTROM3_METADATA_COLUMNS + ASTROM3_PHOTO_COLUMNS) <= set(ingested.objects.columns)


def test_zipped_photometry_and_one_split(tmp_path):
    result = read_astrom3(_dataset(tmp_path, zipped=True), split="train")
    assert result.lightcurves.column("object_id").to_pylist() == [GOOD_TABLE, GOOD_IMAGE]
    assert result.rejected.empty and len(result.spectra) == 2


def test_layout_errors(tmp_path):
    with pytest.raises(InputError, match="no such folder"):
        read_astrom3(tmp_path / "nope")
    with pytest.raises(InputError, match="no train.csv or train.parquet"):
        read_astrom3(tmp_path, split="train")
    with pytest.raises(InputError, match="unknown AstroM3 split"):
        read_astrom3(tmp_path, split="validation")
    root = _dataset(tmp_path / "d")
    pd.DataFrame({"id": ["x"]}).to_csv(root / "other.csv", index=False)
    with pytest.raises(InputError, match="other.csv: missing column\\(s\\) name, target"):
        read_astrom3(root, table="other.csv")

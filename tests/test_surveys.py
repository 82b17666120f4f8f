"""SURVEYS is the one list of surveys: every entry is released, validated and announced on a tiny
fixture, and a survey it does not list is refused up front in one line."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from lcml.errors import InputError
from lcml.surveys import FITS_SUFFIXES, SURVEYS, classes_for

#: the real mission files of each FITS survey (../shared/data/kepler_fits)
FITS = {"kepler": ["kplr010002792-2009259160929_llc.fits"], "k2": ["ktwo211117077-c04_llc.fits"],
        "tess": ["tess2018206045859-s0001-0000000358108509-0120-s_lc.fits",
                 "hlsp_tess-data-alerts_tess_phot_00025155310-s01_tess_v1_lc.fits"]}


def _fits_source(name: str, real_data: Path, root: Path) -> tuple[Path, Path]:
    folder = root / f"{name}-fits"
    folder.mkdir()
    for file in FITS[name]:
        shutil.copy(real_data / "kepler_fits" / file, folder / file)
    taxonomy = classes_for(name)
    ids = [f.split("-")[0].removeprefix("kplr").removeprefix("ktwo") if not f.startswith(("tess", "hlsp")) else
           ("358108509" if f.startswith("tess") else "25155310") for f in FITS[name]]
    column = {"kepler": "kic", "k2": "epic", "tess": "tic"}[name]
    labels = root / f"{name}-labels.csv"
    pd.DataFrame({column: ids, "label": [taxonomy[i % len(taxonomy)] for i in range(len(ids))]}).to_csv(labels, index=False)
    return folder, labels


def _catalina_source(name: str, root: Path) -> Path:
    rng = np.random.default_rng(1)
    taxonomy = classes_for(name)
    rows = []
    for i in range(6):
        mjd = np.sort(rng.uniform(53500, 56500, 60))
        rows.append({"id": f"{name}-{i}", "label": taxonomy[i % len(taxonomy)], "mjd": mjd,
                     "mag": 15 + 0.3 * np.sin(mjd / 0.61) + rng.normal(0, 0.02, mjd.size),
                     "mag_err": np.full(mjd.size, 0.03)})
    path = root / f"{name}.parquet"
    pd.DataFrame(rows).to_parquet(path)
    return path


def _k2_folded_source(root: Path) -> Path:
    taxonomy = classes_for("k2")
    phase = np.linspace(0, 1, 64, endpoint=False)
    frame = pd.DataFrame({"epic": list(range(1, 7)), "campaign": [1] * 6,
                          "label": [taxonomy[i % len(taxonomy)] for i in range(6)],
                          "flux": [1 + 0.1 * np.sin(2 * np.pi * (phase + i / 6)) for i in range(6)]})
    path = root / "k2sc_phasefolded_64bin.parquet"
    frame.to_parquet(path)
    return path


def _source(name: str, real_data: Path, root: Path) -> tuple[Path, Path | None]:
    if name in FITS and name != "k2":
        return _fits_source(name, real_data, root)
    if name == "k2":
        return _k2_folded_source(root), None
    if name in ("catalina-sss", "crts"):
        return _catalina_source(name, root), None
    if name == "astrom3":
        from tests.data.sources.test_astrom3 import BAD_PHOT, _dataset, _lc_text

        folder = _dataset(root / "astrom3")
        bad = folder / "photometry" / f"{BAD_PHOT.replace(' ', '')}.dat"  # that fixture's unreadable curve, mended
        bad.write_text(_lc_text(np.random.default_rng(3)))
        for split in (folder / "splits" / "full" / "42").glob("*.csv"):  # plausible catalog values
            table = pd.read_csv(split)
            numbers = table.select_dtypes("number").columns
            table[numbers] = table[numbers].abs() + 0.1
            table.to_csv(split, index=False)
        return folder, None
    raise AssertionError(f"no fixture for survey {name}: add one when adding a survey to SURVEYS")


def test_every_survey_is_released_validated_and_announced(project, real_data, tmp_path):
    from lcml import pipeline
    from lcml.assets import release_assets

    uris = {asset.uri for asset in release_assets()}
    released = {}
    for name in SURVEYS:
        source, labels = _source(name, real_data, tmp_path)
        rid = pipeline.release_from_source(name, source, "v1", labels=labels)
        summary = pipeline.validate(rid)
        assert summary["passed"] and summary["n_accepted"] >= 1, (name, summary)
        released[name] = rid
    published = pipeline.publish(released["kepler"])
    for name, rid in released.items():
        survey, extra = pipeline.announcement(rid, published)
        assert survey == name and extra["release"] == rid
        assert f"lcml://releases/{name}" in uris  # the DAG's outlet exists for every survey


def test_k2_fits_folder_is_the_second_reader(project, real_data, tmp_path):
    from lcml import pipeline

    folder, labels = _fits_source("k2", real_data, tmp_path)
    rid = pipeline.release_from_source("k2", folder, "fits-v1", labels=labels)
    assert pipeline.validate(rid)["n_accepted"] == 1


def test_tess_release_from_the_cli_ends_in_success(project, real_data, tmp_path):
    from lcml.cli import app

    folder, labels = _fits_source("tess", real_data, tmp_path)
    result = CliRunner().invoke(app, ["data", "release", "tess", "--source", str(folder), "--labels", str(labels),
                                      "--version", "v1"])
    assert result.exit_code == 0, result.output
    assert "built tess/v1" in result.output and "validated: 2/2 objects accepted" in result.output


def test_unknown_survey_is_one_line_before_anything_is_read(project, tmp_path):
    from lcml import pipeline
    from lcml.cli import app

    with pytest.raises(InputError, match="unknown survey 'ztf'; known: kepler, k2, tess, catalina-sss, crts, astrom3"):
        pipeline.release_from_source("ztf", tmp_path / "nothing", "v1")
    result = CliRunner().invoke(app, ["data", "release", "ztf", "--source", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == ["error: unknown survey 'ztf'; known: kepler, k2, tess, catalina-sss, "
                                                  "crts, astrom3"]


def test_a_source_no_reader_accepts_names_the_accepted_ones(project, tmp_path):
    from lcml import pipeline

    (tmp_path / "one.parquet").write_bytes(b"")
    with pytest.raises(InputError, match="astrom3 releases are built from: an AstroM3 dataset folder"):
        pipeline.release_from_source("astrom3", tmp_path / "one.parquet", "v1")


def test_fits_suffixes_and_missions_come_from_the_table():
    from lcml.data.fetch import MISSIONS

    assert set(MISSIONS) == {"kepler", "k2", "tess"} == {n for n, s in SURVEYS.items() if s.mission}
    assert ".fits" in FITS_SUFFIXES
    assert {n for n, s in SURVEYS.items() if s.simulated} == {"kepler", "k2", "astrom3"}

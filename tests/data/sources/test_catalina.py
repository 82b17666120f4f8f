"""Catalina SSS / CRTS readers on 500-star samples of the real files and on small text files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from lcml.config import Paths
from lcml.data.release import read_manifest, write_release
from lcml.data.schema import LIGHTCURVE_SCHEMA
from lcml.surveys import classes_for
from lcml.data.sources.catalina import read_catalina_parquet
from lcml.data.sources.catalina_text import read_catalina_text
from lcml.data.validation.validate import row_checks
from lcml.errors import InputError

N = 500


@pytest.fixture(scope="module")
def sss(real_data):
    return read_catalina_parquet(real_data / "catalina_sss" / "train.parquet", "catalina-sss", limit=N, sample_seed=0)


@pytest.fixture(scope="module")
def crts(real_data):
    return read_catalina_parquet(real_data / "crts" / "train.parquet", "crts", limit=N, sample_seed=0)


def test_sss_sample_is_fully_accounted_in_canonical_form(sss):
    assert sss.lightcurves.num_rows + len(sss.rejected) == N
    assert sss.lightcurves.num_rows == N  # the real split has no unreadable star
    assert sss.lightcurves.schema.equals(LIGHTCURVE_SCHEMA)
    assert not sss.folded
    assert set(sss.lightcurves.column("label").to_pylist()) <= set(classes_for("catalina-sss"))
    assert list(sss.objects.columns[:1]) == ["object_id"]
    assert {"period", "amplitude", "vmag", "ra", "dec", "type_code", "n_dropped_points"} <= set(sss.objects.columns)
    assert sss.objects["object_id"].tolist() == sss.lightcurves.column("object_id").to_pylist()
    assert sss.conversion.startswith("flux = 10**(-0.4*(mag - median(mag))); flux_err = 0.4*ln(10)*flux*mag_err")


def test_sample_is_reproducible_and_seed_dependent(real_data, sss):
    path = real_data / "catalina_sss" / "train.parquet"
    again = read_catalina_parquet(path, "catalina-sss", limit=N, sample_seed=0)
    other = read_catalina_parquet(path, "catalina-sss", limit=N, sample_seed=1)
    ids = sss.lightcurves.column("object_id").to_pylist()
    assert again.lightcurves.column("object_id").to_pylist() == ids
    assert other.lightcurves.column("object_id").to_pylist() != ids


def test_flux_follows_the_recorded_conversion(real_data, sss):
    raw = pq.read_table(real_data / "catalina_sss" / "train.parquet", columns=["id", "mjd", "mag", "mag_err"])
    raw = raw.filter(pc.is_in(raw["id"], value_set=pa.array(sss.lightcurves.column("object_id")[:20])))
    got = {r["object_id"]: r for r in sss.lightcurves.slice(0, 20).to_pylist()}
    for row in raw.to_pylist():
        mjd, mag, err = (np.asarray(row[c], float) for c in ("mjd", "mag", "mag_err"))
        keep = mjd > 0
        flux = 10 ** (-0.4 * (mag[keep] - np.median(mag[keep])))
        curve = got[row["id"]]
        np.testing.assert_array_equal(curve["time"], mjd[keep])
        np.testing.assert_allclose(curve["flux"], flux, rtol=1e-6)
        np.testing.assert_allclose(curve["flux_err"], 0.4 * np.log(10) * flux * err[keep], rtol=1e-5)


def test_labels_and_type_codes_agree_with_the_readme(sss):
    from lcml.data.schema import CATALINA_SSS_TYPE_CODES

    labels = dict(zip(sss.lightcurves.column("object_id").to_pylist(), sss.lightcurves.column("label").to_pylist()))
    mapped = sss.objects["type_code"].map(CATALINA_SSS_TYPE_CODES)
    assert (mapped.to_numpy() == sss.objects["object_id"].map(labels).to_numpy()).all()


def test_duplicate_times_pass_through_for_validation(sss):
    checks = row_checks(sss.lightcurves.to_pandas())
    assert checks["values_finite"].all() and checks["flux_err_positive"].all()
    # the only monotonicity failures are the repeated timestamps the reader counted, nothing else
    assert (~checks["time_increasing"]).to_numpy().tolist() == (sss.objects["n_duplicate_times"] > 0).tolist()
    assert (sss.objects["n_duplicate_times"] > 0).any()


def test_crts_sample(crts):
    assert crts.lightcurves.num_rows + len(crts.rejected) == N
    assert set(crts.lightcurves.column("label").to_pylist()) <= set(classes_for("crts"))
    assert {"ra", "dec"} <= set(crts.objects.columns) and "type_code" not in crts.objects.columns
    flux = crts.lightcurves.column("flux").to_pylist()
    assert all(abs(np.median(f) - 1) < 0.02 for f in flux)


def test_points_and_objects_that_cannot_be_used(tmp_path):
    nan = float("nan")
    table = pa.table(
        {
            "id": ["ok", "sentinel", "empty", "ragged", None],
            "label": ["EW", "EA", "RRab", "Rot", "EW"],
            "mjd": [[1.0, 2.0, 2.0, 3.0], [-2409998.5, 5.0, 6.0, 7.0], [nan, nan], [1.0, 2.0], [1.0]],
            "mag": [[15.0, 15.5, 15.5, 16.0], [14.0, 14.0, nan, 14.5], [15.0, 15.0], [15.0], [15.0]],
            "mag_err": [[0.1] * 4, [0.1] * 4, [0.1, 0.1], [0.1, 0.1], [0.1]],
        },
        schema=pa.schema([("id", pa.string()), ("label", pa.string()), ("mjd", pa.list_(pa.float64())),
                          ("mag", pa.list_(pa.float32())), ("mag_err", pa.list_(pa.float32()))]),
    )
    pq.write_table(table, tmp_path / "tiny.parquet")
    result = read_catalina_parquet(tmp_path / "tiny.parquet", "crts")
    assert result.lightcurves.column("object_id").to_pylist() == ["ok", "sentinel"]
    assert dict(zip(result.objects["object_id"], result.objects["n_dropped_points"])) == {"ok": 0, "sentinel": 2}
    assert dict(zip(result.objects["object_id"], result.objects["n_duplicate_times"])) == {"ok": 1, "sentinel": 0}
    assert result.lightcurves.column("time").to_pylist()[1] == [5.0, 7.0]
    reasons = dict(zip(result.rejected["source"].str.extract(r"row (\d)")[0], result.rejected["reason"]))
    assert set(reasons) == {"2", "3", "4"}
    assert "no parseable point" in reasons["2"] and "lengths differ" in reasons["3"] and reasons["4"] == "no id"
    sampled = read_catalina_parquet(tmp_path / "tiny.parquet", "crts", limit=4, sample_seed=3)
    assert sampled.lightcurves.num_rows + len(sampled.rejected) == 4
    file_row = {"empty": "2", "ragged": "3", None: "4"}
    for oid, where in zip(sampled.rejected["object_id"], sampled.rejected["source"]):
        assert where.endswith(f"row {file_row[oid]}")  # rows are named as in the file, not the sample
    with pytest.raises(InputError, match="unknown Catalina survey"):
        read_catalina_parquet(tmp_path / "tiny.parquet", "ogle")
    pq.write_table(table.drop(["mag_err"]), tmp_path / "bad.parquet")
    with pytest.raises(InputError, match="bad.parquet: missing column\\(s\\) mag_err"):
        read_catalina_parquet(tmp_path / "bad.parquet")


def _write_dat(path: Path, mjd, mag, err, header: str = "") -> None:
    lines = [header] if header else []
    lines += [f"{t:.7f} {m:.6f} {e:.6f}" for t, m, e in zip(mjd, mag, err)]
    path.write_text("\n".join(lines) + "\n")


def test_text_layouts_match_the_parquet_reader(tmp_path, real_data, sss):
    raw = pq.read_table(real_data / "catalina_sss" / "train.parquet", columns=["id", "mjd", "mag", "mag_err"])
    first = raw.filter(pc.equal(raw["id"], sss.lightcurves.column("object_id")[0])).to_pylist()[0]
    _write_dat(tmp_path / f"{first['id']}.dat", first["mjd"], first["mag"], first["mag_err"],
               header="# Catalina SSS light curve\n# MJD mag err")
    text = read_catalina_text(tmp_path, labels={first["id"]: "RRab"})
    ours = text.lightcurves.to_pylist()[0]
    theirs = sss.lightcurves.slice(0, 1).to_pylist()[0]
    assert ours["object_id"] == theirs["object_id"] and ours["label"] == "RRab"
    np.testing.assert_allclose(ours["time"], theirs["time"], atol=1e-6)
    np.testing.assert_allclose(ours["flux"], theirs["flux"], rtol=1e-5)


def test_crts_csv_and_dat_files(tmp_path):
    (tmp_path / "crts.csv").write_text(
        "masterid, mjd ,MAG,MagErr,RA,Dec\n"
        "1109065026725,53705.1,17.1,0.1,10.0,-2.0\n"
        "1109065026725,53706.1,17.3,0.1,10.0002,-2.0\n"
        "1109065026725,53707.1,nan,0.1,10.0001,-2.0\n"
        "2209065026725,53705.1,15.0,0.05,20.0,5.0\n"
        "2209065026725,53705.1,15.2,0.05,20.0,5.0\n"
        ",53705.1,15.2,0.05,20.0,5.0\n"
        "3309065026725,abc,15.2,0.05,30.0,5.0\n"
    )
    (tmp_path / "star_a.dat").write_text("# MJD mag err\n53000.5 16.0 0.2\n53001.5 16.2 0.2\n\n53002.5 15.8 0.2\n")
    (tmp_path / "notes.md").write_text("not a light curve")
    result = read_catalina_text(tmp_path, labels={"star_a": "EW", "2209065026725": "RRc"})
    assert result.lightcurves.column("object_id").to_pylist() == ["1109065026725", "2209065026725", "star_a"]
    assert result.lightcurves.column("label").to_pylist() == [None, "RRc", "EW"]
    objects = result.objects.set_index("object_id")
    assert objects.loc["1109065026725", "n_dropped_points"] == 1
    assert objects.loc["1109065026725", "ra"] == pytest.approx(10.0001)
    assert objects.loc["2209065026725", "n_duplicate_times"] == 1  # kept for validation to judge
    assert np.isnan(objects.loc["star_a", "ra"])
    rejected = result.rejected.set_index("reason")
    assert len(result.rejected) == 2
    assert any(r.startswith("1 row(s) without an ID") for r in rejected.index)
    assert result.rejected["object_id"].tolist().count("3309065026725") == 1
    np.testing.assert_allclose(result.lightcurves.column("flux").to_pylist()[2], 10 ** (-0.4 * np.array([0, 0.2, -0.2])),
                               rtol=1e-6)


def test_text_files_with_wrong_columns_name_file_and_layout(tmp_path):
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("ID,Time,Mag\n1,2,3\n")
    expected = r"bad\.csv: CSV lacks column\(s\) MJD, Magerr; expected header ID,MJD,Mag,Magerr"
    with pytest.raises(InputError, match=expected):
        read_catalina_text([bad_csv])
    bad_dat = tmp_path / "four.dat"
    bad_dat.write_text("53000.5 16.0 0.2 1\n53001.5 16.2 0.2 1\n")
    with pytest.raises(InputError, match=r"four\.dat: 4 whitespace-separated columns; expected 3: MJD mag err"):
        read_catalina_text(bad_dat)
    with pytest.raises(InputError, match="no such file or folder"):
        read_catalina_text(tmp_path / "missing")


def test_sample_writes_a_release(tmp_path, sss):
    paths = Paths(project=tmp_path, home=tmp_path / ".lcml")
    folder = write_release(paths, "catalina-sss/sample-v1", sss.lightcurves, source=sss.source,
                           objects=sss.objects, conversion=sss.conversion)
    manifest = read_manifest(folder)
    assert manifest["n_objects"] == N and manifest["flux_conversion"] == sss.conversion
    assert pd.read_parquet(folder / "objects.parquet")["object_id"].tolist() == sss.objects["object_id"].tolist()


@pytest.mark.parametrize(("folder", "survey"), [("catalina_sss", "catalina-sss"), ("crts", "crts")])
def test_taxonomy_is_exactly_the_classes_of_the_real_file(real_data, folder, survey):
    labels = pq.read_table(real_data / folder / "train.parquet", columns=["label"]).column("label").to_pylist()
    assert set(labels) == set(classes_for(survey)) and len(classes_for(survey)) == len(set(classes_for(survey)))

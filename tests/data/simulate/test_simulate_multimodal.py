"""AstroM3-like multimodal simulator (lcml.data.simulate.multimodal)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from astropy.io import fits

from lcml.data.schema import LIGHTCURVE_SCHEMA
from lcml.surveys import classes_for
from lcml.data.simulate.multimodal import (
    ASTROM3_CLASSES,
    READER_COLUMNS,
    TRUTH_COLUMNS,
    MultimodalSimulated,
    asassn_name,
    galactic_to_icrs,
    lamost_grid,
    simulate_multimodal,
)
from lcml.data.sources.astrom3 import (
    ASTROM3_METADATA_COLUMNS,
    ASTROM3_PHOTO_COLUMNS,
    MultimodalIngested,
    read_astrom3,
)

EQUAL = {c: 1.0 for c in ASTROM3_CLASSES}
NAME = re.compile(r"^ASASSN-V J\d{6}\.\d{2}[+-]\d{6}\.\d$")


@pytest.fixture(scope="module")
def sim() -> MultimodalSimulated:
    return simulate_multimodal(150, seed=4, unlabeled_fraction=0.2, n_points=120, spectrum_bins=800,
                               class_fractions=EQUAL)


def _by_class(sim: MultimodalSimulated, frame: pd.DataFrame) -> pd.core.groupby.DataFrameGroupBy:
    return frame.assign(cls=sim.truth["label"].to_numpy()).groupby("cls")


def _band(sim: MultimodalSimulated, lo: float, hi: float) -> np.ndarray:
    """Median flux of each spectrum between ``lo`` and ``hi`` Angstrom."""
    return np.array([np.median(f[(w >= lo) & (w <= hi)])
                     for w, f in zip(sim.spectra["wavelength"], sim.spectra["flux"])])


def test_classes_are_the_astrom3_taxonomy():
    assert ASTROM3_CLASSES == classes_for("astrom3") and len(ASTROM3_CLASSES) == 10


def test_every_object_has_all_three_modalities_in_the_same_order(sim):
    ids = sim.lightcurves.column("object_id").to_pylist()
    assert len(ids) == len(set(ids)) == 150
    assert all(NAME.match(i) for i in ids)
    assert sim.spectra["object_id"].tolist() == ids
    assert sim.objects["object_id"].tolist() == ids
    assert sim.truth["object_id"].tolist() == ids
    assert sim.objects["has_spectrum"].all() and sim.objects["spectrum_issue"].isna().all()
    assert sim.objects[list(ASTROM3_METADATA_COLUMNS)].notna().all().all()


def test_layout_is_the_readers(sim):
    assert sim.lightcurves.schema.equals(LIGHTCURVE_SCHEMA)
    assert list(sim.spectra.columns) == ["object_id", "wavelength", "flux", "ivar"]
    assert list(sim.objects.columns) == [*READER_COLUMNS, "spec_filename", *ASTROM3_METADATA_COLUMNS,
                                         *ASTROM3_PHOTO_COLUMNS]
    assert list(sim.truth.columns) == list(TRUTH_COLUMNS)
    ingested = sim.to_ingested()
    assert isinstance(ingested, MultimodalIngested)
    assert ingested.lightcurves.equals(sim.lightcurves) and ingested.rejected.empty
    assert ingested.spectra is sim.spectra and "mag" in ingested.conversion


def test_light_curves_are_asassn_like(sim):
    n_total = sim.objects["n_points"] + sim.objects["n_dropped_points"]
    assert n_total.between(0.7 * 120 - 1, 1.3 * 120 + 1).all()
    for row, n in zip(sim.lightcurves.to_pylist(), sim.objects["n_points"]):
        t, f, e = (np.asarray(row[c], dtype=float) for c in ("time", "flux", "flux_err"))
        assert t.size == n >= 10
        assert (np.diff(t) > 0).all() and 2455950 <= t[0] and t[-1] <= 2458451
        assert t[-1] - t[0] > 365  # years of seasons, not one run
        assert np.isfinite(f).all() and (f > 0).all() and (e > 0).all()
        assert np.median(f) == pytest.approx(1.0, abs=0.05)  # relative to the median magnitude


def test_light_curves_round_trip_through_the_reader(sim, tmp_path):
    """Written out as AstroM3 files (split CSV, ASAS-SN .dat, LAMOST FITS), the reader gives back
    the same light curves, spectra and object columns."""
    sub = MultimodalSimulated(sim.lightcurves.slice(0, 6), sim.spectra.iloc[:6], sim.objects.iloc[:6],
                              sim.truth.iloc[:6])
    root = tmp_path / "astrom3"
    (root / "photometry").mkdir(parents=True)
    (root / "spectra").mkdir()
    for row, obj in zip(sub.lightcurves.to_pylist(), sub.objects.itertuples()):
        flux, err = np.asarray(row["flux"], dtype=float), np.asarray(row["flux_err"], dtype=float)
        mag = obj.ref_mag - 2.5 * np.log10(flux)
        mag_err = err / (0.4 * np.log(10) * flux)
        lines = ["HJD MAG MAG_ERR"] + [f"{float(t)!r} {float(m)!r} {float(s)!r}"
                                       for t, m, s in zip(row["time"], mag, mag_err)]
        # Points fainter than the night's limit are upper limits in the files; the reader counts them.
        lines += [f"{row['time'][-1] + k + 1:.5f} >17.000 99.990" for k in range(obj.n_dropped_points)]
        (root / "photometry" / (obj.object_id.replace(" ", "") + ".dat")).write_text("\n".join(lines) + "\n")
    for spec, name in zip(sub.spectra.itertuples(), sub.objects["spec_filename"]):
        n = spec.wavelength.size
        cols = [fits.Column(name=k, format=f"{n}{'D' if k == 'WAVELENGTH' else 'E'}", array=v[None, :])
                for k, v in (("FLUX", spec.flux), ("IVAR", spec.ivar), ("WAVELENGTH", spec.wavelength))]
        fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(cols)]).writeto(root / "spectra" / name)
    table = sub.objects.drop(columns=list(READER_COLUMNS)).assign(
        name=sub.objects["object_id"], target=sub.lightcurves.column("label").to_pylist())
    table.to_csv(tmp_path / "table.csv", index=False)

    got = read_astrom3(root, table=tmp_path / "table.csv")
    assert got.rejected.empty
    assert got.lightcurves.column("object_id").equals(sub.lightcurves.column("object_id"))
    assert got.lightcurves.column("label").to_pylist() == sub.lightcurves.column("label").to_pylist()
    for a, b in zip(got.lightcurves.to_pylist(), sub.lightcurves.to_pylist()):
        np.testing.assert_allclose(a["time"], b["time"], rtol=0, atol=1e-9)
        np.testing.assert_allclose(a["flux"], b["flux"], rtol=1e-5)
        np.testing.assert_allclose(a["flux_err"], b["flux_err"], rtol=1e-5)
    for a, b in zip(got.spectra.itertuples(), sub.spectra.itertuples()):
        np.testing.assert_allclose(a.wavelength, b.wavelength)
        np.testing.assert_array_equal(a.flux, b.flux)
        np.testing.assert_array_equal(a.ivar, b.ivar)
    reader_cols = [c for c in got.objects.columns if c != "astrom3_split"]
    assert set(got.objects.columns) == set(sub.objects.columns)
    pd.testing.assert_frame_equal(
        got.objects[reader_cols].drop(columns=["spectrum_issue"]).reset_index(drop=True),
        sub.objects[reader_cols].drop(columns=["spectrum_issue"]).reset_index(drop=True),
        check_dtype=False, rtol=1e-9)


def test_spectra_on_the_grid_finite_with_positive_ivar(sim):
    grid = lamost_grid(800)
    assert grid[0] == pytest.approx(3850) and grid[-1] == pytest.approx(9000)
    for spec in sim.spectra.itertuples():
        assert spec.wavelength.dtype == np.float64 and spec.flux.dtype == np.float32
        np.testing.assert_array_equal(spec.wavelength, grid)
        assert np.isfinite(spec.flux).all()
        assert np.isfinite(spec.ivar).all() and (spec.ivar > 0).all()
    native = lamost_grid()
    assert native.size == 3688
    np.testing.assert_allclose(np.diff(np.log10(native)), 1e-4, rtol=1e-9)


def test_cool_classes_have_redder_continua(sim):
    red_blue = _band(sim, 8000, 8400) / _band(sim, 4500, 4800)
    ratio = pd.Series(red_blue).groupby(sim.truth["label"].to_numpy())
    assert ratio.min()["M"] > ratio.max()["DSCT"]
    assert ratio.median()["M"] > ratio.median()["SR"] > ratio.median()["ROT"] > ratio.median()["EW"]
    assert ratio.median()["EW"] > ratio.median()["HADS"]
    # Across all stars, a cooler star has a redder spectrum (despite dust reddening and noise).
    rank = pd.Series(red_blue).rank().corr(-sim.truth["teff"].rank())
    assert rank > 0.85


def test_balmer_lines_strongest_in_a_stars_tio_in_m_giants(sim):
    teff = sim.truth["teff"].to_numpy()
    hbeta = 1 - _band(sim, 4855, 4867) / (0.5 * (_band(sim, 4790, 4820) + _band(sim, 4900, 4930)))
    hot, cool = teff > 7500, teff < 5000
    assert hot.sum() >= 10 and cool.sum() >= 10
    assert np.median(hbeta[hot]) > 0.2 > np.median(hbeta[cool])
    # The TiO head at 7054 A: flux just redward of the head falls below that just blueward of it.
    tio = _band(sim, 7060, 7120) / _band(sim, 6990, 7040)
    giants, warm = np.isin(sim.truth["label"], ["M"]), teff > 6000
    assert np.median(tio[giants]) < 0.7 < np.median(tio[warm])


def test_metadata_consistent_with_class(sim):
    meta = _by_class(sim, sim.objects).median(numeric_only=True)
    assert meta.loc["M", "bp_rp"] > 2.5 and meta.loc["SR", "bp_rp"] > 2.0
    assert meta.loc["SR", "bp_rp"] > meta.loc["ROT", "bp_rp"] > meta.loc["DSCT", "bp_rp"]
    assert meta.loc["M", "j_k"] > 1.0 > meta.loc["RRAB", "j_k"]
    # Circumstellar dust of Miras: an infrared excess (W3, W4 too noisy for faint stars to compare).
    assert meta.loc["M", "w1_w2"] > meta.loc["DSCT", "w1_w2"] + 0.1 and meta.loc["M", "w3_w4"] > 0.25
    # Nearby dwarfs (contact binaries, spotted stars) versus distant halo RR Lyrae.
    assert min(meta.loc["EW", "parallax"], meta.loc["ROT", "parallax"]) > 2 * meta.loc["RRAB", "parallax"]
    # Halo RR Lyrae lie further from the plane than young disc stars (A-F binaries, delta Scuti).
    abs_b, label = sim.objects["b"].abs(), sim.truth["label"]
    assert abs_b[label.isin(["RRAB", "RRC"])].median() > abs_b[label.isin(["EA", "EB", "DSCT", "HADS"])].median()
    # Catalog features: periods in each class's range, Miras with huge amplitudes.
    photo = _by_class(sim, sim.objects[["period", "amplitude"]])
    assert photo.max()["period"]["HADS"] <= 0.25 and photo.min()["period"]["M"] >= 100
    assert photo.min()["amplitude"]["M"] > 1.5 and photo.median()["amplitude"]["DSCT"] < 0.2


def test_metadata_columns_agree_with_each_other(sim):
    o = sim.objects
    np.testing.assert_allclose(o["j_k"], o["j_mag"] - o["k_mag"])
    np.testing.assert_allclose(o["w1_w2"], o["w1_mag"] - o["w2_mag"])
    np.testing.assert_allclose(o["w3_w4"], o["w3_mag"] - o["w4_mag"])
    np.testing.assert_allclose(o["bp_rp"], o["phot_bp_mean_mag"] - o["phot_rp_mean_mag"])
    np.testing.assert_allclose(o["pm"], np.hypot(o["pmra"], o["pmdec"]))
    np.testing.assert_allclose(o["parallax_over_error"], o["parallax"] / o["parallax_error"])
    assert (o[["parallax_error", "pmra_error", "e_phot_g_mean_mag", "e_j_mag", "e_w1_mag"]] > 0).all().all()
    # Errors depend on brightness only (not on the variability amplitude): monotone in G.
    assert o["e_phot_g_mean_mag"].rank().corr(o["phot_g_mean_mag"].rank()) > 0.99
    assert o["mean_vmag"].between(8, 17.5).all()
    assert (o["ref_mag"] - o["mean_vmag"]).abs().max() < 1.5  # median vs mean of the same points
    # The name encodes the position; Galactic l, b and the name's RA/Dec agree.
    ra, dec = galactic_to_icrs(o["l"].to_numpy(), o["b"].to_numpy())
    assert [asassn_name(r, d) for r, d in zip(ra, dec)] == o["object_id"].tolist()


def test_galactic_to_icrs_matches_astropy():
    from astropy.coordinates import SkyCoord
    import astropy.units as u

    l_deg, b_deg = np.array([0.0, 96.3, 180.0, 250.5, 359.0]), np.array([0.0, -45.0, 30.0, 89.0, -5.0])
    ra, dec = galactic_to_icrs(l_deg, b_deg)
    ref = SkyCoord(l=l_deg * u.deg, b=b_deg * u.deg, frame="galactic").icrs
    np.testing.assert_allclose(ra, ref.ra.deg, atol=1e-5)
    np.testing.assert_allclose(dec, ref.dec.deg, atol=1e-5)
    assert asassn_name(98.5518333, 38.0179444) == "ASASSN-V J063412.44+380104.6"


def test_unlabeled_fraction_honoured(sim):
    labels = sim.lightcurves.column("label").to_pylist()
    assert sum(x is None for x in labels) == 30  # round(150 * 0.2)
    assert [x is not None for x in labels] == sim.truth["labelled"].tolist()
    shown = [x for x in labels if x is not None]
    assert shown == sim.truth.loc[sim.truth["labelled"], "label"].tolist()
    assert sim.truth["label"].value_counts().to_dict() == {c: 15 for c in ASTROM3_CLASSES}
    none = simulate_multimodal(5, seed=1, spectrum_bins=60, n_points=20)
    assert none.lightcurves.column("label").null_count == 0
    every = simulate_multimodal(5, seed=1, spectrum_bins=60, n_points=20, unlabeled_fraction=1.0)
    assert every.lightcurves.column("label").null_count == 5


def test_deterministic_and_independent_of_n_objects(sim):
    again = simulate_multimodal(150, seed=4, unlabeled_fraction=0.2, n_points=120, spectrum_bins=800,
                                class_fractions=EQUAL)
    assert again.lightcurves.equals(sim.lightcurves)
    pd.testing.assert_frame_equal(again.objects, sim.objects)
    pd.testing.assert_frame_equal(again.truth, sim.truth)
    for a, b in zip(again.spectra.itertuples(), sim.spectra.itertuples()):
        np.testing.assert_array_equal(a.flux, b.flux)
        np.testing.assert_array_equal(a.ivar, b.ivar)
    other = simulate_multimodal(150, seed=5, unlabeled_fraction=0.2, n_points=120, spectrum_bins=800,
                                class_fractions=EQUAL)
    assert other.objects["object_id"].tolist() != sim.objects["object_id"].tolist()
    few = simulate_multimodal(3, seed=2, class_fractions={"EW": 1}, spectrum_bins=60, n_points=20)
    many = simulate_multimodal(6, seed=2, class_fractions={"EW": 1}, spectrum_bins=60, n_points=20)
    assert many.lightcurves.slice(0, 3).equals(few.lightcurves)


@pytest.mark.parametrize(("kwargs", "argument"), [
    ({"n_objects": 0}, "n_objects"),
    ({"seed": -1}, "seed"),
    ({"unlabeled_fraction": 1.5}, "unlabeled_fraction"),
    ({"n_points": 3}, "n_points"),
    ({"spectrum_bins": 10}, "spectrum_bins"),
    ({"class_fractions": {"RRab": 1.0}}, "class_fractions"),  # AstroM3 spells it RRAB
])
def test_bad_arguments_raise(kwargs, argument):
    call = {"n_objects": 2} | kwargs
    n = call.pop("n_objects")
    with pytest.raises(ValueError, match=argument):
        simulate_multimodal(n, **call)


def test_lightcurve_table_is_arrow_lists(sim):
    assert sim.lightcurves.schema.field("time").type == pa.list_(pa.float64())
    assert isinstance(Path(sim.objects["spec_filename"].iloc[0]).suffix, str)
    assert sim.objects["spec_filename"].str.match(r"^spec-\d{5}-[A-Z]\d{4}_sp\d{2}-\d{3}\.fits\.gz$").all()

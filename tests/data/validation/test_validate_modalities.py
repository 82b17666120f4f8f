"""Validation per modality (light curves, spectra, metadata), release-level checks and survey limits.

Every test writes a real release and runs the real GX suites; nothing is mocked.
"""

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lcml.config import Paths
from lcml.data import release as rel
from lcml.data.validation.validate import (
    SPECTRA,
    merge_duplicate_times,
    merge_duplicate_times_table,
    validate_release,
)
from lcml.errors import InputError, ValidationFailed

CLASSES = ("T2CEP", "RR", "HYB", "GDOR", "EB", "DSCT")
WAVE = np.linspace(4000.0, 8500.0, 200)


def curve(n=150, amplitude=0.0, seed=0):
    t = np.arange(n) * 0.02
    flux = 1.0 + amplitude * np.sin(2 * np.pi * t / 0.37 + seed)
    return t, flux.astype(np.float32), np.full(n, 1e-3, np.float32)


def lightcurves(ids, labels=None, **kw):
    labels = labels or [CLASSES[i % len(CLASSES)] for i in range(len(ids))]
    parts = [curve(seed=i, **kw) for i in range(len(ids))]
    return pa.table({"object_id": list(ids), "label": labels, "time": [p[0] for p in parts],
                     "flux": [p[1] for p in parts], "flux_err": [p[2] for p in parts]})


def spectrum(oid, wavelength=WAVE, flux=None, ivar=None):
    n = len(wavelength)
    return {"object_id": oid, "wavelength": np.asarray(wavelength, float),
            "flux": np.ones(n, np.float32) if flux is None else np.asarray(flux, np.float32),
            "ivar": np.full(n, 4.0, np.float32) if ivar is None else np.asarray(ivar, np.float32)}


def quarantine_reasons(folder):
    q = pq.read_table(folder / rel.QUARANTINE).to_pandas()
    out = {}
    for oid, reasons in zip(q["object_id"], q["reasons"]):
        out.setdefault(oid, set()).update(reasons)
    return q, out


def assert_invariant(folder, summary):
    """ingested == accepted + quarantined, and the loader serves exactly the accepted objects."""
    assert summary.n_objects == summary.n_accepted + summary.n_objects_quarantined
    assert summary.invariant == (f"n_objects {summary.n_objects} == n_accepted {summary.n_accepted} "
                                 f"+ n_objects_quarantined {summary.n_objects_quarantined}")
    loaded = rel.load_release(folder, labelled_only=False)
    assert len(loaded) == loaded["object_id"].nunique() == summary.n_accepted
    assert len(rel.quarantined_ids(folder)) == summary.n_objects_quarantined
    assert rel.read_manifest(folder)["validation"]["invariant"] == summary.invariant


def test_every_spectra_failure_is_quarantined_as_its_object(project):
    paths = Paths.from_env().ensure()
    good = [f"good{i}" for i in range(40)]
    bad = ["decreasing", "too_blue", "too_red", "nanflux", "negivar", "zeroivar", "ragged", "empty", "twice"]
    folder = rel.write_release(paths, "astrom3/spec", lightcurves(good + bad), source="unit test")
    rows = [spectrum(oid) for oid in good]
    rows += [
        spectrum("decreasing", WAVE[::-1]),
        spectrum("too_blue", np.linspace(3000.0, 8000.0, 200)),
        spectrum("too_red", np.linspace(4000.0, 9500.0, 200)),
        spectrum("nanflux", flux=np.where(np.arange(200) == 7, np.nan, 1.0)),
        spectrum("negivar", ivar=np.where(np.arange(200) == 3, -1.0, 1.0)),
        spectrum("zeroivar", ivar=np.zeros(200)),
        {**spectrum("ragged"), "flux": np.ones(199, np.float32)},
        spectrum("empty", []),
        spectrum("twice"), spectrum("twice"),
        spectrum("ghost"),  # no light curve: an object of its own, quarantined
    ]
    pd.DataFrame(rows).to_parquet(folder / SPECTRA, index=False)

    summary = validate_release(folder, min_points=100, classes=CLASSES, max_bad_fraction=0.5,
                               wavelength_range=(3850.0, 9000.0))
    q, reasons = quarantine_reasons(folder)
    assert set(reasons) == set(bad) | {"ghost"}
    assert reasons["decreasing"] == {"spectra: wavelength not strictly increasing"}
    assert reasons["too_blue"] == {"spectra: wavelength below 3850 Angstrom"}
    assert reasons["too_red"] == {"spectra: wavelength above 9000 Angstrom"}
    assert reasons["nanflux"] == {"spectra: non-finite flux"}
    assert reasons["negivar"] == {"spectra: ivar negative or non-finite"}
    assert reasons["zeroivar"] == {"spectra: ivar all zero"}
    assert reasons["ragged"] == {"spectra: wavelength, flux and ivar differ in length"}
    assert reasons["empty"] == {"spectra: empty spectrum"}
    assert reasons["twice"] == {"spectra: more than one spectrum for the object"}
    assert reasons["ghost"] == {"spectra: object_id has no light curve in the release"}
    # the object's light curve (the training input) is what quarantine holds; the ghost has none
    row = q.set_index("object_id")
    assert len(row.loc["decreasing", "time"]) == 150 and row.loc["ghost", "time"] is None
    assert list(row.loc["decreasing", "modalities"]) == ["spectra"]
    assert summary.passed
    assert summary.n_objects == 50 and summary.n_objects_quarantined == 10 and summary.n_accepted == 40
    assert summary.n_rows == 49 and summary.n_quarantined == 9  # light-curve rows: the ghost has none
    assert summary.reasons["spectra: more than one spectrum for the object"] == 2  # spectra rows
    assert summary.modalities["spectra"] == {"file": SPECTRA, "present": True, "suite": "lcml_spectra",
                                             "n_rows": 51, "n_failed_rows": 11, "n_objects_quarantined": 10}
    assert summary.suites == {"lcml_lightcurves": True, "lcml_spectra": False, "lcml_release": True}
    assert_invariant(folder, summary)


def test_every_metadata_failure_is_quarantined_as_its_object(project):
    paths = Paths.from_env().ensure()
    ids = [f"s{i}" for i in range(40)]
    objects = pd.DataFrame({
        "object_id": ids,
        "parallax": 2.0, "parallax_error": 0.1, "phot_g_mean_mag": 14.0, "e_phot_g_mean_mag": 0.01,
        "ra": 120.0, "dec": -30.0, "period": 0.5, "teff": 7000.0, "note": "ok",
    })
    objects.loc[1, "parallax"] = 5000.0                # absurd
    objects.loc[2, "phot_g_mean_mag"] = 35.0          # fainter than anything catalogued
    objects.loc[3, "phot_g_mean_mag"] = -7.0
    objects.loc[4, "teff"] = np.inf                   # numeric, no range: must still be finite
    objects.loc[5, "period"] = np.nan                  # required
    objects.loc[6, "dec"] = 95.0
    objects.loc[7, "e_phot_g_mean_mag"] = -0.01        # an uncertainty below zero
    objects.loc[8, "period"] = 0.0                     # catalog placeholder
    objects.loc[9, "parallax"] = np.nan                # null is allowed where not required
    extra = pd.DataFrame({"object_id": ["s10", "orphan"], "parallax": 1.0, "parallax_error": 0.1,
                          "phot_g_mean_mag": 12.0, "e_phot_g_mean_mag": 0.01, "ra": 1.0, "dec": 1.0,
                          "period": 1.0, "teff": 6000.0, "note": "x"})
    objects = pd.concat([objects, extra], ignore_index=True)  # s10 twice; orphan has no light curve
    folder = rel.write_release(paths, "astrom3/meta", lightcurves(ids), source="unit test", objects=objects)

    summary = validate_release(folder, min_points=100, classes=CLASSES, max_bad_fraction=0.5,
                               metadata_required=("period",))
    _, reasons = quarantine_reasons(folder)
    assert reasons == {
        "s1": {"metadata: parallax outside -100..1000"},
        "s2": {"metadata: phot_g_mean_mag outside -5..30"},
        "s3": {"metadata: phot_g_mean_mag outside -5..30"},
        "s4": {"metadata: teff not finite"},
        "s5": {"metadata: period missing"},
        "s6": {"metadata: dec outside -90..90"},
        "s7": {"metadata: e_phot_g_mean_mag outside 0..inf"},
        "s8": {"metadata: period outside 0..100000"},
        "s10": {"metadata: duplicate object_id"},
        "orphan": {"metadata: object_id has no light curve in the release"},
    }
    assert summary.passed and summary.n_objects == 41 and summary.n_objects_quarantined == 10
    assert summary.modalities["metadata"]["n_objects_quarantined"] == 10
    assert_invariant(folder, summary)


def test_metadata_ranges_are_configurable(project):
    paths = Paths.from_env().ensure()
    ids = [f"s{i}" for i in range(20)]
    objects = pd.DataFrame({"object_id": ids, "parallax": 5000.0, "logg": 4.0})
    objects.loc[0, "logg"] = 9.0
    folder = rel.write_release(paths, "astrom3/ranges", lightcurves(ids), source="unit test", objects=objects)
    summary = validate_release(folder, min_points=100, classes=CLASSES, max_bad_fraction=0.1,
                               metadata_ranges={"parallax": None, "logg": (0.0, 6.0)})
    assert quarantine_reasons(folder)[1] == {"s0": {"metadata: logg outside 0..6"}}
    assert summary.n_accepted == 19


def test_absent_required_metadata_column_fails_every_object(project):
    paths = Paths.from_env().ensure()
    ids = [f"s{i}" for i in range(20)]
    folder = rel.write_release(paths, "astrom3/nocol", lightcurves(ids), source="unit test",
                               objects=pd.DataFrame({"object_id": ids, "parallax": 1.0}))
    with pytest.raises(ValidationFailed, match=r"20/20 rows quarantined \(20/20 objects\).*"
                                               r"metadata: required column teff absent: 20"):
        validate_release(folder, min_points=100, classes=CLASSES, max_bad_fraction=0.05,
                         metadata_required=("teff",))
    manifest = rel.read_manifest(folder)["validation"]
    assert manifest["passed"] is False and manifest["n_accepted"] == 0
    assert "no usable object left" in manifest["failures"]


def test_bad_fraction_limit_raises_with_a_clear_message(project):
    paths = Paths.from_env().ensure()
    ids = [f"good{i}" for i in range(18)] + ["badspec", "badmeta"]
    objects = pd.DataFrame({"object_id": ids, "phot_g_mean_mag": 12.0})
    objects.loc[19, "phot_g_mean_mag"] = 99.0
    folder = rel.write_release(paths, "astrom3/toomany", lightcurves(ids), source="unit test", objects=objects)
    pd.DataFrame([spectrum(oid) for oid in ids[:18]] + [spectrum("badspec", ivar=np.zeros(200))]) \
        .to_parquet(folder / SPECTRA, index=False)
    with pytest.raises(ValidationFailed) as info:
        validate_release(folder, min_points=100, classes=CLASSES, max_bad_fraction=0.05)
    message = str(info.value)
    assert message.startswith("release astrom3/toomany failed validation: 2/20 rows quarantined (2/20 objects)")
    assert "10.0% of objects quarantined > 5.0% allowed" in message
    assert "spectra: ivar all zero: 1" in message and "metadata: phot_g_mean_mag outside -5..30: 1" in message
    assert str(folder / rel.QUARANTINE) in message
    # the same release within a looser limit passes, reasons unchanged
    summary = validate_release(folder, min_points=100, classes=CLASSES, max_bad_fraction=0.1)
    assert summary.passed and summary.bad_fraction == 0.1
    assert_invariant(folder, summary)


# ---------------------------------------------------------------- release-level checks


def class_release(paths, rid, counts, *, amplitude=0.0, period=1.0):
    ids, labels = [], []
    for label, n in counts.items():
        ids += [f"{label}-{i}" for i in range(n)]
        labels += [label] * n
    objects = pd.DataFrame({"object_id": ids, "period": period * (1 + 0.1 * np.sin(np.arange(len(ids)))),
                            "kepmag": 12.0 + np.cos(np.arange(len(ids)))})
    return rel.write_release(paths, rid, lightcurves(ids, labels, amplitude=amplitude), source="unit test",
                             objects=objects)


def test_thin_class_is_flagged_not_failed_unless_required(project):
    paths = Paths.from_env().ensure()
    counts = {"T2CEP": 2, "RR": 10, "HYB": 10, "GDOR": 10, "EB": 10, "DSCT": 10, "Mira": 1}
    folder = class_release(paths, "kepler/thin", counts)
    summary = validate_release(folder, min_points=100, classes=CLASSES, max_bad_fraction=0.05, min_per_class=5)
    assert summary.passed
    assert summary.class_counts == {"T2CEP": 2, "RR": 10, "HYB": 10, "GDOR": 10, "EB": 10, "DSCT": 10}
    assert summary.classes_below_min == {"T2CEP": 2}
    assert summary.unknown_labels == {"Mira": 1}
    assert "class T2CEP: 2 accepted object(s) < min_per_class 5" in summary.flags
    assert "label 'Mira' outside the taxonomy: 1 object(s), quarantined" in summary.flags
    assert summary.suites["lcml_release"] is False
    assert any(r.startswith("label not one of") for r in quarantine_reasons(folder)[1]["Mira-0"])

    with pytest.raises(ValidationFailed, match=r"classes below min_per_class 5: T2CEP 2"):
        validate_release(folder, min_points=100, classes=CLASSES, max_bad_fraction=0.05, min_per_class=5,
                         min_per_class_required=True)
    # a class that is absent altogether is the thinnest of all
    summary = validate_release(folder, min_points=100, classes=CLASSES + ("ACEP",), max_bad_fraction=0.05,
                               min_per_class=5)
    assert summary.classes_below_min == {"T2CEP": 2, "ACEP": 0}


def test_drift_against_previous_release_is_flagged_not_failed(project):
    paths = Paths.from_env().ensure()
    counts = {c: 30 for c in CLASSES}
    old = class_release(paths, "kepler/v1", counts, amplitude=0.01, period=1.0)
    validate_release(old, min_points=100, classes=CLASSES, max_bad_fraction=0.05)
    same = class_release(paths, "kepler/v1b", counts, amplitude=0.01, period=1.0)
    new = class_release(paths, "kepler/v2", counts, amplitude=0.2, period=3.0)

    steady = validate_release(same, min_points=100, classes=CLASSES, max_bad_fraction=0.05, previous=old)
    assert steady.drift["drifted"] == [] and not any(f.startswith("drift") for f in steady.flags)

    summary = validate_release(new, min_points=100, classes=CLASSES, max_bad_fraction=0.05, previous=old)
    assert summary.passed
    drift = summary.drift
    assert drift["reference_release"] == "kepler/v1" and drift["current_release"] == "kepler/v2"
    assert "amplitude" in drift["drifted"] and "metadata.period" in drift["drifted"]
    assert "metadata.kepmag" not in drift["drifted"]  # same magnitudes in both
    assert drift["features"]["metadata.period"]["current_median"] == pytest.approx(3.0, rel=0.1)
    assert "metadata.amplitude" not in drift["features"] and "amplitude" in drift["not_available"]
    assert "drift against kepler/v1 (the survey's previous release): metadata.period" in summary.flags
    assert rel.read_manifest(new)["validation"]["drift"]["drifted"] == drift["drifted"]


# ---------------------------------------------------------------- survey limits


def folded_table(ids, n_bins=64, bad_phase=()):
    phase = (np.arange(n_bins) + 0.5) / n_bins
    times = [phase * (40.0 if oid in bad_phase else 1.0) for oid in ids]
    return pa.table({"object_id": list(ids), "label": [CLASSES[i % 6] for i in range(len(ids))], "time": times,
                     "flux": [np.linspace(0, 1, n_bins, dtype=np.float32)] * len(ids),
                     "flux_err": [np.full(n_bins, 1e-3, np.float32)] * len(ids)})


def test_folded_release_passes_with_64_bins(project):
    paths = Paths.from_env().ensure()
    ids = [f"EPIC {i}" for i in range(30)]
    unfolded = rel.write_release(paths, "k2/as-series", folded_table(ids), source="unit test")
    # with the time-series limit, 64 points are too few
    with pytest.raises(ValidationFailed, match="fewer than 100 points: 30"):
        validate_release(unfolded, min_points=100, classes=CLASSES, max_bad_fraction=0.05)
    folder = rel.write_release(paths, "k2/folded", folded_table(ids), source="unit test", folded=True)
    summary = validate_release(folder, min_points=64, classes=CLASSES, max_bad_fraction=0.05, folded=True)
    assert summary.passed and summary.folded and summary.n_quarantined == 0
    # the manifest's "folded": true is read when the caller does not say
    assert rel.read_manifest(folder)["folded"] is True
    assert validate_release(folder, min_points=48, classes=CLASSES, max_bad_fraction=0.05).folded is True
    with pytest.raises(InputError, match="manifest says folded=true"):
        validate_release(folder, min_points=64, classes=CLASSES, max_bad_fraction=0.05, folded=False)


def test_folded_release_rejects_times_outside_unit_phase_and_too_few_bins(project):
    paths = Paths.from_env().ensure()
    ids = [f"EPIC {i}" for i in range(40)]
    table = pa.concat_tables([folded_table(ids, bad_phase={"EPIC 3"}), folded_table(["EPIC short"], n_bins=32)])
    folder = rel.write_release(paths, "k2/badphase", table, source="unit test", folded=True)
    summary = validate_release(folder, min_points=48, classes=CLASSES, max_bad_fraction=0.05)
    assert quarantine_reasons(folder)[1] == {"EPIC 3": {"phase (time of a folded curve) outside 0..1"},
                                             "EPIC short": {"fewer than 48 bins"}}
    # as a time series, the day-scale times are fine
    series = rel.write_release(paths, "k2/series", table, source="unit test")
    summary = validate_release(series, min_points=48, classes=CLASSES, max_bad_fraction=0.05)
    assert quarantine_reasons(series)[1] == {"EPIC short": {"fewer than 48 points"}}
    assert not summary.folded


def with_repeats(ids, repeated):
    table = lightcurves(ids)
    times, fluxes, errors = (table.column(c).to_pylist() for c in ("time", "flux", "flux_err"))
    for i, oid in enumerate(ids):
        if oid in repeated:  # the same cadence reported twice, e.g. by two pipelines
            times[i] = times[i][:60] + [times[i][59]] + times[i][60:]
            fluxes[i] = fluxes[i][:60] + [fluxes[i][59] + 0.01] + fluxes[i][60:]
            errors[i] = errors[i][:60] + [2e-3] + errors[i][60:]
    return pa.table({"object_id": ids, "label": table.column("label"), "time": times, "flux": fluxes,
                     "flux_err": errors})


def test_duplicate_timestamps_rejected_or_merged(project):
    paths = Paths.from_env().ensure()
    ids = [f"s{i}" for i in range(30)]
    repeated = {"s1", "s2"}
    folder = rel.write_release(paths, "catalina-sss/dups", with_repeats(ids, repeated), source="unit test")

    rejected = validate_release(folder, min_points=100, classes=CLASSES, max_bad_fraction=0.1)
    assert quarantine_reasons(folder)[1] == {oid: {"time not strictly increasing"} for oid in repeated}
    assert rejected.duplicate_times == "reject"
    assert rejected.n_duplicate_times == 2 and rejected.n_merged_points == 0

    merged = validate_release(folder, min_points=100, classes=CLASSES, max_bad_fraction=0.1, duplicate_times="merge")
    assert merged.n_quarantined == 0 and merged.n_accepted == 30
    assert merged.duplicate_times == "merge" and merged.n_duplicate_times == 2 and merged.n_merged_points == 2
    assert rel.read_manifest(folder)["validation"]["n_merged_points"] == 2

    with pytest.raises(InputError, match="duplicate_times must be one of reject, merge"):
        validate_release(folder, min_points=100, classes=CLASSES, max_bad_fraction=0.1, duplicate_times="keep")


def test_merge_at_ingest_gives_a_release_that_passes_strict_validation(project):
    paths = Paths.from_env().ensure()
    ids = [f"s{i}" for i in range(30)]
    table, n_merged = merge_duplicate_times_table(with_repeats(ids, {"s1", "s2"}))
    assert n_merged == [0, 1, 1] + [0] * 27
    assert table.schema == with_repeats(ids, set()).schema
    assert [len(t) for t in table.column("time").to_pylist()] == [150] * 30
    folder = rel.write_release(paths, "catalina-sss/merged", table, source="unit test")
    summary = validate_release(folder, min_points=100, classes=CLASSES, max_bad_fraction=0.0)
    assert summary.passed and summary.n_duplicate_times == 0


def test_merge_duplicate_times_is_inverse_variance_weighted():
    t = np.array([0.0, 1.0, 1.0, 2.0, 1.0, 3.0, 3.0, np.nan, np.nan])
    f = np.array([5.0, 1.0, 4.0, 2.0, 2.0, 7.0, 8.0, 1.0, 1.0])
    e = np.array([1.0, 1.0, 2.0, 1.0, 1.0, 1.0, -1.0, 1.0, 1.0])
    t2, f2, e2, n = merge_duplicate_times(t, f, e)
    # the three points at t=1 (weights 1, 1/4, 1) become one at the first one's place
    w = np.array([1.0, 0.25, 1.0])
    assert n == 2
    np.testing.assert_array_equal(t2[:3], [0.0, 1.0, 2.0])
    assert f2[1] == pytest.approx((w * [1.0, 4.0, 2.0]).sum() / w.sum())
    assert e2[1] == pytest.approx(1 / np.sqrt(w.sum()))
    # t=3 has a negative error: no weight exists, the points stay for validation to reject
    np.testing.assert_array_equal(t2[3:5], [3.0, 3.0])
    np.testing.assert_array_equal(f2[3:5], [7.0, 8.0])
    assert np.isnan(t2[5:]).all()  # non-finite times are never "identical"
    # an exact copy is one measurement listed twice: it does not shrink the error
    t2, f2, e2, n = merge_duplicate_times([0.0, 0.0, 0.0, 1.0], [2.0, 2.0, 4.0, 1.0], [0.1, 0.1, 0.1, 0.1])
    assert n == 2 and t2.tolist() == [0.0, 1.0]
    assert f2[0] == pytest.approx(3.0) and e2[0] == pytest.approx(0.1 / np.sqrt(2))
    t2, f2, e2, n = merge_duplicate_times([5.0, 5.0], [2.0, 2.0], [0.1, 0.1])
    assert n == 1 and f2.tolist() == [2.0] and e2[0] == pytest.approx(0.1)
    with pytest.raises(ValueError, match="differ in length"):
        merge_duplicate_times(t, f, e[:-1])

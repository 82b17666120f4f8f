"""Tests of the Kepler long-cadence simulator (lcml.data.simulate.lightcurves)."""

from __future__ import annotations


import numpy as np
import pyarrow as pa
import pytest
from astropy.timeseries import LombScargle

from lcml.data.simulate.lightcurves import (
    DEFAULT_CLASS_FRACTIONS,
    KEPLER_CLASSES,
    KEPLER_LC_CADENCE_DAYS,
    SimulatedSet,
    simulate_kepler,
)

NYQUIST = 0.5 / KEPLER_LC_CADENCE_DAYS  # c/d, ~24.5
PERIOD_RANGES = {  # days, as documented for each class
    "RR": (0.25, 0.8),
    "T2CEP": (1.0, 20.0),
    "DSCT": (1 / 30, 1 / 8),
    "GDOR": (1 / 3, 1 / 0.3),
    "HYB": (1 / 30, 1 / 0.3),
    "EB": (0.25, 20.0),
}


@pytest.fixture(scope="module")
def month() -> SimulatedSet:
    return simulate_kepler(60, seed=0, duration_days=30)


@pytest.fixture(scope="module")
def quarter() -> SimulatedSet:
    # Equal weights so every class is represented; a full quarter resolves the g-mode ladders.
    return simulate_kepler(48, seed=3, class_fractions={c: 1.0 for c in KEPLER_CLASSES})


def _rows(sim: SimulatedSet):
    for row, obj in zip(sim.lightcurves.to_pylist(), sim.objects.itertuples()):
        yield np.asarray(row["time"]), np.asarray(row["flux"], dtype=float), obj


def _fold(freq: float) -> float:
    """Where a frequency shows up below the Nyquist frequency of the regular cadence grid."""
    return abs(freq - 2 * NYQUIST * round(freq / (2 * NYQUIST)))


def test_same_seed_is_bitwise_identical(month):
    again = simulate_kepler(60, seed=0, duration_days=30)
    assert again.lightcurves.equals(month.lightcurves)
    assert again.objects.equals(month.objects)


def test_different_seed_differs(month):
    other = simulate_kepler(60, seed=1, duration_days=30)
    assert not other.lightcurves.equals(month.lightcurves)
    assert not np.array_equal(other.objects["period"], month.objects["period"])


def test_object_does_not_depend_on_n_objects():
    few = simulate_kepler(4, seed=5, class_fractions={"DSCT": 1}, duration_days=5)
    many = simulate_kepler(11, seed=5, class_fractions={"DSCT": 1}, duration_days=5)
    assert many.lightcurves.slice(0, 4).equals(few.lightcurves)


def test_counts_follow_fractions_by_largest_remainder(month):
    counts = month.objects["label"].value_counts().to_dict()
    # 60 * fractions = 2.4, 9.6, 8.4, 10.8, 16.8, 12.0 -> floors sum to 57, +1 to GDOR, EB, RR.
    assert counts == {"T2CEP": 2, "RR": 10, "HYB": 8, "GDOR": 11, "EB": 17, "DSCT": 12}
    assert sum(counts.values()) == 60 == month.lightcurves.num_rows


@pytest.mark.parametrize(
    ("n", "fractions", "expected"),
    [
        (10, {"RR": 1, "EB": 2}, {"RR": 3, "EB": 7}),
        (10, {"DSCT": 1, "EB": 1, "RR": 1}, {"RR": 4, "EB": 3, "DSCT": 3}),  # tie -> class order
        (7, {"GDOR": 0.5, "HYB": 0.5, "T2CEP": 0.0}, {"HYB": 4, "GDOR": 3}),
    ],
)
def test_custom_fractions_exact_counts(n, fractions, expected):
    sim = simulate_kepler(n, seed=2, class_fractions=fractions, duration_days=2)
    assert sim.objects["label"].value_counts().to_dict() == expected


def test_t2cep_is_rarest_by_default(month):
    assert min(DEFAULT_CLASS_FRACTIONS, key=DEFAULT_CLASS_FRACTIONS.get) == "T2CEP"
    counts = month.objects["label"].value_counts()
    assert counts["T2CEP"] < counts.drop("T2CEP").min()


def test_schema_ids_and_truth_table(month):
    table, objects = month.lightcurves, month.objects
    assert table.schema.names == ["object_id", "label", "time", "flux", "flux_err"]
    assert table.schema.field("object_id").type == pa.string()
    assert table.schema.field("label").type == pa.string()
    assert table.schema.field("time").type == pa.list_(pa.float64())
    assert table.schema.field("flux").type == pa.list_(pa.float32())
    assert table.schema.field("flux_err").type == pa.list_(pa.float32())
    assert list(objects.columns) == ["object_id", "label", "period", "amplitude", "kepmag"]
    assert table.column("object_id").to_pylist() == [f"SIM-{i:07d}" for i in range(60)]
    assert objects["object_id"].tolist() == table.column("object_id").to_pylist()
    assert objects["label"].tolist() == table.column("label").to_pylist()
    labels = objects["label"].to_numpy()
    assert np.count_nonzero(labels[1:] != labels[:-1]) > 2 * len(KEPLER_CLASSES)  # shuffled
    assert objects["kepmag"].between(10, 15).all()
    assert (objects["amplitude"] > 0).all()


def test_id_prefix():
    sim = simulate_kepler(3, seed=0, duration_days=2, id_prefix="Q7")
    assert sim.objects["object_id"].tolist() == ["Q7-0000000", "Q7-0000001", "Q7-0000002"]


def test_lists_aligned_and_values_sane(month):
    table = month.lightcurves
    n_time = pa.compute.list_value_length(table.column("time")).to_numpy()
    assert np.array_equal(n_time, pa.compute.list_value_length(table.column("flux")).to_numpy())
    assert np.array_equal(n_time, pa.compute.list_value_length(table.column("flux_err")).to_numpy())
    full = 30 / KEPLER_LC_CADENCE_DAYS
    assert (n_time > 0.85 * full).all() and (n_time <= full).all()
    for row in table.to_pylist():
        flux, err = np.asarray(row["flux"]), np.asarray(row["flux_err"])
        assert np.isfinite(flux).all() and np.isfinite(err).all()
        assert (err > 0).all()
        assert abs(np.median(flux) - 1) < 0.02


def test_time_sampling_of_a_quarter(quarter):
    for t, _, _ in _rows(quarter):
        steps = np.diff(t)
        assert (steps > 0).all()
        assert np.median(steps) * 1440 == pytest.approx(29.4244, rel=1e-6)
        assert steps.max() > 0.5  # at least one data-download gap
        assert 3800 <= t.size <= 4400
        assert 120 <= t[0] < 131


def test_noise_grows_with_kepmag(quarter):
    err = [np.median(e) for e in quarter.lightcurves.column("flux_err").to_pylist()]
    mags = quarter.objects["kepmag"].to_numpy()
    assert np.corrcoef(np.argsort(np.argsort(mags)), np.argsort(np.argsort(err)))[0, 1] > 0.8
    bright, faint = np.array(err)[mags < 10.5], np.array(err)[mags > 14.5]
    assert bright.size == 0 or bright.max() < 1e-4  # tens of ppm at Kp 10
    assert faint.size == 0 or faint.min() > 1.5e-4  # hundreds of ppm at Kp 15


def test_periods_within_class_ranges(month, quarter):
    for objects in (month.objects, quarter.objects):
        for label, (lo, hi) in PERIOD_RANGES.items():
            periods = objects.loc[objects["label"] == label, "period"]
            assert periods.between(lo * (1 - 1e-9), hi * (1 + 1e-9)).all(), label


@pytest.mark.parametrize("label", ["DSCT", "GDOR", "RR", "HYB"])
def test_periodogram_peak_is_the_true_period(quarter, label):
    checked = 0
    freq = np.arange(0.2, NYQUIST, 0.1 / 90)
    for t, flux, obj in _rows(quarter):
        if obj.label != label:
            continue
        peak = freq[np.argmax(LombScargle(t, flux).power(freq, method="fast"))]
        # Long cadence is regular, so p modes above Nyquist are only seen at their alias.
        expected = _fold(1 / obj.period)
        assert peak == pytest.approx(expected, rel=0.02), obj.object_id
        checked += 1
    assert checked >= 5


def test_eclipses_recur_at_the_orbital_period(quarter):
    checked = 0
    for t, flux, obj in _rows(quarter):
        if obj.label != "EB":
            continue
        median = np.median(flux)
        deep = flux < median - 0.8 * (median - np.quantile(flux, 0.001))

        def coherence(period):
            # Primary and secondary minima both map to 0 in twice the orbital phase.
            return abs(np.exp(4j * np.pi * t[deep] / period).mean())

        assert coherence(obj.period) > 0.85, obj.object_id
        assert coherence(1.1 * obj.period) < 0.7, obj.object_id
        checked += 1
    assert checked >= 5


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"n_objects": 0}, "n_objects"),
        ({"n_objects": -5}, "n_objects"),
        ({"n_objects": 2.5}, "n_objects"),
        ({"duration_days": 0.5}, "duration_days"),
        ({"cadence_days": 0.0}, "cadence_days"),
        ({"seed": -1}, "seed"),
        ({"class_fractions": {"RRL": 1.0}}, "class_fractions"),
        ({"class_fractions": {"RR": 0.0, "EB": 0.0}}, "class_fractions"),
        ({"class_fractions": {"RR": -1.0, "EB": 2.0}}, "class_fractions"),
    ],
)
def test_bad_arguments_raise(kwargs, argument):
    call = {"n_objects": 5, "duration_days": 5.0} | kwargs
    with pytest.raises(ValueError, match=argument):
        simulate_kepler(**call)

"""Simulator v2: catalog priors (lcml.data.simulate.priors), Kepler periods drawn from them, and the K2 simulator."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from astropy.timeseries import LombScargle

from lcml.data.simulate import priors
from lcml.data.simulate.priors import (
    PRIOR_TABLES,
    QUANTILE_PROBS,
    period_cdf,
    period_quantile,
    sample_amplitude,
    sample_period,
)
from lcml.surveys import classes_for
from lcml.data.simulate.lightcurves import (
    K2_CAMPAIGN_STARTS,
    K2_CLASSES,
    K2_DEFAULT_CLASS_FRACTIONS,
    K2_THRUSTER_INTERVAL_DAYS,
    KEPLER_LC_CADENCE_DAYS,
    SimulatedSet,
    simulate_k2,
    simulate_kepler,
)

REPO = Path(__file__).resolve().parents[3]


# ------------------------------------------------------------------------------------ priors

@pytest.mark.parametrize("key", sorted(PRIOR_TABLES))
def test_period_samples_stay_in_catalog_range_with_the_catalog_median(key):
    table = PRIOR_TABLES[key]
    knots = np.asarray(table["log10_period"])
    assert len(knots) == len(QUANTILE_PROBS) and np.all(np.diff(knots) >= 0)
    draws = sample_period(np.random.default_rng(0), key, 20_000)
    assert draws.shape == (20_000,)
    assert draws.min() >= 10 ** knots[0] * (1 - 1e-9) and draws.max() <= 10 ** knots[-1] * (1 + 1e-9)
    assert np.log10(np.median(draws)) == pytest.approx(knots[QUANTILE_PROBS.index(0.5)], abs=0.02)
    # The interquartile range too, so a sampler that only got the median right would fail.
    q25, q75 = np.log10(np.quantile(draws, [0.25, 0.75]))
    assert q25 == pytest.approx(knots[QUANTILE_PROBS.index(0.25)], abs=0.03)
    assert q75 == pytest.approx(knots[QUANTILE_PROBS.index(0.75)], abs=0.03)


@pytest.mark.parametrize("key", sorted(k for k, t in PRIOR_TABLES.items() if t["amplitude"] is not None))
def test_amplitude_samples_stay_in_catalog_range_with_the_catalog_median(key):
    amps = np.asarray(PRIOR_TABLES[key]["amplitude"])
    assert PRIOR_TABLES[key]["amplitude_band"] in ("I", "V")
    draws = sample_amplitude(np.random.default_rng(1), key, 20_000)
    assert draws.min() >= amps[0] * (1 - 1e-9) and draws.max() <= amps[-1] * (1 + 1e-9)
    assert np.median(draws) == pytest.approx(amps[QUANTILE_PROBS.index(0.5)], rel=0.05)


def test_truncated_draws_keep_the_catalog_shape_inside_the_window():
    lo, hi = 1 / 30, 1 / 8
    draws = sample_period(np.random.default_rng(2), "DSCT", 20_000, lo=lo, hi=hi)
    assert draws.min() >= lo and draws.max() <= hi
    # The median of the truncated distribution is the quantile halfway between the window's CDF values.
    expected = period_quantile("DSCT", 0.5 * (period_cdf("DSCT", lo) + period_cdf("DSCT", hi)))
    assert np.median(draws) == pytest.approx(expected, rel=0.03)
    assert period_quantile("DSCT", period_cdf("DSCT", 0.07)) == pytest.approx(0.07, rel=1e-6)


def test_class_names_resolve_to_the_documented_catalogs():
    assert priors.PERIOD_PRIORS == {
        "T2CEP": "ogle3/T2CEP", "RR": "ogle3/RR", "HYB": "starwhisper/HYB", "GDOR": "starwhisper/GDOR",
        "EB": "starwhisper/EB", "DSCT": "starwhisper/DSCT",
    }
    assert set(priors.PERIOD_PRIORS) == set(classes_for("kepler"))
    rng = np.random.default_rng(3)
    assert isinstance(sample_period(rng, "RR"), float)
    assert 0.2 < sample_period(rng, "RR") < 1.0


def test_prior_errors_are_explicit():
    rng = np.random.default_rng(4)
    with pytest.raises(KeyError, match="no prior table"):
        sample_period(rng, "CEPHEID")
    with pytest.raises(KeyError, match="no amplitudes"):
        sample_amplitude(rng, "starwhisper/DSCT")
    with pytest.raises(KeyError, match="no prior table"):
        sample_amplitude(rng, "GDOR")  # no amplitude catalog for Kepler's g-mode pulsators
    with pytest.raises(ValueError, match="outside the table"):
        sample_period(rng, "RR", lo=5.0, hi=10.0)
    with pytest.raises(ValueError, match="empty"):
        sample_period(rng, "RR", lo=0.6, hi=0.5)


def test_tables_are_what_make_priors_prints(real_data, monkeypatch, capsys):
    """The tables pasted into priors.py are exactly the tool's output on the shared catalogs."""
    spec = importlib.util.spec_from_file_location("make_priors", REPO / "tools" / "make_priors.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    monkeypatch.setenv("LCML_REAL_DATA", str(real_data))
    tool.main()
    printed = capsys.readouterr().out
    namespace: dict = {}
    exec(printed.replace(": tuple[float, ...]", "").replace(": dict[str, dict]", ""), namespace)
    assert namespace["QUANTILE_PROBS"] == QUANTILE_PROBS
    assert namespace["PRIOR_TABLES"] == PRIOR_TABLES


# ---------------------------------------------------------------------------- Kepler v2

@pytest.fixture(scope="module")
def kepler() -> SimulatedSet:
    return simulate_kepler(240, seed=9, class_fractions={c: 1.0 for c in classes_for("kepler")},
                           duration_days=10)


@pytest.mark.parametrize(("label", "key", "window"), [
    ("DSCT", "starwhisper/DSCT", (1 / 30, 1 / 8)),
    ("GDOR", "starwhisper/GDOR", (1 / 3, 1 / 0.3)),
    ("EB", "starwhisper/EB", (0.25, 20.0)),
    ("T2CEP", "ogle3/T2CEP", (1.0, 20.0)),
])
def test_kepler_periods_follow_their_catalog_prior(kepler, label, key, window):
    periods = kepler.objects.loc[kepler.objects["label"] == label, "period"].to_numpy()
    assert periods.size == 40
    lo, hi = window
    assert periods.min() >= lo and periods.max() <= hi
    # Median of 40 draws: within ~2.5 standard errors of the truncated prior's median, in CDF units.
    u = np.array([period_cdf(key, p) for p in periods])
    u_lo, u_hi = period_cdf(key, lo), period_cdf(key, hi)
    assert np.median((u - u_lo) / (u_hi - u_lo)) == pytest.approx(0.5, abs=0.2)


def test_kepler_rr_mixes_rrab_and_rrc_like_ogle(kepler):
    periods = kepler.objects.loc[kepler.objects["label"] == "RR", "period"].to_numpy()
    rrc = np.count_nonzero(periods < 0.42)
    assert 3 <= rrc <= 20  # 25% of 40 expected
    assert periods.min() >= 0.25 and periods.max() <= 0.8


# ------------------------------------------------------------------------------------- K2

@pytest.fixture(scope="module")
def k2() -> SimulatedSet:
    return simulate_k2(70, seed=5)


@pytest.fixture(scope="module")
def k2_noise() -> SimulatedSet:
    return simulate_k2(16, seed=6, class_fractions={"Noise": 1.0})


def test_k2_classes_are_the_k2_taxonomy():
    assert K2_CLASSES == classes_for("k2")
    assert set(K2_DEFAULT_CLASS_FRACTIONS) == set(K2_CLASSES)


def test_k2_same_seed_identical_other_seed_differs(k2):
    again = simulate_k2(70, seed=5)
    assert again.lightcurves.equals(k2.lightcurves)
    assert again.objects.equals(k2.objects)
    other = simulate_k2(70, seed=6)
    assert not other.lightcurves.equals(k2.lightcurves)


def test_k2_object_does_not_depend_on_n_objects():
    few = simulate_k2(3, seed=8, class_fractions={"EA": 1}, duration_days=5)
    many = simulate_k2(7, seed=8, class_fractions={"EA": 1}, duration_days=5)
    assert many.lightcurves.slice(0, 3).equals(few.lightcurves)


def test_k2_counts_follow_fractions(k2):
    # 70 * fractions = 6.3, 10.5, 9.1, 4.9, 5.6, 14.0, 19.6 -> floors sum to 67, +1 to GDOR, RRab, Noise.
    assert k2.objects["label"].value_counts().to_dict() == {
        "DSCUT": 6, "EA": 10, "EB": 9, "GDOR": 5, "RRab": 6, "OTHPER": 14, "Noise": 20}
    custom = simulate_k2(9, seed=1, class_fractions={"RRab": 2, "OTHPER": 1}, duration_days=3)
    assert custom.objects["label"].value_counts().to_dict() == {"RRab": 6, "OTHPER": 3}


def test_k2_schema_and_sampling(k2):
    table = k2.lightcurves
    assert table.schema.names == ["object_id", "label", "time", "flux", "flux_err"]
    assert table.schema.field("time").type == pa.list_(pa.float64())
    assert table.schema.field("flux").type == pa.list_(pa.float32())
    assert table.column("object_id").to_pylist() == [f"K2SIM-{i:07d}" for i in range(70)]
    assert list(k2.objects.columns) == ["object_id", "label", "period", "amplitude", "kepmag"]
    full = 80 / KEPLER_LC_CADENCE_DAYS
    starts = set(K2_CAMPAIGN_STARTS.values())
    for row in table.to_pylist():
        t, f, e = (np.asarray(row[c], dtype=float) for c in ("time", "flux", "flux_err"))
        assert (np.diff(t) > 0).all()
        assert np.isfinite(f).all() and (e > 0).all()
        assert min(starts, key=lambda s: abs(s - t[0])) <= t[0] < min(starts, key=lambda s: abs(s - t[0])) + 1
        assert t[-1] - t[0] <= 80
        # ~330 firings drop one or two cadences each, plus ~1% flagged elsewhere.
        assert 0.78 * full <= t.size <= 0.92 * full
        assert abs(np.median(f) - 1) < 0.02


def test_k2_class_truth_is_plausible(k2):
    obj = k2.objects
    noise = obj[obj["label"] == "Noise"]
    assert noise["period"].isna().all() and (noise["amplitude"] == 0).all()
    signal = obj[obj["label"] != "Noise"]
    assert signal["period"].notna().all() and (signal["amplitude"] > 0).all()
    ranges = {"RRab": (0.4, 0.8), "EA": (0.3, 30), "EB": (0.2, 1.0), "OTHPER": (1.0, 25.0),
              "DSCUT": (1 / 30, 1 / 8), "GDOR": (1 / 3, 1 / 0.3)}
    for label, (lo, hi) in ranges.items():
        assert obj.loc[obj["label"] == label, "period"].between(lo, hi).all(), label
    assert obj["kepmag"].between(10, 17).all()


def test_thruster_firings_dominate_a_constant_star(k2_noise):
    """A star with no signal of its own shows the ~5.9-hour roll sawtooth in its periodogram."""
    freq = np.arange(0.5, 24.0, 0.1 / 80)
    hits, bright = 0, 0
    for row, obj in zip(k2_noise.lightcurves.to_pylist(), k2_noise.objects.itertuples()):
        t, f = np.asarray(row["time"]), np.asarray(row["flux"], dtype=float)
        # Clip cosmic rays first (5 MAD), as any detrending would: a few spikes spread power widely.
        ok = np.abs(f - np.median(f)) < 5 * 1.4826 * np.median(np.abs(f - np.median(f)))
        peak = freq[np.argmax(LombScargle(t[ok], f[ok]).power(freq, method="fast"))]
        hit = abs(1 / peak - K2_THRUSTER_INTERVAL_DAYS) < 0.01 * K2_THRUSTER_INTERVAL_DAYS
        hits += hit
        if obj.kepmag < 15:  # above Kp 15 white noise may hide the smallest sawteeth
            bright += 1
            assert hit, (obj.object_id, obj.kepmag, 1 / peak)
    assert bright >= 4 and hits >= 0.75 * len(k2_noise.objects)


def test_flagged_cadences_recur_at_the_firing_interval(k2_noise):
    row = k2_noise.lightcurves.to_pylist()[0]
    t = np.asarray(row["time"])
    steps = np.diff(t) / KEPLER_LC_CADENCE_DAYS
    # Gaps of one or two missing cadences: firings (plus a few random flags).
    gap_times = t[:-1][(steps > 1.5) & (steps < 3.5)]
    spacing = np.diff(gap_times)
    near = np.abs(spacing / K2_THRUSTER_INTERVAL_DAYS - np.round(spacing / K2_THRUSTER_INTERVAL_DAYS))
    multiple = spacing > 0.5 * K2_THRUSTER_INTERVAL_DAYS
    assert gap_times.size > 250
    # Most gap-to-gap spacings are whole numbers of firing intervals (to within a cadence).
    assert np.mean(near[multiple] < 1.5 * KEPLER_LC_CADENCE_DAYS / K2_THRUSTER_INTERVAL_DAYS) > 0.85


def test_kepler_curves_have_no_thruster_gaps():
    """Short gaps are ~4 a day in K2 (firings) but only random flags in Kepler (~1% of cadences)."""
    sim = simulate_kepler(3, seed=1, class_fractions={"GDOR": 1}, duration_days=20)
    for row in sim.lightcurves.to_pylist():
        steps = np.diff(np.asarray(row["time"])) / KEPLER_LC_CADENCE_DAYS
        assert np.count_nonzero((steps > 1.5) & (steps < 3.5)) < 30  # 20 d x 4/d = 80 if it were K2


@pytest.mark.parametrize(("kwargs", "argument"), [
    ({"n_objects": 0}, "n_objects"),
    ({"seed": -2}, "seed"),
    ({"duration_days": 0.2}, "duration_days"),
    ({"class_fractions": {"RR": 1.0}}, "class_fractions"),  # a Kepler class, not a K2 one
    ({"class_fractions": {"Noise": 0.0}}, "class_fractions"),
])
def test_k2_bad_arguments_raise(kwargs, argument):
    call = {"n_objects": 3, "duration_days": 5.0} | kwargs
    n = call.pop("n_objects")
    with pytest.raises(ValueError, match=argument):
        simulate_k2(n, **call)

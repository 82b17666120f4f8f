"""Classical feature vector: contract (length, finiteness, errors) and the meaning of key features."""

import numpy as np
import pytest

from lcml.features.baseline import FEATURE_NAMES, baseline_features, baseline_matrix, clean_light_curve

SEARCH = dict(min_period=0.1, max_period=30.0, oversample=5.0)
IDX = {name: i for i, name in enumerate(FEATURE_NAMES)}


def cadence(seed: int, n: int = 400, days: float = 120.0) -> np.ndarray:
    return np.sort(np.random.default_rng(seed).uniform(0, days, n))


def curve(kind: str, period: float = 0.6, seed: int = 0, noise: float = 0.01, depth_ratio: float = 0.7):
    rng = np.random.default_rng(seed)
    t = cadence(seed)
    phase = np.mod(t / period, 1.0)
    if kind == "sine":
        signal = 0.2 * np.sin(2 * np.pi * phase)
    elif kind == "rr":  # fast rise over 15% of the cycle, slow decline
        signal = 0.4 * np.where(phase < 0.15, phase / 0.15, 1 - (phase - 0.15) / 0.85)
    elif kind == "ew":  # V-shaped minima each half orbit, secondary depth_ratio of primary
        dip = ((1 + np.cos(4 * np.pi * phase)) / 2) ** 1.5
        signal = -0.3 * dip * np.where(np.cos(2 * np.pi * phase) > 0, 1.0, depth_ratio)
    else:
        raise ValueError(kind)
    return t, 1 + signal + rng.normal(0, noise, t.size), np.full(t.size, noise)


def features(kind: str, **kw) -> dict[str, float]:
    t, f, e = curve(kind, **kw)
    return dict(zip(FEATURE_NAMES, baseline_features(t, f, e, **SEARCH)))


def test_names_unique_and_vector_matches():
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES)
    t, f, e = curve("sine")
    v = baseline_features(t, f, e, **SEARCH)
    assert v.shape == (len(FEATURE_NAMES),) and v.dtype == np.float64
    assert np.isfinite(v).all()


def test_sinusoid_fourier_ratios_near_zero():
    x = features("sine", period=0.6)
    assert 10 ** x["log10_period"] == pytest.approx(0.6, rel=0.01)
    assert x["r21"] < 0.05 and x["r31"] < 0.05
    assert x["amplitude"] == pytest.approx(2 * 0.2 * np.sin(0.45 * np.pi), rel=0.1)  # p95 - p5
    assert x["fold_r2"] > 0.95 and x["ls_power"] > 0.9
    assert x["period_doubled"] == 0.0
    assert x["asymmetry"] < 0.1


def test_sawtooth_has_strong_harmonics_and_asymmetry():
    x = features("rr", period=0.55)
    assert 10 ** x["log10_period"] == pytest.approx(0.55, rel=0.01)
    assert x["r21"] > 0.3 and x["r31"] > 0.15
    assert x["asymmetry"] > 0.3  # steep rise, slow decline
    assert x["period_doubled"] == 0.0 and x["secondary_depth_ratio"] == 0.0
    assert 0 <= x["phi21"] < 2 * np.pi and 0 <= x["phi31"] < 2 * np.pi


def test_contact_binary_with_equal_minima_is_doubled_by_shape():
    x = features("ew", period=0.38, depth_ratio=1.0)
    assert x["period_doubled"] == 1.0  # LS peaks at P/2; only the EB shape tells
    assert 10 ** x["log10_period"] == pytest.approx(0.38, rel=0.01)
    # Folded at the orbital period, the second harmonic (two minima per orbit) dominates.
    assert x["r21"] > 1.0
    assert x["asymmetry"] < 0.1 and x["faint_fraction"] < 0.47 and x["minimum_narrowness"] > 0
    assert x["secondary_depth_ratio"] == pytest.approx(1.0, abs=0.05)


def test_contact_binary_with_unequal_minima():
    x = features("ew", period=0.38, depth_ratio=0.7)
    # The 3-harmonic re-scoring may pick the orbital peak itself, or the odd-even test doubles P/2.
    assert 10 ** x["log10_period"] == pytest.approx(0.38, rel=0.01)
    assert x["r21"] > 1.0
    assert x["secondary_depth_ratio"] == pytest.approx(0.7, abs=0.07)


def test_known_period_override():
    t, f, e = curve("ew", period=0.38)
    v = baseline_features(t, f, e, period=0.38, **SEARCH)
    x = dict(zip(FEATURE_NAMES, v))
    assert 10 ** x["log10_period"] == pytest.approx(0.38)
    assert x["period_doubled"] == 0.0 and x["r21"] > 1.0
    # ls_power at the given period is the one-term power there: small for an EW at its orbit.
    assert 0 <= x["ls_power"] < 0.3


def test_variability_indices_on_gaussian_noise():
    rng = np.random.default_rng(3)
    t = cadence(3, n=2000)
    f = 1 + rng.normal(0, 0.01, t.size)
    x = dict(zip(FEATURE_NAMES, baseline_features(t, f, np.full(t.size, 0.01), **SEARCH)))
    assert x["stetson_k"] == pytest.approx(np.sqrt(2 / np.pi), abs=0.03)  # Gaussian value
    assert x["von_neumann_eta"] == pytest.approx(2.0, abs=0.15)  # uncorrelated noise
    assert x["beyond1std"] == pytest.approx(0.317, abs=0.03)
    assert abs(x["skew"]) < 0.15 and abs(x["kurtosis"]) < 0.3
    assert x["fpr_mid50"] == pytest.approx(1.349 / 3.290, abs=0.03)  # IQR / (p95 - p5) of a Gaussian


def test_degenerate_curves_give_finite_features():
    t = cadence(0)
    flat = baseline_features(t, np.ones(t.size), None, **SEARCH)
    assert np.isfinite(flat).all()
    x = dict(zip(FEATURE_NAMES, flat))
    assert x["amplitude"] == 0 and x["std"] == 0 and x["r21"] == 0 and x["period_doubled"] == 0
    three = baseline_features(np.array([0.0, 0.4, 1.3]), np.array([1.0, 1.2, 0.9]), None, **SEARCH)
    assert np.isfinite(three).all() and three[IDX["n_points"]] == 3
    t, f, e = curve("sine")
    f[::3] = np.nan
    e[1::7] = 0.0  # non-positive errors are dropped too
    nan_removed = baseline_features(t, f, e, **SEARCH)
    assert np.isfinite(nan_removed).all()
    assert nan_removed[IDX["n_points"]] == np.sum(np.isfinite(f) & (e > 0))


@pytest.mark.parametrize(
    ("time", "flux", "match"),
    [
        (np.array([0.0, 1.0]), np.array([1.0, 1.1]), "at least 3"),
        (np.array([0.0, 1.0, 2.0]), np.array([np.nan, 1.0, np.nan]), "at least 3"),
        (np.array([2.0, 2.0, 2.0]), np.array([1.0, 1.1, 0.9]), "spans no time"),
        (np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.1]), "differ in length"),
    ],
)
def test_unusable_curves_raise(time, flux, match):
    with pytest.raises(ValueError, match=match):
        baseline_features(time, flux, None, **SEARCH)


def test_bad_arguments_raise():
    t, f, e = curve("sine")
    with pytest.raises(ValueError, match="positive"):
        baseline_features(t, f, e, period=0.0, **SEARCH)
    with pytest.raises(ValueError, match="fourier_terms"):
        baseline_features(t, f, e, fourier_terms=0, **SEARCH)
    with pytest.raises(ValueError, match="backend"):
        baseline_features(t, f, e, backend="gpu", **SEARCH)


def test_clean_drops_corrupt_timestamp_and_normalises():
    t, f, e = curve("sine")
    t_bad = np.append(t, -2409998.5)  # the corrupt epoch found in Catalina SSS
    tc, fc, ec = clean_light_curve(t_bad, 1000 * np.append(f, 1.0), 1000 * np.append(e, 0.01))
    assert tc.size == t.size and tc[0] >= 0
    assert np.median(fc) == pytest.approx(1.0)
    assert np.all(np.diff(tc) >= 0)


def test_matrix_serial_parallel_and_periods():
    curves = [curve(k, seed=i) for i, k in enumerate(["sine", "rr", "ew"])]
    serial = baseline_matrix(curves, n_jobs=1, chunk_size=2, **SEARCH)
    assert serial.shape == (3, len(FEATURE_NAMES)) and np.isfinite(serial).all()
    for row, c in zip(serial, curves):
        np.testing.assert_array_equal(row, baseline_features(*c, **SEARCH))
    parallel = baseline_matrix(iter(curves), n_jobs=2, chunk_size=1, **SEARCH)
    np.testing.assert_array_equal(parallel, serial)
    known = baseline_matrix(curves, periods=[0.6, 0.6, 1.2], **SEARCH)
    np.testing.assert_allclose(known[:, IDX["log10_period"]], np.log10([0.6, 0.6, 1.2]))
    assert baseline_matrix([], **SEARCH).shape == (0, len(FEATURE_NAMES))


def test_prewhiten_off_zeroes_only_the_second_period_features():
    t, f, e = curve("sine")
    on = dict(zip(FEATURE_NAMES, baseline_features(t, f, e, **SEARCH)))
    off = dict(zip(FEATURE_NAMES, baseline_features(t, f, e, prewhiten=False, **SEARCH)))
    second = {"second_period_ratio", "second_power", "second_amplitude_ratio", "second_distance", "residual_scatter"}
    assert all(off[name] == 0.0 for name in second) and on["residual_scatter"] > 0
    assert {k: v for k, v in on.items() if k not in second} == {k: v for k, v in off.items() if k not in second}

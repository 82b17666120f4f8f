import numpy as np
import pytest

from lcml.config import FeatureParams, PeriodParams
from lcml.features.extract import AUX_FEATURES, clean, featurize
from lcml.features.fold import fold_resample
from lcml.features.period import frequency_grid, lomb_scargle_period

PARAMS = FeatureParams(fold_length=64, period=PeriodParams(min_period_days=0.05, max_period_days=20, oversample=5))


def sampled(period, n=2000, days=40, seed=1, noise=0.01):
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(0, days, n))
    return t, 1 + 0.1 * np.sin(2 * np.pi * t / period) + noise * rng.normal(size=n)


@pytest.mark.parametrize("period", [0.09, 0.61, 3.7])
def test_lomb_scargle_recovers_period(period):
    t, f = sampled(period)
    found = lomb_scargle_period(t, f, min_period=0.05, max_period=20, oversample=5)
    assert found.period == pytest.approx(period, rel=0.01)
    assert 0.5 < found.power <= 1


def test_frequency_grid_resolves_the_baseline():
    grid = frequency_grid(baseline=90, min_period=0.02, max_period=30, oversample=5)
    assert grid[0] == pytest.approx(1 / 30) and grid[-1] == pytest.approx(50)
    assert np.diff(grid).max() <= 1 / (90 * 5) + 1e-12


def test_fold_resample_shape_alignment_and_scale():
    t = np.linspace(0, 10, 3000)
    f = 1 - 0.3 * np.exp(-0.5 * (((t / 2.0) % 1 - 0.3) / 0.02) ** 2)  # eclipse at phase 0.3
    folded = fold_resample(t, f, 2.0, 100)
    assert folded.shape == (100,) and folded.dtype == np.float32
    assert np.argmin(folded) == 0  # faintest bin first
    assert folded.max() - folded.min() == pytest.approx(1.0)


def test_fold_fills_empty_bins():
    t = np.array([0.0, 0.1, 0.2, 0.5, 0.7])
    folded = fold_resample(t, np.array([1.0, 2, 3, 2, 1]), 1.0, 50)
    assert np.isfinite(folded).all()


def test_featurize_and_clean():
    t, f = sampled(1.3)
    f = 1000 * f  # e-/s like a mission file
    f[::50] = np.nan
    folded, aux = featurize(t, f, None, PARAMS)
    assert folded.shape == (64,) and aux.shape == (len(AUX_FEATURES),)
    assert 10 ** aux[0] == pytest.approx(1.3, rel=0.01)
    tc, fc, ec = clean(t[::-1], f[::-1], None)
    assert np.all(np.diff(tc) > 0) and np.median(fc) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="at least 3"):
        featurize(np.array([1.0, 2.0]), np.array([1.0, np.nan]), None, PARAMS)


def test_featurize_many_in_processes_gives_the_same_arrays():
    from lcml.features.extract import featurize_many

    curves = [(*sampled(p, n=300, seed=i), None) for i, p in enumerate([0.3, 1.1, 2.7, 0.7, 5.0])]
    one = featurize_many(curves, PARAMS)
    two = featurize_many(curves, PARAMS, n_jobs=2, chunk_size=2)  # 3 chunks over 2 processes, order kept
    assert one[0].shape == (5, 64) and one[1].shape == (5, len(AUX_FEATURES))
    assert np.array_equal(one[0], two[0]) and np.array_equal(one[1], two[1])
    assert 10 ** one[1][2, 0] == pytest.approx(2.7, rel=0.02)  # the third curve is still third
    empty = featurize_many([], PARAMS, n_jobs=2)
    assert empty[0].shape == (0, 64) and empty[1].shape == (0, len(AUX_FEATURES))


def test_prefolded_curve_is_binned_without_a_period_search():
    from lcml.config import load_params
    from lcml.features.extract import featurize

    features = load_params(profile="ci").features.model_copy(update={"folded": True})
    phase = (np.arange(64) + 0.5) / 64
    dip = 1.0 - 0.3 * np.exp(-(((phase - 0.3) / 0.03) ** 2))
    folded, aux = featurize(phase, dip, np.full(64, 1e-3), features)
    assert folded.shape == (features.fold_length,)
    assert folded[0] == folded.min()  # starts at the eclipse, like every folded curve
    assert aux[0] == 0.0 and aux[2] == 0.0  # no period, no periodogram power: nothing was searched
    assert aux[1] == pytest.approx(np.log10(np.percentile(dip, 97.5) - np.percentile(dip, 2.5)), rel=1e-5)

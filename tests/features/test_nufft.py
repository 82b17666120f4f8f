"""The fast paths of the period search: kept NUFFT plans and the refinements' shared exponentials."""

import threading

import nifty_ls
import numba
import numpy as np
import pytest

import lcml.features.nufft as nufft
from lcml.features.harmonics import harmonic_chi2, harmonic_chi2_around
from lcml.features.nufft import modes_bucket, nufft_powers
from lcml.features.periodogram import ls_power_around, ls_power_at
from tests.features.test_period_search import contact_binary, sawtooth


def _curve(n: int, span: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(0, span, n))
    y = 1 + 0.2 * np.sin(2 * np.pi * t / 0.61) + 0.05 * np.sin(4 * np.pi * t / 0.61 + 1) + rng.normal(0, 0.02, n)
    return t, y, rng.uniform(0.01, 0.03, n)


@pytest.mark.parametrize("n, span, nf", [(230, 3000.0, 60_001), (3900, 83.0, 20_749), (12, 40.0, 300)])
@pytest.mark.parametrize("with_errors", [True, False])
def test_powers_equal_nifty_ls(n, span, nf, with_errors):
    t, y, e = _curve(n, span)
    e = e if with_errors else None
    fmin, df = 1 / span, 1 / (5 * span)
    ours = nufft_powers(t, y, e, fmin, df, nf)
    theirs = nifty_ls.lombscargle(t, y, e, fmin=fmin, fmax=fmin + df * (nf - 1), Nf=nf, backend="finufft",
                                  nthreads=1).power
    assert ours.shape == (nf,)
    np.testing.assert_allclose(ours, theirs, atol=1e-6)
    batch = nufft_powers(t, np.stack([y, y[::-1]]), None if e is None else np.stack([e, e]), fmin, df, nf)
    np.testing.assert_allclose(batch[0], ours, atol=1e-9)


def test_plans_are_kept_for_curves_of_similar_length(monkeypatch):
    import finufft

    made = []
    real = finufft.Plan
    monkeypatch.setattr(finufft, "Plan", lambda *a, **k: made.append(a) or real(*a, **k))
    monkeypatch.setattr(nufft._local, "plans", None, raising=False)
    t, y, e = _curve(200, 2500.0)
    nufft_powers(t, y, e, 1e-3, 1e-4, 50_000)
    assert len(made) == 2  # the (yw, w) pair and the 2t transform
    nufft_powers(t[:-3], y[:-3], e[:-3], 1e-3, 1e-4, 50_100)  # another curve, same bucket
    assert len(made) == 2
    assert modes_bucket(50_000) == modes_bucket(50_100) >= 50_100
    assert modes_bucket(50_000) <= 1.125 * 50_000
    nufft_powers(t, y, e, 1e-3, 1e-4, 90_000)
    assert len(made) == 4


def test_threads_do_not_share_plans():
    t, y, e = _curve(200, 2500.0)
    expected = nufft_powers(t, y, e, 1e-3, 1e-4, 40_000)
    results = []
    threads = [threading.Thread(target=lambda: results.append(nufft_powers(t, y, e, 1e-3, 1e-4, 40_000)))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 4
    for result in results:
        np.testing.assert_allclose(result, expected, atol=1e-12)


def _chi2_by_lstsq(t, y, e, f, nterms):
    """The weighted harmonic fit's residuals, the plain way: a design matrix and least squares."""
    w = 1 / e**2
    w = w / w.sum()
    k = np.arange(1, nterms + 1)
    x = np.concatenate([np.ones((t.size, 1)), np.cos(2 * np.pi * f * np.outer(t - t[0], k)),
                        np.sin(2 * np.pi * f * np.outer(t - t[0], k))], axis=1)
    beta, *_ = np.linalg.lstsq(x * np.sqrt(w)[:, None], y * np.sqrt(w), rcond=None)
    return float(np.sum(w * (y - x @ beta) ** 2))


@pytest.mark.parametrize("make", [sawtooth, lambda p, seed: contact_binary(p, 0.6, seed=seed)])
@pytest.mark.parametrize("nterms", [1, 3, 6])
def test_harmonic_chi2_is_the_least_squares_fit(make, nterms):
    t, y, e = make(0.55, seed=2)
    freqs = np.array([1 / 0.55, 1 / 0.275, 0.3, 7.7])
    expected = [_chi2_by_lstsq(t, y, e, f, nterms) for f in freqs]
    np.testing.assert_allclose(harmonic_chi2(t, y, e, freqs, nterms), expected, rtol=1e-7, atol=1e-14)
    assert np.all(harmonic_chi2(t, y, e, freqs, 0) == pytest.approx(_chi2_by_lstsq(t, y, e, 1.0, 0)))


def test_refinements_around_peaks_equal_the_pointwise_ones():
    t, y, e = _curve(300, 2000.0, seed=4)
    centres, offsets = np.array([1 / 0.61, 2 / 0.61, 0.77]), np.linspace(-1, 1, 21) * 1e-4
    pairs = (centres[:, None] + offsets[None, :]).ravel()
    np.testing.assert_allclose(harmonic_chi2_around(t, y, e, centres, offsets, 3),
                               harmonic_chi2(t, y, e, pairs, 3).reshape(3, 21), rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(ls_power_around(t, y, e, centres, offsets),
                               ls_power_at(t, y, e, pairs).reshape(3, 21), atol=1e-10)
    assert not ls_power_around(t, np.ones_like(y), e, centres, offsets).any()  # constant: no power


def test_single_precision_transforms_keep_powers_within_their_tolerance():
    """The coarse search's rough powers: complex64 transforms, float64 pre/post-processing."""
    t, y, e = _curve(230, 3000.0, seed=3)
    fmin, df, nf = 1 / 1500, 1 / (2 * 3000.0), 120_000
    exact = nufft_powers(t, y, e, fmin, df, nf)
    rough = nufft_powers(t, y, e, fmin, df, nf, eps=1e-5, single=True)
    assert rough.dtype == np.float64 and rough.shape == exact.shape
    assert np.abs(rough - exact).max() < 5e-3
    assert np.abs(rough - exact).max() > 1e-9  # it did run in single precision
    assert int(np.argmax(rough)) == int(np.argmax(exact))


def test_plans_are_kept_per_precision(monkeypatch):
    import finufft

    made = []
    real = finufft.Plan
    monkeypatch.setattr(finufft, "Plan", lambda *a, **k: made.append(k["dtype"]) or real(*a, **k))
    monkeypatch.setattr(nufft._local, "plans", None, raising=False)
    t, y, e = _curve(200, 2500.0)
    nufft_powers(t, y, e, 1e-3, 1e-4, 50_000)
    nufft_powers(t, y, e, 1e-3, 1e-4, 50_000, eps=1e-5, single=True)
    nufft_powers(t, y, e, 1e-3, 1e-4, 50_000, eps=1e-5, single=True)
    assert made == [np.complex128, np.complex128, np.complex64, np.complex64]


@pytest.mark.parametrize("single", [False, True])
def test_a_constant_curve_has_no_defined_power(single):
    from lcml.features.periodogram import _powers

    t, _, e = _curve(200, 2500.0)
    flat = np.zeros(t.size)  # exactly 0 once centred (a constant 3.0 leaves round-off: is_flat's job)
    assert not np.isfinite(nufft_powers(t, flat, e, 1e-3, 1e-4, 5_000, eps=1e-5 if single else 1e-9,
                                        single=single)).any()
    grid = 1e-3 + 1e-4 * np.arange(5_000)
    assert not _powers(t, flat, e, grid, "nifty", rough=single).any()  # "no signal": 0, not nan


def test_kernels_compile_where_numba_can_cache_nothing(monkeypatch):
    """A read-only install with no writable cache folder: numba refuses ``cache=True`` at import, and
    lcml compiles the kernels without it instead of failing."""
    import importlib

    import numba.core.config as numba_config

    import lcml.features.kernels as kernels

    # only numba's NUMBA_CACHE_DIR locator, with no folder set: no locator is available, as when nothing is writable
    monkeypatch.setattr(numba_config, "CACHE_LOCATOR_CLASSES", "UserProvidedCacheLocator")
    monkeypatch.setattr(numba_config, "CACHE_DIR", "")
    with pytest.raises(RuntimeError, match="no locator available"):
        numba.njit(cache=True)(lambda x: x + 1)
    fresh = importlib.reload(kernels)
    try:
        np.testing.assert_array_equal(fresh.local_maxima(np.array([0.0, 2.0, 1.0, 3.0, 3.0, 0.0])), [1, 3])
    finally:
        monkeypatch.undo()
        importlib.reload(kernels)

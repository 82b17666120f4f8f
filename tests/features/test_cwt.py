"""lcml's batched-FFT Morlet CWT against PyWavelets, and the CWT images built on it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import pywt

from lcml.features.cwt import CWTConfig, cwt_abs, cwt_images, morlet, normalise_rows

SCALES = np.arange(1, 128)


def _pywt_abs(row: np.ndarray, scales, method: str) -> np.ndarray:
    return np.abs(pywt.cwt(row, scales, "morl", method=method)[0])


def _series(kind: str, length: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(length)
    if kind == "noise":
        return rng.normal(size=length)
    if kind == "sine":
        # a period of a few tens of samples puts the ridge inside the default scale range
        return np.sin(2 * np.pi * t / rng.uniform(8, 60) + rng.uniform(0, 2 * np.pi))
    # folded-light-curve-like: harmonics of one phase, plus noise and an offset
    phase = t / length
    return 3.0 + sum(np.cos(2 * np.pi * k * phase + k) / k for k in (1, 2, 3)) + 0.1 * rng.normal(size=length)


def test_wavelet_is_pywavelets_morl():
    psi, x = pywt.ContinuousWavelet("morl").wavefun(12)
    assert np.allclose(morlet(x), psi, rtol=0, atol=1e-12)


@pytest.mark.parametrize("length", [64, 65, 127, 256, 511, 1024])
@pytest.mark.parametrize("kind", ["noise", "sine", "curve"])
def test_matches_pywt_both_methods(kind, length):
    # the batch mixes independent rows, so per-row agreement also shows rows do not leak into each other
    batch = np.stack([_series(kind, length, seed) for seed in range(3)])
    ours = cwt_abs(batch, SCALES)
    assert ours.shape == (3, SCALES.size, length) and ours.dtype == np.float32
    for i, row in enumerate(batch):
        for method in ("conv", "fft"):
            ref = _pywt_abs(row, SCALES, method)
            image_range = ref.max() - ref.min()
            assert image_range > 0
            assert np.abs(ours[i] - ref).max() <= 1e-4 * image_range, (kind, length, method)


def test_float64_agrees_to_rounding_and_arbitrary_scales():
    # fractional, unsorted scales, and one (300) whose stretched wavelet runs past pywt's table
    scales = np.array([7.77, 0.6, 2.5, 300.0, 31.0])
    row = _series("curve", 200, 4)
    ours = cwt_abs(row[None], scales, dtype=np.float64)[0]
    ref = _pywt_abs(row, scales, "conv")
    assert ours.dtype == np.float64
    assert np.abs(ours - ref).max() <= 1e-10 * ref.max()


def test_batch_equals_rows_one_at_a_time():
    rng = np.random.default_rng(7)
    batch = rng.normal(size=(5, 300))
    together = cwt_abs(batch, SCALES)
    alone = np.stack([cwt_abs(row[None], SCALES)[0] for row in batch])
    assert np.abs(together - alone).max() <= 1e-6 * together.max()

    images = cwt_images(batch, SCALES, size=32, chunk=2)  # chunking splits the batch 2 + 2 + 1
    single = np.stack([cwt_images(row[None], SCALES, size=32)[0] for row in batch])
    assert np.abs(images - single).max() <= 1e-5


@pytest.mark.parametrize("size", [32, 64])
def test_images_shape_dtype_range(size):
    batch = np.stack([_series(k, 512, s) for s, k in enumerate(["noise", "sine", "curve"])])
    images = cwt_images(batch, SCALES, size=size)
    assert images.shape == (3, size, size) and images.dtype == np.float32
    assert np.isfinite(images).all()
    for img in images:
        assert img.min() == pytest.approx(0.0, abs=1e-6)
        assert img.max() == pytest.approx(1.0, abs=1e-6)
    # different curves give different images
    assert np.abs(images[0] - images[2]).mean() > 0.01


def test_images_ignore_offset_and_gain():
    row = _series("curve", 256, 1)
    images = cwt_images(np.stack([row, 5.0 * row - 40.0]), SCALES, size=32)
    assert np.abs(images[0] - images[1]).max() <= 1e-5


def test_sine_ridge_sits_at_its_scale():
    # real Morlet peaks near scale = period * 5 / (2 pi), which pywt.scale2frequency encodes
    period = 40.0
    row = np.sin(2 * np.pi * np.arange(1024) / period)
    coef = cwt_abs(row[None], SCALES)[0]
    ridge = SCALES[np.argmax(coef[:, 256:768].mean(axis=1))]
    expected = pywt.scale2frequency("morl", 1) * period
    assert abs(ridge - expected) <= 2


def test_constant_rows_give_finite_zero_images():
    batch = np.stack([np.full(128, 3.7), np.zeros(128), np.full(128, 1e-3) + 1e-15 * np.arange(128)])
    images = cwt_images(batch, SCALES, size=16)
    assert np.isfinite(images).all()
    assert (images == 0).all()
    assert (normalise_rows(batch) == 0).all()


def test_normalise_rows():
    rng = np.random.default_rng(3)
    batch = rng.normal(5, 3, size=(4, 100))
    z = normalise_rows(batch)
    assert np.allclose(z.mean(axis=1), 0, atol=1e-12)
    assert np.allclose(z.std(axis=1), 1, atol=1e-12)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="shape"):
        cwt_abs(np.zeros(10), SCALES)
    with pytest.raises(ValueError, match="non-finite"):
        cwt_images(np.array([[0.0, np.nan, 1.0]]), SCALES)
    with pytest.raises(ValueError, match="positive"):
        cwt_abs(np.zeros((1, 10)), [1.0, 0.0])


def test_config():
    cfg = CWTConfig()
    assert cfg.as_dict() == {"scales_min": 1, "scales_max": 127, "size": 64}
    assert np.array_equal(cfg.scales(), np.arange(1, 128))
    small = CWTConfig(scales_min=2, scales_max=40, size=24)
    batch = np.random.default_rng(0).normal(size=(2, 96))
    assert np.array_equal(small.images(batch), cwt_images(batch, np.arange(2, 41), 24))
    with pytest.raises(ValueError):
        CWTConfig(scales_min=10, scales_max=5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.size = 32

"""The light curve as text, picture and sound (lcml.features.views)."""

import wave
import io

import numpy as np
import pytest

from lcml.features import views


def _fold(n=64, phase_shift=0.0):
    phase = (np.arange(n) + 0.5) / n
    return (np.cos(2 * np.pi * (phase + phase_shift)) * -0.5).astype(np.float32)


AUX = np.array([np.log10(0.5234), np.log10(0.81), 0.5, 0.1, 0.1, 0.0], np.float32)


def test_text_spells_numbers_and_quantises_the_curve():
    text = views.as_text(_fold(), AUX, bins=16, levels=16)
    words = text.split()
    assert words[:9] == ["period", "0", ".", "5", "2", "3", "4", "days", "amplitude"]
    assert words[-17] == "curve" and len(words[words.index("curve") + 1:]) == 16
    letters = words[words.index("curve") + 1:]
    assert letters[0] == "a" and "p" in letters  # faintest first, brightest is the top level
    assert set(words) <= set(views.TEXT_WORDS)  # a closed vocabulary


def test_text_of_an_unknown_period_and_level_limits():
    aux = AUX.copy()
    aux[0] = 0.0  # a pre-folded curve: period unknown
    assert views.as_text(_fold(), aux).startswith("period unknown amplitude")
    with pytest.raises(ValueError, match="levels"):
        views.as_text(_fold(), AUX, levels=40)
    flat = views.curve_letters(np.zeros(64), bins=8)
    assert flat == ["a"] * 8


def test_picture_has_the_fold_on_top_and_the_raw_curve_below():
    rng = np.random.default_rng(0)
    time = np.sort(rng.uniform(0, 30, 300))
    flux = 1 + 0.3 * np.sin(2 * np.pi * time / 0.5234)
    image = views.render(time, flux, _fold(), size=32)
    assert image.shape == (32, 32) and image.dtype == np.float32
    assert set(np.unique(image)) <= {0.0, 1.0}
    top, bottom = image[:16], image[16:]
    assert top.sum() > 0 and bottom.sum() > 0
    # the fold of a cosine spans both panels' heights, and the raw panel is filled across its width
    assert top[0].sum() > 0 and top[-1].sum() > 0
    assert (bottom.sum(0) > 0).mean() > 0.8


def test_sound_follows_brightness_as_pitch_and_period_as_tempo():
    fast = views.sonify(_fold(), AUX, seconds=1.0)
    assert fast.shape == (views.SAMPLE_RATE,) and np.abs(fast).max() <= 1.0
    slow_aux = AUX.copy()
    slow_aux[0] = np.log10(50.0)
    spec_fast = views.log_mel(fast)
    spec_slow = views.log_mel(views.sonify(_fold(), slow_aux, seconds=1.0))
    assert spec_fast.shape == spec_slow.shape == (64, 1 + (views.SAMPLE_RATE - 512) // 128)
    # the loudest mel band moves over time (the pitch sweeps); faster for the short period
    track_fast, track_slow = spec_fast.argmax(0), spec_slow.argmax(0)
    assert np.ptp(track_fast) >= 8
    assert np.abs(np.diff(track_fast)).sum() > np.abs(np.diff(track_slow)).sum()


def test_wav_is_a_playable_16_bit_mono_file(tmp_path):
    samples = views.sonify(_fold(), AUX, seconds=0.5)
    path = views.write_wav(tmp_path / "star.wav", samples)
    with wave.open(str(path)) as played:
        assert (played.getnchannels(), played.getsampwidth(), played.getframerate()) == (1, 2, views.SAMPLE_RATE)
        assert played.getnframes() == samples.size
        pcm = np.frombuffer(played.readframes(played.getnframes()), "<i2")
    assert np.allclose(pcm / 32767, samples, atol=1e-4)
    assert wave.open(io.BytesIO(views.wav_bytes(samples))).getnframes() == samples.size

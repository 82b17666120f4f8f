"""The light curve as a foundation model meets it: text, a picture, sound (StarWhisper's LC series).

Each view is a documented, versioned function of what :func:`lcml.features.extract.featurize` computes
(the folded curve, scaled to zero median and unit range, starting at its faintest bin, and the scalar
features), plus the raw curve for the picture. A saved model records the version of the view it was
trained on; a change of any of these functions must bump its version.

* :func:`as_text` (``TEXT_VERSION``, ``lc-text/2``): period and amplitude as words with their digits
  spelled one by one (as LLMTime feeds numbers to language models), then the folded curve quantised
  to ``levels`` letters, one per phase bin:
  ``"period 0 . 5 2 3 days amplitude 0 . 8 1 relative flux curve f g h ... a"`` (the amplitude is the
  2.5-97.5 percentile range of the flux over its median, not magnitudes). Every word comes from the
  closed vocabulary ``TEXT_WORDS``; single characters are one token each in BERT's WordPiece and in
  byte-level BPE vocabularies, so about ``bins + 20`` tokens hold the whole curve.
* :func:`render` (``IMAGE_VERSION``): what a person looks at, two panels in one grey image: on top the
  folded curve over two cycles, below the raw curve over its time span, each a scatter of points
  (brighter up) rasterised at ``size`` x ``size`` pixels.
* :func:`sonify` (``AUDIO_VERSION``): brightness as pitch over the folded cycle, repeated: each cycle
  sweeps the folded curve, its bins as a phase-continuous tone at ``base_hz * 2 ** (octaves * level)``
  (level 0..1, brighter = higher); a cycle lasts ``0.25 s * (P / 1 d) ** (1/3)``, clipped to
  0.06..1 s, so a longer period is heard as a slower beat; loudness follows the relative flux
  amplitude (``0.2 + 0.8 * min(1, amplitude)``). :func:`log_mel` turns the waveform into what the
  audio model reads, :func:`write_wav` into what a person plays.
"""

from __future__ import annotations

import io
import wave
from pathlib import Path

import numpy as np

TEXT_VERSION = "lc-text/2"  # 1 (never released) called the amplitude "mag"
IMAGE_VERSION = "lc-image/1"
AUDIO_VERSION = "lc-audio/1"
SAMPLE_RATE = 8000
#: the letters of the quantised flux levels (one token each in common vocabularies)
_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def period_days(aux: np.ndarray) -> float:
    """The period from the scalar features (``log10_period`` first; 0 means unknown, e.g. a pre-folded curve)."""
    log_p = float(aux[0])
    return float(10 ** log_p) if log_p != 0.0 else 0.0


def _amplitude(aux: np.ndarray) -> float:
    return float(10 ** float(aux[1]))


def _unit_range(folded: np.ndarray) -> np.ndarray:
    """The folded curve scaled to 0 (faintest) .. 1 (brightest); all zeros when it is flat."""
    span = float(folded.max() - folded.min())
    return (folded - folded.min()) / span if span > 0 else np.zeros_like(folded)


def _levels(folded: np.ndarray, levels: int) -> np.ndarray:
    """The folded curve as integers ``0..levels-1``, brightest highest."""
    return np.minimum((_unit_range(folded) * levels).astype(int), levels - 1)


def rebin(folded: np.ndarray, bins: int) -> np.ndarray:
    """``folded`` averaged into ``bins`` equal phase bins (``bins`` must divide its length, else resampled)."""
    n = folded.size
    if n % bins == 0:
        return folded.reshape(bins, n // bins).mean(1)
    return np.interp(np.linspace(0, n, bins, endpoint=False) + n / bins / 2, np.arange(n) + 0.5, folded)


#: the closed vocabulary of the text: words, digits and number signs, then the level letters
TEXT_WORDS: tuple[str, ...] = ("period", "days", "unknown", "amplitude", "relative", "flux", "curve",
                               ".", "-", "+", *"0123456789", *_LETTERS)


def _number(value: float) -> list[str]:
    """A number as separate characters ("0 . 5 2 3"), as LLMTime feeds numbers to language models."""
    return list(f"{value:.4g}")


def text_prefix(aux: np.ndarray) -> list[str]:
    """The words before the curve: period and amplitude, digit by digit, then ``curve``."""
    period = period_days(aux)
    return (["period", *_number(period), "days"] if period > 0 else ["period", "unknown"]) + [
        "amplitude", *_number(_amplitude(aux)), "relative", "flux", "curve"]


def curve_letters(folded: np.ndarray, *, bins: int = 32, levels: int = 16) -> list[str]:
    """The folded curve in ``bins`` phase bins, each quantised to one of ``levels`` letters (``a`` faintest)."""
    if not 2 <= levels <= len(_LETTERS):
        raise ValueError(f"levels must be 2..{len(_LETTERS)}, got {levels}")
    return [_LETTERS[i] for i in _levels(rebin(np.asarray(folded, float), bins), levels)]


def as_text(folded: np.ndarray, aux: np.ndarray, *, bins: int = 32, levels: int = 16) -> str:
    """The ``lc-text/2`` serialisation of one curve (see the module docstring)."""
    return " ".join(text_prefix(aux) + curve_letters(folded, bins=bins, levels=levels))


def _scatter(x: np.ndarray, y: np.ndarray, width: int, height: int) -> np.ndarray:
    """Points ``(x, y)`` in 0..1 drawn into a ``(height, width)`` panel (y up), 1 where a point falls."""
    panel = np.zeros((height, width), np.float32)
    ok = np.isfinite(x) & np.isfinite(y)
    cols = np.clip((x[ok] * (width - 1)).round().astype(int), 0, width - 1)
    rows = np.clip(((1 - y[ok]) * (height - 1)).round().astype(int), 0, height - 1)
    panel[rows, cols] = 1.0
    return panel


def _unit(values: np.ndarray) -> np.ndarray:
    """Scale to 0..1 between the 1st and 99th percentiles (an outlier does not flatten the curve)."""
    lo, hi = np.percentile(values, [1, 99]) if values.size else (0.0, 1.0)
    return np.clip((values - lo) / (hi - lo), 0, 1) if hi > lo else np.full_like(values, 0.5, dtype=float)


def render(time: np.ndarray, flux: np.ndarray, folded: np.ndarray, *, size: int = 64) -> np.ndarray:
    """The ``lc-image/1`` picture of one curve: a ``(size, size)`` float32 image in 0..1 (module docstring)."""
    top, bottom = size // 2, size - size // 2
    shape = np.tile(np.asarray(folded, float), 2)
    fold_panel = _scatter(np.linspace(0, 1, shape.size), _unit(shape), size, top)
    t = np.asarray(time, float)
    f = np.asarray(flux, float)
    ok = np.isfinite(t) & np.isfinite(f)
    t, f = t[ok], f[ok]
    span = float(t.max() - t.min()) if t.size else 0.0
    x = (t - t.min()) / span if span > 0 else np.full_like(t, 0.5)
    raw_panel = _scatter(x, _unit(f), size, bottom)
    return np.concatenate([fold_panel, raw_panel]).astype(np.float32)


def sonify(folded: np.ndarray, aux: np.ndarray, *, seconds: float = 2.0, sample_rate: int = SAMPLE_RATE,
           base_hz: float = 220.0, octaves: float = 2.0) -> np.ndarray:
    """The ``lc-audio/1`` waveform of one curve: float32 samples in -1..1 (see the module docstring)."""
    folded = np.asarray(folded, float)
    period = period_days(aux)
    cycle = float(np.clip(0.25 * (period if period > 0 else 1.0) ** (1 / 3), 0.06, 1.0))
    n = int(round(seconds * sample_rate))
    phase = np.mod(np.arange(n) / (cycle * sample_rate), 1.0)
    level = _unit_range(folded)
    bins = np.minimum((phase * folded.size).astype(int), folded.size - 1)
    pitch = base_hz * 2.0 ** (octaves * level[bins])
    loudness = 0.2 + 0.8 * min(1.0, _amplitude(aux))
    samples = loudness * np.sin(2 * np.pi * np.cumsum(pitch) / sample_rate)  # phase-continuous
    return samples.astype(np.float32)


def _mel_filters(n_fft: int, n_mels: int, sample_rate: int) -> np.ndarray:
    """Triangular mel filters ``(n_mels, n_fft // 2 + 1)`` (HTK mel scale)."""
    def mel(hz):
        return 2595.0 * np.log10(1.0 + np.asarray(hz) / 700.0)

    def hz(m):
        return 700.0 * (10 ** (np.asarray(m) / 2595.0) - 1.0)

    edges = hz(np.linspace(mel(0.0), mel(sample_rate / 2), n_mels + 2))
    freqs = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs - lower) / np.maximum(centre - lower, 1e-9)
    falling = (upper - freqs) / np.maximum(upper - centre, 1e-9)
    return np.maximum(0.0, np.minimum(rising, falling))


def log_mel(samples: np.ndarray, *, sample_rate: int = SAMPLE_RATE, n_fft: int = 512, hop: int = 128,
            n_mels: int = 64) -> np.ndarray:
    """Log-mel spectrogram ``(n_mels, frames)`` (float32, log10 of power + 1e-6) of a waveform."""
    samples = np.asarray(samples, float)
    if samples.size < n_fft:
        samples = np.pad(samples, (0, n_fft - samples.size))
    frames = 1 + (samples.size - n_fft) // hop
    index = np.arange(n_fft)[None, :] + hop * np.arange(frames)[:, None]
    power = np.abs(np.fft.rfft(samples[index] * np.hanning(n_fft), axis=1)) ** 2
    return np.log10(_mel_filters(n_fft, n_mels, sample_rate) @ power.T + 1e-6).astype(np.float32)


def wav_bytes(samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> bytes:
    """A 16-bit mono PCM WAV file of ``samples`` (-1..1)."""
    pcm = (np.clip(np.asarray(samples, float), -1, 1) * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(pcm.tobytes())
    return buffer.getvalue()


def write_wav(path: Path, samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> Path:
    """Write :func:`wav_bytes` to ``path``."""
    path = Path(path)
    path.write_bytes(wav_bytes(samples, sample_rate))
    return path

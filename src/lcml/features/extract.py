"""From a raw light curve to the model's inputs: folded shape + a few scalar features."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

import numpy as np

from lcml.config import FeatureParams
from lcml.features.fold import fold_resample
from lcml.features.parallel import in_processes
from lcml.features.period import lomb_scargle_period

#: Scalar features fed beside the folded curve: period and amplitude carry what folding removes,
#: band powers tell hybrids (both bands) from pure p- or g-mode pulsators, and the alternation of
#: minima at twice the period catches eclipsing binaries that Lomb-Scargle finds at half their period.
AUX_FEATURES = ("log10_period", "log10_amplitude", "ls_power", "low_band_power", "high_band_power",
                "double_period_alternation")
#: The two of them AstroM3's photometry encoder takes, in its input order: CLIP pretraining
#: (:mod:`lcml.studies.label_fraction`) and the ``astrom3`` family's fine-tuning must feed the same quantities
#: to the same weights.
ASTROM3_AUX = ("log10_amplitude", "log10_period")


def clean(time: np.ndarray, flux: np.ndarray, flux_err: np.ndarray | None) -> tuple[np.ndarray, ...]:
    """Drop non-finite points and bring flux to relative units (median 1)."""
    time = np.asarray(time, float)
    flux = np.asarray(flux, float)
    err = np.ones_like(flux) if flux_err is None else np.asarray(flux_err, float)
    ok = np.isfinite(time) & np.isfinite(flux) & np.isfinite(err) & (err > 0)
    time, flux, err = time[ok], flux[ok], err[ok]
    order = np.argsort(time, kind="stable")
    time, flux, err = time[order], flux[order], err[order]
    med = np.median(flux) if flux.size else 1.0
    if med == 0:
        med = 1.0
    return time, flux / med, err / abs(med)


def featurize(
    time: np.ndarray, flux: np.ndarray, flux_err: np.ndarray | None, params: FeatureParams
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(folded[fold_length], aux[len(AUX_FEATURES)])`` for one light curve.

    Raises ``ValueError`` when fewer than 3 finite points remain.
    """
    t, f, e = clean(time, flux, flux_err)
    if t.size < 3:
        raise ValueError(f"light curve has {t.size} finite points; at least 3 are needed")
    if params.folded:
        # a pre-folded curve (e.g. the K2SC 64-bin set): its time is phase, one cycle; the period is
        # unknown, so the period and band features are 0 and the shape carries the class
        folded = fold_resample(t, f, 1.0, params.fold_length)
        amplitude = float(np.percentile(f, 97.5) - np.percentile(f, 2.5))
        return folded, np.array([0.0, np.log10(max(amplitude, 1e-6)), 0.0, 0.0, 0.0,
                                 double_period_alternation(t, f, 0.5)], dtype=np.float32)
    p = params.period
    found = lomb_scargle_period(
        t, f, e, min_period=p.min_period_days, max_period=p.max_period_days, oversample=p.oversample
    )
    folded = fold_resample(t, f, found.period, params.fold_length)
    amplitude = float(np.percentile(f, 97.5) - np.percentile(f, 2.5))
    aux = np.array(
        [np.log10(found.period), np.log10(max(amplitude, 1e-6)), found.power,
         found.low_band_power, found.high_band_power, double_period_alternation(t, f, found.period)],
        dtype=np.float32,
    )
    return folded, aux


def double_period_alternation(time: np.ndarray, flux: np.ndarray, period: float, bins: int = 32) -> float:
    """How much the two halves of a fold at ``2 * period`` differ, relative to the range (0..~1).

    Near 0 for a pulsator folded at its true period; large for a binary with unequal eclipses that
    Lomb-Scargle picked up at half its orbital period.
    """
    double = fold_resample(time, flux, 2 * period, 2 * bins)
    first, second = double[:bins], double[bins:]
    return float(np.sqrt(np.mean((first - second) ** 2)))


def featurize_many(
    curves: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray | None]], params: FeatureParams, n_jobs: int = 1,
    chunk_size: int = 64,
) -> tuple[np.ndarray, np.ndarray]:
    """Stack :func:`featurize` over many curves: ``(N, fold_length)`` and ``(N, n_aux)`` arrays.

    Inside :func:`feature_cache`, the result is stored under a hash of the curves and ``params``, so
    the families of one training (Conv+BiLSTM, Swin, AstroM3's aux) search each period once.
    ``n_jobs > 1`` spreads chunks of ``chunk_size`` curves over that many processes
    (:func:`lcml.features.parallel.in_processes`); the arrays are the same.
    """
    curves = list(curves)

    def compute() -> dict[str, np.ndarray]:
        if not curves:
            return {"folded": np.zeros((0, params.fold_length), np.float32),
                    "aux": np.zeros((0, len(AUX_FEATURES)), np.float32)}
        chunks = [(curves[i:i + chunk_size], params) for i in range(0, len(curves), chunk_size)]
        parts = in_processes(_featurize_chunk, chunks, n_jobs)
        return {"folded": np.concatenate([p[0] for p in parts]), "aux": np.concatenate([p[1] for p in parts])}

    out = cached(curves, params.model_dump_json(), compute)
    return out["folded"], out["aux"]


def _featurize_chunk(curves: list, params: FeatureParams) -> tuple[np.ndarray, np.ndarray]:
    rows = [featurize(t, f, e, params) for t, f, e in curves]
    return np.stack([r[0] for r in rows]), np.stack([r[1] for r in rows])


def cached(curves: list, settings: str, compute: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """``compute()``'s arrays, stored inside :func:`feature_cache` under a hash of ``curves`` and ``settings``.

    ``settings`` must name everything else the arrays depend on (feature parameters, feature names), so
    that two families computing different features from the same curves never share an entry.
    """
    folder = _CACHE.get()
    if folder is None or not curves:
        return compute()
    digest = CurveDigest(settings)
    digest.update(curves)
    path = folder / f"{digest.key()}.npz"
    if path.is_file():
        with np.load(path) as stored:
            return {k: stored[k] for k in stored.files}
    out = compute()
    store(path, out)
    return out


def store(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write a cache entry atomically: parallel workers never read half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez(partial, **arrays)
    os.replace(partial, path)


class CurveDigest:
    """The cache key of :func:`cached`, fed a batch of curves at a time: a release streamed in batches
    (:mod:`lcml.pipeline.features`) gets the key a training holding all its curves computes."""

    def __init__(self, settings: str) -> None:
        self._hash = hashlib.sha256(settings.encode())

    def update(self, curves: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray | None]]) -> None:
        for t, f, e in curves:
            for values in (t, f, e):
                self._hash.update(b"|" if values is None else np.ascontiguousarray(values, np.float64).tobytes())

    def key(self) -> str:
        return self._hash.hexdigest()[:32]


_CACHE: ContextVar[Path | None] = ContextVar("lcml_feature_cache", default=None)


@contextmanager
def feature_cache(folder: Path | None) -> Iterator[None]:
    """Inside this block, :func:`featurize_many` and :func:`cached` keep their arrays in ``folder`` (``None``: off)."""
    token = _CACHE.set(Path(folder) if folder is not None else None)
    try:
        yield
    finally:
        _CACHE.reset(token)


@contextmanager
def shared_features() -> Iterator[None]:
    """Inside this block, arrays :func:`cached` computes twice from the same curves are computed once.

    The active cache serves when there is one (a training); otherwise a temporary folder, removed at the end.
    """
    if _CACHE.get() is not None:
        yield
        return
    with tempfile.TemporaryDirectory(prefix="lcml-features-") as scratch, feature_cache(Path(scratch)):
        yield

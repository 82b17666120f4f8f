"""Phase folding and resampling to a fixed-length vector."""

from __future__ import annotations

import numpy as np


def fold_resample(time: np.ndarray, flux: np.ndarray, period: float, length: int) -> np.ndarray:
    """Fold on ``period``, average into ``length`` phase bins, fill empty bins, normalise.

    The result starts at the faintest bin (so eclipses and pulsation minima line up across
    stars) and is scaled to zero median and unit range; amplitude is kept as a separate feature.
    """
    phase = np.mod(np.asarray(time, float) / period, 1.0)
    idx = np.minimum((phase * length).astype(int), length - 1)
    sums = np.bincount(idx, weights=np.asarray(flux, float), minlength=length)
    counts = np.bincount(idx, minlength=length)
    filled = counts > 0
    binned = np.empty(length)
    binned[filled] = sums[filled] / counts[filled]
    if not filled.all():
        # circular interpolation: phase wraps around
        x = np.flatnonzero(filled)
        binned[~filled] = np.interp(np.flatnonzero(~filled), x, binned[filled], period=length)
    binned = np.roll(binned, -int(np.argmin(binned)))
    span = binned.max() - binned.min()
    return ((binned - np.median(binned)) / (span if span > 0 else 1.0)).astype(np.float32)

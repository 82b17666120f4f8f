"""AstroM3's configuration and the arrays its encoders read: padded light curves, spectra on the model grid,
standardised metadata (see :mod:`lcml.models.astrom3`)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
import torch


MODALITIES: tuple[str, ...] = ("photometry", "spectra", "metadata")


#: Channels :func:`resample_spectrum` produces: normalised flux, log(1 + precision).
SPECTRUM_CHANNELS = 2


#: Channels of a light-curve point: time (days since the window's first point), flux, flux error.
POINT_CHANNELS = 3


@dataclass(frozen=True)
class AstroM3Config:
    """Architecture of the three encoders and the shared embedding.

    Defaults are the authors' sizes (512-d embedding, 8-layer 128-d transformer over 200 points,
    GalSpecNet convolutions 64-64-32-32 over 2575 two-Angstrom bins, 512-unit metadata MLP over 34
    columns); tests shrink them.
    """

    embed_dim: int = 512
    # photometry
    max_points: int = 200
    phot_dim: int = 128
    phot_layers: int = 8
    phot_heads: int = 4
    phot_ff: int = 512
    n_aux: int = 2
    time_min_period: float = 0.01   # days; shortest period the time encoding resolves (HADS, DSCT)
    time_max_period: float = 3000.0  # days; longer than an ASAS-SN baseline, so slow trends are seen
    # spectra
    spec_bins: int = 2575
    spec_range: tuple[float, float] = (3850.0, 9000.0)
    spec_channels: tuple[int, ...] = (64, 64, 32, 32)
    spec_kernel: int = 3
    spec_pool: int = 4
    # metadata
    n_metadata: int = 34
    meta_hidden: int = 512
    meta_layers: int = 2
    # shared
    dropout: float = 0.1
    logit_scale_init: float = 1.0 / 0.07  # CLIP's initial temperature
    logit_scale_max: float = 100.0

    def __post_init__(self) -> None:
        # JSON round trips give lists; the dataclass is frozen and hashable only with tuples
        object.__setattr__(self, "spec_range", tuple(float(v) for v in self.spec_range))
        object.__setattr__(self, "spec_channels", tuple(int(v) for v in self.spec_channels))
        if self.phot_dim % 2 or self.phot_dim % self.phot_heads:
            raise ValueError(f"phot_dim={self.phot_dim} must be even and divisible by phot_heads={self.phot_heads}")
        if spectra_flat_length(self) < 1:
            raise ValueError(f"spec_bins={self.spec_bins} too short for {len(self.spec_channels)} conv blocks "
                             f"with pool {self.spec_pool}")

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping) -> AstroM3Config:
        return cls(**dict(values))


def _as_points(lc: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
    """One light curve as an ``(n, 3)`` float64 array of time, flux, flux_err."""
    if isinstance(lc, np.ndarray) and lc.ndim == 2:
        arr = lc.astype(np.float64, copy=False)
    else:
        arr = np.stack([np.asarray(c, dtype=np.float64) for c in lc], axis=1) if len(lc) else np.zeros((0, 3))
    if arr.ndim != 2 or arr.shape[1] != POINT_CHANNELS:
        raise ValueError(f"a light curve must be (n, 3) time/flux/flux_err, got shape {arr.shape}")
    return arr


def pad_lightcurves(
    lightcurves: Sequence[np.ndarray | Sequence[np.ndarray]],
    max_points: int = 200,
    *,
    train: bool,
    rng: np.random.Generator | None = None,
    pad_to: int | None = None,
    normalise: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Crop, normalise and pad ragged light curves into one batch.

    Parameters
    ----------
    lightcurves
        One entry per object: an ``(n, 3)`` array or a ``(time, flux, flux_err)`` triple. Points must
        be sorted by time; an empty entry (object without photometry) gives an all-padding row.
    max_points
        Longer light curves are cropped to a contiguous window of this many points.
    train
        ``True``: the window starts at a random point (augmentation, a new view every epoch);
        ``False``: it is centred, so evaluation is deterministic.
    rng
        Source of the random crops (a fresh unseeded generator when ``None``).
    pad_to
        Pad length; default the longest cropped light curve of the batch.
    normalise
        Time becomes days since the window's first point; flux becomes ``(flux - median) / scale`` and
        flux_err ``flux_err / scale``, with ``scale`` 1.4826 x the median absolute deviation (the std,
        then 1, when that is zero). This removes the amplitude, so pass it as an auxiliary feature.

    Returns
    -------
    points, mask
        ``(B, P, 3)`` float32 with zeros in the padding, and ``(B, P)`` bool, ``True`` at real points.
    """
    if rng is None and train:
        rng = np.random.default_rng()
    crops = []
    for lc in lightcurves:
        arr = _as_points(lc)
        n = len(arr)
        if n > max_points:
            start = int(rng.integers(0, n - max_points + 1)) if train else (n - max_points) // 2
            arr = arr[start : start + max_points]
        if normalise and len(arr):
            arr = arr.copy()
            arr[:, 0] -= arr[0, 0]
            centre = np.median(arr[:, 1])
            scale = 1.4826 * np.median(np.abs(arr[:, 1] - centre))
            if not scale > 0:
                scale = float(np.std(arr[:, 1]))
            if not scale > 0:
                scale = 1.0
            arr[:, 1] = (arr[:, 1] - centre) / scale
            arr[:, 2] /= scale
        crops.append(arr)
    length = pad_to if pad_to is not None else max((len(c) for c in crops), default=0)
    length = max(length, 1)  # a zero-length sequence would break attention shapes
    points = np.zeros((len(crops), length, POINT_CHANNELS), np.float32)
    mask = np.zeros((len(crops), length), bool)
    for i, arr in enumerate(crops):
        if len(arr) > length:
            raise ValueError(f"pad_to={length} is shorter than a cropped light curve ({len(arr)} points)")
        points[i, : len(arr)] = arr
        mask[i, : len(arr)] = True
    return torch.from_numpy(points), torch.from_numpy(mask)


def spectrum_grid(cfg: AstroM3Config | None = None, *, bins: int | None = None,
                  wavelength_range: tuple[float, float] | None = None) -> np.ndarray:
    """Bin centres (Angstrom) of the fixed spectrum grid, ``cfg.spec_bins`` evenly over ``cfg.spec_range``."""
    cfg = cfg or AstroM3Config()
    lo, hi = wavelength_range or cfg.spec_range
    n = bins or cfg.spec_bins
    step = (hi - lo) / n
    return lo + step * (np.arange(n) + 0.5)


def resample_spectrum(wavelength: np.ndarray, flux: np.ndarray, ivar: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Put one spectrum on ``grid`` and normalise it: a ``(2, len(grid))`` float32 array.

    Channel 0 is flux linearly interpolated from the good pixels (finite, ``ivar > 0``) and scaled to
    zero median and unit robust spread; LAMOST fluxes are not flux-calibrated, so the absolute level
    carries no information. Channel 1 is ``log1p(scale * sqrt(ivar))``, the precision of that
    normalised flux, where ``ivar`` is interpolated over all pixels (bad ones count as 0) so masked
    stretches and the ends beyond the spectrum's coverage get 0 in both channels. A spectrum without a
    good pixel gives all zeros.
    """
    wavelength = np.asarray(wavelength, np.float64)
    flux = np.asarray(flux, np.float64)
    ivar = np.asarray(ivar, np.float64)
    out = np.zeros((SPECTRUM_CHANNELS, len(grid)), np.float32)
    finite = np.isfinite(wavelength) & np.isfinite(flux) & np.isfinite(ivar)
    good = finite & (ivar > 0)
    if good.sum() < 2:
        return out
    order = np.argsort(wavelength[finite])
    wl_all, iv_all = wavelength[finite][order], np.where(good[finite], ivar[finite], 0.0)[order]
    order_good = np.argsort(wavelength[good])
    wl, fl = wavelength[good][order_good], flux[good][order_good]
    inside = (grid >= wl[0]) & (grid <= wl[-1])
    f = np.interp(grid, wl, fl)
    iv = np.interp(grid, wl_all, iv_all)
    centre = np.median(fl)
    scale = 1.4826 * np.median(np.abs(fl - centre))
    if not scale > 0:
        scale = float(np.std(fl)) or 1.0
    out[0] = np.where(inside, (f - centre) / scale, 0.0)
    out[1] = np.where(inside, np.log1p(scale * np.sqrt(np.clip(iv, 0.0, None))), 0.0)
    return out


@dataclass
class Standardizer:
    """Column-wise ``(x - mean) / std`` fitted on training rows; missing values become 0 (the mean).

    Catalogue metadata has gaps (no WISE match, no parallax); mapping them to the training mean keeps
    the row usable without inventing a value far from the data.
    """

    columns: list[str]
    mean: np.ndarray = field(repr=False)
    std: np.ndarray = field(repr=False)

    @classmethod
    def fit(cls, data: pd.DataFrame | np.ndarray, columns: Sequence[str] | None = None) -> Standardizer:
        """Fit on a frame (``columns`` picks them, default all) or on a 2-D array (columns named by index)."""
        values, names = _values(data, columns)
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-missing column is handled below
            finite = np.where(np.isfinite(values), values, np.nan)
            mean = np.nanmean(finite, axis=0) if len(values) else np.zeros(values.shape[1])
            std = np.nanstd(finite, axis=0) if len(values) else np.ones(values.shape[1])
        mean = np.where(np.isfinite(mean), mean, 0.0)
        std = np.where(np.isfinite(std) & (std > 0), std, 1.0)  # constant or empty columns pass unscaled
        return cls(list(names), mean.astype(np.float64), std.astype(np.float64))

    def transform(self, data: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Standardised ``(n, len(columns))`` float32; a frame must hold every fitted column."""
        if isinstance(data, pd.DataFrame):
            missing = [c for c in self.columns if c not in data.columns]
            if missing:
                raise KeyError(f"columns missing for the standardizer: {', '.join(missing)}")
        values, _ = _values(data, self.columns if isinstance(data, pd.DataFrame) else None)
        if values.shape[1] != len(self.columns):
            raise ValueError(f"expected {len(self.columns)} columns, got {values.shape[1]}")
        with np.errstate(all="ignore"):
            z = (values - self.mean) / self.std
        return np.where(np.isfinite(z), z, 0.0).astype(np.float32)

    def to_dict(self) -> dict:
        return {"columns": list(self.columns), "mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, values: Mapping) -> Standardizer:
        return cls(list(values["columns"]), np.asarray(values["mean"], np.float64),
                   np.asarray(values["std"], np.float64))


def _values(data: pd.DataFrame | np.ndarray, columns: Sequence[str] | None) -> tuple[np.ndarray, list[str]]:
    if isinstance(data, pd.DataFrame):
        names = list(columns) if columns is not None else [str(c) for c in data.columns]
        frame = data[names].apply(pd.to_numeric, errors="coerce")
        return frame.to_numpy(np.float64, na_value=np.nan), names
    values = np.asarray(data, np.float64)
    if values.ndim != 2:
        raise ValueError(f"expected a 2-D array, got shape {values.shape}")
    return values, list(columns) if columns is not None else [str(i) for i in range(values.shape[1])]


def spectra_flat_length(cfg: AstroM3Config) -> int:
    """Length x channels after the conv stack: 'same' convs, a max-pool after every block but the last."""
    length = cfg.spec_bins
    for _ in cfg.spec_channels[:-1]:
        length //= cfg.spec_pool
    return length * cfg.spec_channels[-1]

"""The exact one-term Lomb–Scargle periodogram in PyTorch: the period search's GPU backend.

The generalised (floating-mean) periodogram of Zechmeister & Kürster (2009) summed directly over the
points at every grid frequency, as :func:`lcml.features.periodogram.ls_power_at` does in NumPy. On a
CPU the NUFFT of nifty-ls is far cheaper (its cost grows with grid + points, this one's with grid x
points); on a GPU the direct sums are a few dense passes over a (frequencies x points) block, which
is what GPUs do best (``bench/bench_gpu.py`` measures both). Float64 throughout: a phase
``2 pi f t`` reaches ~4e5 rad over a Catalina baseline, beyond what float32 resolves.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np

# elements of one (frequencies x points) block: ~130 MB per float64 array on a GPU, 16 MB on a CPU
_GPU_BLOCK = 1 << 24
_CPU_BLOCK = 1 << 21


def torch_powers(time: np.ndarray, flux: np.ndarray, flux_err: np.ndarray | None,
                 grid: np.ndarray, device: str | None = None, compiled: bool | None = None) -> np.ndarray:
    """One-term LS power (standard normalisation) at each frequency of ``grid``.

    Parameters
    ----------
    time
        ``(n,)`` times, days, shared by every curve of the batch.
    flux, flux_err
        ``(n,)`` or ``(batch, n)``; ``flux_err`` may be ``(n,)`` for the whole batch, or None (equal
        weights).
    grid
        Frequencies, cycles/day.
    device
        A torch device; default CUDA when present, else the CPU.
    compiled
        Fuse each block's arithmetic into one kernel with ``torch.compile`` (default: on CUDA only,
        where it saves most of the passes over memory; compiling costs seconds once per process).

    Returns
    -------
    numpy.ndarray
        ``(len(grid),)`` or ``(batch, len(grid))`` float64; nan where the power is undefined (a
        constant curve, a frequency whose fit is degenerate), as the other backends give.
    """
    import torch

    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    one = np.ndim(flux) == 1
    y = torch.as_tensor(np.atleast_2d(np.asarray(flux, np.float64)), device=dev)
    if flux_err is None:
        w = torch.ones_like(y)
    else:
        w = torch.as_tensor(np.asarray(flux_err, np.float64), device=dev).expand_as(y) ** -2
    w = w / w.sum(dim=1, keepdim=True)
    scale = y.abs().amax(dim=1)
    y = y - (w * y).sum(dim=1, keepdim=True)
    yy = (w * y * y).sum(dim=1)                          # (batch,)
    # a constant curve leaves only rounding after the mean is taken out: no signal, as nifty-ls says
    yy = torch.where(yy > (1e-12 * scale) ** 2, yy, torch.nan)
    weights = torch.cat([w, w * y]).T.contiguous()      # (n, 2 batch)
    batch = y.shape[0]
    t = torch.as_tensor(np.asarray(time, np.float64), device=dev)
    f = torch.as_tensor(np.asarray(grid, np.float64), device=dev)
    out = torch.empty((batch, f.numel()), dtype=torch.float64, device=dev)
    step = max(1, (_GPU_BLOCK if dev.type == "cuda" else _CPU_BLOCK) // max(t.numel(), 1))
    fuse = compiled if compiled is not None else dev.type == "cuda"
    for start in range(0, f.numel(), step):
        out[:, start:start + step] = _run_block(f[start:start + step], t, weights, yy, fuse).T
    power = out.cpu().numpy()
    return power[0] if one else power


_compile_failed = False


def _run_block(f, t, weights, yy, fuse: bool):
    global _compile_failed
    if fuse and not _compile_failed:
        try:
            return _compiled_fused()(f, t, weights, yy)
        except Exception as exc:  # noqa: BLE001 - no working compiler here: the eager sums are the same powers
            _compile_failed = True
            warnings.warn(f"torch.compile of the periodogram failed ({type(exc).__name__}: {exc}); "
                          "using eager PyTorch", RuntimeWarning, stacklevel=3)
    return _block(f, t, weights, yy)


def _block(f, t, weights, yy):
    """Powers ``(freqs, batch)`` at frequencies ``f`` from the sums over the points of ``t``."""
    import torch

    batch = yy.numel()
    angle = (2 * np.pi) * f[:, None] * t[None, :]
    cos, sin = torch.cos(angle), torch.sin(angle)
    # (freqs, 2 batch): the sums of w and of w y at once
    return _power(cos @ weights, sin @ weights, (cos * cos - sin * sin) @ weights[:, :batch],
                  (2 * sin * cos) @ weights[:, :batch], yy)


def _fused(f, t, weights, yy):
    """:func:`_block` as reductions over the points, which ``torch.compile`` fuses into one kernel that
    never stores the (freqs x points) block (eager, it would store one per term: use :func:`_block`)."""
    import torch

    batch = yy.numel()
    angle = (2 * np.pi) * f[:, None, None] * t[None, :, None]
    cos, sin = torch.cos(angle), torch.sin(angle)
    w = weights[None]
    c_sums, s_sums = (cos * w).sum(1), (sin * w).sum(1)
    cos2 = ((cos * cos - sin * sin) * w[..., :batch]).sum(1)
    sin2 = ((2 * sin * cos) * w[..., :batch]).sum(1)
    return _power(c_sums, s_sums, cos2, sin2, yy)


def _power(c_sums, s_sums, cos2, sin2, yy):
    import torch

    batch = yy.numel()
    c, yc = c_sums[:, :batch], c_sums[:, batch:]
    s, ys = s_sums[:, :batch], s_sums[:, batch:]
    # sums of w cos^2 etc. through the double angle: cos^2 = (1 + cos 2x) / 2, cos sin = sin 2x / 2
    cc = 0.5 * (1 + cos2) - c * c
    ss = 0.5 * (1 - cos2) - s * s
    cs = 0.5 * sin2 - c * s
    d = cc * ss - cs * cs
    power = (ss * yc * yc + cc * ys * ys - 2 * cs * yc * ys) / (yy * d)
    return torch.where(d > 0, power, torch.nan)


@functools.lru_cache(maxsize=1)
def _compiled_fused():
    import torch

    return torch.compile(_fused, dynamic=True)

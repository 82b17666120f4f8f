"""The exact one-term Lomb–Scargle periodogram in PyTorch: the period search's GPU backend.

The generalised (floating-mean) periodogram of Zechmeister & Kürster (2009) summed directly over the
points at every grid frequency, as :func:`lcml.features.periodogram.ls_power_at` does in NumPy. On a
CPU the NUFFT of nifty-ls is far cheaper (its cost grows with grid + points, this one's with grid x
points); on a GPU the direct sums are a few dense passes over a (frequencies x points) block, which
is what GPUs do best (``bench/bench_gpu.py`` measures both). Float64 throughout: a phase
``2 pi f t`` reaches ~4e5 rad over a Catalina baseline, beyond what float32 resolves.
"""

from __future__ import annotations

import numpy as np

# elements of one (frequencies x points) block: ~130 MB per float64 array on a GPU, 16 MB on a CPU
_GPU_BLOCK = 1 << 24
_CPU_BLOCK = 1 << 21


def torch_powers(time: np.ndarray, flux: np.ndarray, flux_err: np.ndarray | None,
                 grid: np.ndarray, device: str | None = None) -> np.ndarray:
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
    weights = torch.cat([w, w * y]).T.contiguous()      # (n, 2 batch): sums of w and of w y at once
    batch = y.shape[0]
    t = torch.as_tensor(np.asarray(time, np.float64), device=dev)
    f = torch.as_tensor(np.asarray(grid, np.float64), device=dev)
    out = torch.empty((batch, f.numel()), dtype=torch.float64, device=dev)
    step = max(1, (_GPU_BLOCK if dev.type == "cuda" else _CPU_BLOCK) // max(t.numel(), 1))
    for start in range(0, f.numel(), step):
        angle = (2 * np.pi) * f[start:start + step, None] * t[None, :]
        cos, sin = torch.cos(angle), torch.sin(angle)
        c_sums, s_sums = cos @ weights, sin @ weights    # (freqs, 2 batch)
        c, yc = c_sums[:, :batch], c_sums[:, batch:]
        s, ys = s_sums[:, :batch], s_sums[:, batch:]
        # sums of w cos^2 etc. through the double angle: cos^2 = (1 + cos 2x) / 2, cos sin = sin 2x / 2
        cos2 = (cos * cos - sin * sin) @ weights[:, :batch]
        sin2 = (2 * sin * cos) @ weights[:, :batch]
        cc = 0.5 * (1 + cos2) - c * c
        ss = 0.5 * (1 - cos2) - s * s
        cs = 0.5 * sin2 - c * s
        d = cc * ss - cs * cs
        power = (ss * yc * yc + cc * ys * ys - 2 * cs * yc * ys) / (yy * d)
        out[:, start:start + step] = torch.where(d > 0, power, torch.nan).T
    power = out.cpu().numpy()
    return power[0] if one else power

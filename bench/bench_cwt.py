"""Benchmark lcml's batched-FFT Morlet CWT against ``pywt.cwt(..., 'morl')``.

Times the modulus ``|CWT|`` (scales x time) per image for lcml and for PyWavelets with each method it
offers, checks the largest absolute difference between them, times the full image pipeline
(normalise, |CWT|, resize, [0, 1]), and writes everything to ``bench/results/cwt.json``.

Everything runs single-threaded (scipy.fft workers=1, torch threads=1; PyWavelets uses NumPy, which
is single-threaded) so the figures are per-core and comparable between machines with different core
counts. PyWavelets gets the whole batch in one call, its most favourable use.

Usage::

    .venv/bin/python bench/bench_cwt.py [--n 200] [--length 512] [--repeat 5]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import pywt
import scipy
import torch

from lcml.features.cwt import CWTConfig, _plan, cwt_abs, cwt_images, normalise_rows

from _common import ROOT  # noqa: E402  (bench/ is on sys.path when run)
from _common import git as _git  # noqa: E402


def _best(fn, repeat: int) -> tuple[float, float, object]:
    """Shortest wall and CPU time over ``repeat`` calls after one untimed call, and the last result.

    The minimum is the run least disturbed by other load; CPU time (this process, single-threaded work)
    is reported too because on a shared machine it moves far less than wall time.
    """
    fn()  # warm-up: first-touch page faults and FFT plan caches are not what is being compared
    wall, cpu, result = float("inf"), float("inf"), None
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        cpu = min(cpu, time.process_time() - c0)
        wall = min(wall, time.perf_counter() - w0)
    return wall, cpu, result


def _curves(n: int, length: int, seed: int) -> np.ndarray:
    """Light-curve-like rows: a few harmonics of one phase plus noise, as phase-folded curves look."""
    rng = np.random.default_rng(seed)
    phase = np.arange(length) / length
    out = rng.normal(0, 0.1, size=(n, length))
    for k in range(1, 4):
        amp = rng.uniform(0, 1, size=(n, 1)) / k
        out += amp * np.cos(2 * np.pi * k * phase + rng.uniform(0, 2 * np.pi, size=(n, 1)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200, help="series in the batch")
    ap.add_argument("--length", type=int, default=512, help="samples per series")
    ap.add_argument("--repeat", type=int, default=5, help="timed repetitions; the best is kept")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "cwt.json")
    args = ap.parse_args()

    torch.set_num_threads(1)
    # other work on a shared machine inflates wall times; record how busy it was
    load1 = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    cfg = CWTConfig()
    scales = cfg.scales()
    x = normalise_rows(_curves(args.n, args.length, args.seed))

    # The first call builds and caches the kernel spectra; time it separately, it is paid once per
    # (length, scales) in a process.
    _plan.cache_clear()
    t0 = time.perf_counter()
    cwt_abs(x[:1], scales, workers=1)
    plan_s = time.perf_counter() - t0

    t_lcml, c_lcml, ours = _best(lambda: cwt_abs(x, scales, workers=1), args.repeat)
    t_lcml64, c_lcml64, ours64 = _best(lambda: cwt_abs(x, scales, dtype=np.float64, workers=1), args.repeat)
    t_img, c_img, imgs = _best(lambda: cwt_images(x, scales, cfg.size, workers=1), args.repeat)
    assert imgs.shape == (args.n, cfg.size, cfg.size)

    pywt_figures = {}
    for method in ("conv", "fft"):
        t_ref, c_ref, ref = _best(lambda: pywt.cwt(x, scales, "morl", method=method, axis=-1)[0], args.repeat)
        ref = np.abs(ref).transpose(1, 0, 2)  # pywt puts scales first: (scales, n, L) -> (n, scales, L)
        image_range = float(ref.max() - ref.min())
        diff32 = float(np.abs(ours - ref).max())
        diff64 = float(np.abs(ours64 - ref).max())
        pywt_figures[method] = {
            "ms_per_image_wall": 1e3 * t_ref / args.n,
            "ms_per_image_cpu": 1e3 * c_ref / args.n,
            "speedup_float32_wall": t_ref / t_lcml,
            "speedup_float32_cpu": c_ref / c_lcml,
            "speedup_float64_wall": t_ref / t_lcml64,
            "speedup_float64_cpu": c_ref / c_lcml64,
            "max_abs_diff_float32": diff32,
            "max_abs_diff_float64": diff64,
            "max_abs_diff_float32_over_range": diff32 / image_range,
            "coef_abs_range": image_range,
        }

    groups = _plan(args.length, tuple(scales.tolist()), 12, "float32")
    result = {
        "benchmark": "cwt",
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain", "--", "src/lcml/features/cwt.py", "bench/bench_cwt.py")),
        "machine": {
            "cpu_count": os.cpu_count(),
            "load_average_1min_at_start": load1,
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "pywt": pywt.__version__,
            "torch": torch.__version__,
            "threads": 1,
        },
        "parameters": {
            "n": args.n,
            "length": args.length,
            "repeat": args.repeat,
            "seed": args.seed,
            "wavelet": "morl",
            "scales": [float(scales[0]), float(scales[-1]), int(scales.size)],
            "image_size": cfg.size,
            "fft_lengths": [p for _, p, _ in groups],
        },
        "lcml": {
            "plan_seconds_once": plan_s,
            "cwt_abs_float32_ms_per_image_wall": 1e3 * t_lcml / args.n,
            "cwt_abs_float32_ms_per_image_cpu": 1e3 * c_lcml / args.n,
            "cwt_abs_float64_ms_per_image_wall": 1e3 * t_lcml64 / args.n,
            "cwt_abs_float64_ms_per_image_cpu": 1e3 * c_lcml64 / args.n,
            "cwt_images_ms_per_image_wall": 1e3 * t_img / args.n,
            "cwt_images_ms_per_image_cpu": 1e3 * c_img / args.n,
        },
        "pywt": pywt_figures,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")

    lc = result["lcml"]
    print(f"n={args.n} length={args.length} scales={scales.size}  (single thread, best of {args.repeat}; "
          f"ms/image wall | cpu)")
    print(f"lcml cwt_abs float32 {lc['cwt_abs_float32_ms_per_image_wall']:.3f} | "
          f"{lc['cwt_abs_float32_ms_per_image_cpu']:.3f}   float64 {lc['cwt_abs_float64_ms_per_image_wall']:.3f} | "
          f"{lc['cwt_abs_float64_ms_per_image_cpu']:.3f}   cwt_images {lc['cwt_images_ms_per_image_wall']:.3f} | "
          f"{lc['cwt_images_ms_per_image_cpu']:.3f}   plan {plan_s:.3f} s once")
    for method, f in pywt_figures.items():
        print(f"pywt {method:4s}           {f['ms_per_image_wall']:.3f} | {f['ms_per_image_cpu']:.3f}   "
              f"speed-up float32 x{f['speedup_float32_wall']:.1f} | x{f['speedup_float32_cpu']:.1f}, "
              f"float64 x{f['speedup_float64_wall']:.1f} | x{f['speedup_float64_cpu']:.1f}   "
              f"max|diff| {f['max_abs_diff_float32']:.2e} = {f['max_abs_diff_float32_over_range']:.1e} of range "
              f"(float64 {f['max_abs_diff_float64']:.1e})")
    print(f"wrote {args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output}")


if __name__ == "__main__":
    main()

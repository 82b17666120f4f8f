"""GPU when present: the period search and the networks on CUDA against the CPU, in one run.

Meant for a machine with a CUDA GPU (it runs on a CPU too, slowly, to check the script). Curves are
simulated at Catalina SSS cadence (about 300 points over 8 seasons, 4 frames a night; sinusoids,
sawtooths and contact binaries with periods 0.2-50 d, 0.05 mag noise), searched with Catalina's
settings (0.05-1500 d, oversample 5), so the grid is the one a Catalina curve gets (~300k frequencies):

* **periodogram**: one curve's powers on the whole grid, nifty-ls on one CPU thread against the
  exact sums of ``backend="torch"`` on the GPU, eager and fused by ``torch.compile``: milliseconds per
  curve, largest difference in power, and whether the highest peak is the same;
* **period search** (:func:`lcml.features.period.find_period`): nifty with ``coarse=2`` (the CPU
  default), torch on the whole grid, and torch with ``coarse=2``: ms per curve and the fraction within
  1% of the true period;
* **baseline features** (:func:`lcml.features.baseline.baseline_features`, both periodograms and every
  fit of one curve) in one process, nifty against torch;
* **networks**: seconds per training epoch of :class:`~lcml.models.fusion.FusionNet` and
  :class:`~lcml.models.conv_bilstm.ConvBiLSTM` through lcml's own ``train_model`` on a
  Catalina-sized set (13,000 curves, 11 classes), on CUDA (bf16 autocast) and on 2 CPU threads.

    python bench/bench_gpu.py [--n 300] [--commit SHA] [--output bench/results/gpu.json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CATALINA = {"min_period": 0.05, "max_period": 1500.0, "oversample": 5.0}


def catalina_like(n: int, seed: int = 0) -> list[dict]:
    """Simulated curves at Catalina cadence with known periods (flux units, bright = high)."""
    rng = np.random.default_rng(seed)
    curves = []
    for i in range(n):
        nights = []
        for season in range(8):  # ~7 observable months a year, ~10 nights a season sampled
            start = 365.25 * season + rng.uniform(0, 60)
            nights.append(np.sort(rng.uniform(start, start + 210, rng.integers(7, 12))))
        night = np.concatenate(nights) + 53500.3
        t = np.sort((night[:, None] + np.arange(4)[None, :] * 0.007 + rng.normal(0, 0.001, (night.size, 4))).ravel())
        period = float(np.exp(rng.uniform(np.log(0.2), np.log(50.0))))
        phase = np.mod(t / period + rng.uniform(), 1.0)
        kind = i % 3
        if kind == 0:
            shape = np.sin(2 * np.pi * phase)
        elif kind == 1:
            shape = np.where(phase < 0.15, phase / 0.15, 1 - (phase - 0.15) / 0.85)
        else:  # contact binary: two minima a cycle, unequal depths
            shape = -(((1 + np.cos(4 * np.pi * phase)) / 2) ** 1.5) * np.where(np.cos(2 * np.pi * phase) > 0, 1.0, 0.8)
        mag_amp = rng.uniform(0.2, 0.8)
        mag = 15.0 - mag_amp * shape + rng.normal(0, 0.05, t.size)
        flux = 10 ** (-0.4 * (mag - 15.0))
        curves.append({"t": t, "f": flux, "e": flux * 0.05 * np.log(10) / 2.5, "period": period})
    return curves


def _ms(fn, curves, repeat: int = 1) -> tuple[float, list]:
    out = []
    t0 = time.perf_counter()
    for _ in range(repeat):
        out = [fn(c) for c in curves]
    return 1e3 * (time.perf_counter() - t0) / (repeat * len(curves)), out


def periodograms(curves: list[dict]) -> dict:
    from lcml.features.periodogram import _powers, _search_grid
    from lcml.features.periodogram_torch import torch_powers

    def grid(c):
        return _search_grid(c["t"], CATALINA["min_period"], CATALINA["max_period"], CATALINA["oversample"])

    def exact(compiled):
        return lambda c: torch_powers(c["t"] - c["t"][0], c["f"], c["e"], grid(c), compiled=compiled)

    for compiled in (False, True):  # warm-up: CUDA start, compilation
        exact(compiled)(curves[0])
    out = {"grid_size_mean": float(np.mean([grid(c).size for c in curves])),
           "points_mean": float(np.mean([c["t"].size for c in curves]))}
    ms_n, nifty = _ms(lambda c: _powers(c["t"], c["f"], c["e"], grid(c), "nifty"), curves)
    out["nifty_1_thread_ms"] = round(ms_n, 2)
    for name, compiled in (("torch_eager", False), ("torch_compiled", True)):
        ms, powers = _ms(exact(compiled), curves)
        diff = max(float(np.nanmax(np.abs(a - b))) for a, b in zip(nifty, powers))
        same = float(np.mean([int(np.argmax(a)) == int(np.nanargmax(b)) for a, b in zip(nifty, powers)]))
        out[name] = {"ms": round(ms, 2), "speedup": round(ms_n / ms, 1), "max_abs_power_diff": diff,
                     "same_highest_peak": same}
    return out


def period_search(curves: list[dict]) -> dict:
    from lcml.features.period import find_period, period_matches

    true = np.array([c["period"] for c in curves])
    out = {}
    for name, backend, coarse in (("nifty_coarse2", "nifty", 2.0), ("torch_whole_grid", "torch", None),
                                  ("torch_coarse2", "torch", 2.0)):
        ms, res = _ms(lambda c: find_period(c["t"], c["f"], c["e"], **CATALINA, backend=backend, coarse=coarse), curves)
        found = np.array([r.period for r in res])
        out[name] = {"ms_per_curve": round(ms, 2), "within_1pct": round(float(period_matches(found, true).mean()), 4),
                     "periods": found}
    ref = out["nifty_coarse2"].pop("periods")
    for name in ("torch_whole_grid", "torch_coarse2"):
        # within 0.1%: the whole grid and the refined coarse peaks sample a peak's top a little apart
        out[name]["same_period_as_nifty"] = round(float(period_matches(out[name].pop("periods"), ref, rel=1e-3).mean()), 4)
    return out


def features(curves: list[dict]) -> dict:
    from lcml.features.baseline import baseline_features

    out = {}
    vectors = {}
    for name, backend, coarse in (("nifty_coarse2", "nifty", 2.0), ("torch_coarse2", "torch", 2.0),
                                  ("torch_whole_grid", "torch", None)):
        ms, res = _ms(lambda c: baseline_features(c["t"], c["f"], c["e"], min_period=CATALINA["min_period"],
                                                  max_period=CATALINA["max_period"], oversample=5.0,
                                                  backend=backend, coarse=coarse), curves)
        vectors[name] = np.array(res, dtype=float)
        out[name] = {"ms_per_curve": round(ms, 2), "curves_per_s": round(1e3 / ms, 1)}
    for name in ("torch_coarse2", "torch_whole_grid"):
        same = np.isclose(vectors[name], vectors["nifty_coarse2"], rtol=1e-3, atol=1e-6).all(axis=1)
        out[name]["same_vector_as_nifty"] = round(float(same.mean()), 4)
    return out


def networks(n_rows: int, epochs: int) -> dict:
    """Seconds per epoch of lcml's training loop here (CUDA when present, else 2 CPU threads)."""
    import torch

    from lcml.models.conv_bilstm import ConvBiLSTM, ConvBiLSTMConfig
    from lcml.models.fusion import FusionConfig, FusionNet
    from lcml.training.loop import Dataset, pick_device, train_model

    if not torch.cuda.is_available():
        torch.set_num_threads(2)
    rng = np.random.default_rng(0)
    y = rng.integers(0, 11, n_rows)
    aux = (rng.normal(size=(n_rows, 40)) + y[:, None] * 0.1).astype(np.float32)
    out = {"device": str(pick_device()), "rows": n_rows, "epochs": epochs}
    for name, model, folded in (
        ("fusion", FusionNet(FusionConfig(n_classes=11, n_aux=40, fold_length=64, channels=2)),
         rng.normal(size=(n_rows, 2, 64)).astype(np.float32)),
        ("conv_bilstm", ConvBiLSTM(ConvBiLSTMConfig(n_classes=11, n_aux=40, fold_length=128)),
         rng.normal(size=(n_rows, 128)).astype(np.float32)),
    ):
        split = int(0.85 * n_rows)
        train = Dataset(folded[:split], aux[:split], y[:split])
        val = Dataset(folded[split:], aux[split:], y[split:])
        t0 = time.perf_counter()
        train_model(model, train, val, epochs=epochs, lr=1e-3, batch_size=64, patience=epochs, seed=0)
        out[name] = {"s_per_epoch": round((time.perf_counter() - t0) / epochs, 3)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="simulated curves (default 300)")
    parser.add_argument("--rows", type=int, default=13000, help="rows of the network set (default 13,000)")
    parser.add_argument("--commit", default=os.environ.get("LCML_COMMIT"), help="commit measured (no git on a GPU machine)")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "gpu.json")
    parser.add_argument("--networks-only", action="store_true", help=argparse.SUPPRESS)  # the CPU re-run
    args = parser.parse_args()
    if args.networks_only:
        print(json.dumps(networks(args.rows, 1)))
        return
    import torch

    result = {
        "date": dt.date.today().isoformat(), "commit": args.commit, "python": platform.python_version(),
        "torch": torch.__version__, "cpus": os.cpu_count(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "curves": f"catalina_like({args.n}, seed=0)", "search": CATALINA,
    }
    curves = catalina_like(args.n)
    for key, fn in (("periodogram", periodograms), ("period_search", period_search), ("baseline_features", features)):
        result[key] = fn(curves)
        print(key, json.dumps(result[key]), flush=True)
    result["networks_gpu"] = networks(args.rows, 3)
    print("networks_gpu", json.dumps(result["networks_gpu"]), flush=True)
    cpu = subprocess.run([sys.executable, __file__, "--networks-only", "--rows", str(min(args.rows, 2000))],
                         env={**os.environ, "CUDA_VISIBLE_DEVICES": ""}, capture_output=True, text=True, check=True)
    result["networks_cpu_2_threads"] = json.loads(cpu.stdout.strip().splitlines()[-1])
    print("networks_cpu", json.dumps(result["networks_cpu_2_threads"]), flush=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()

"""lcml's baseline features against the ``light-curve`` package (Rust; used by the SNAD, ANTARES and Fink
brokers) on Catalina SSS: speed per curve and 5-fold CV balanced accuracy.

The curves are the Catalina SSS release's train + validation stars, built, validated and read exactly as
``bench/bench_cv.py`` does (same scratch ``LCML_HOME``, same feature cache), cleaned by lcml's
``clean_light_curve``. Feature sets:

* ``lcml``: :func:`lcml.features.baseline.baseline_matrix` (the champion family's features, with the
  period search of ``params.yaml``);
* ``light_curve``: the package's single-band statistics (amplitude, percentiles ranges, moments,
  Stetson K, eta, Cusum, linear trend, Otsu split, ...) and its Lomb–Scargle ``Periodogram`` (3 peaks:
  period and signal-to-noise each; FFT-based, on ``linspace(0, 2 pi x 20 / day, 2^k + 1)``, the finest
  grid it supports that comes near lcml's one fifth of a peak width);
* ``lcml+light_curve``: both side by side.

Each set goes through the same model and folds: the bagged baseline of profile ``survey``
(:class:`lcml.models.balanced.BalancedBagging`, ``bench_cv.HP``), stratified 5-fold CV with seed 0.
Speed: one process, wall time per curve over ``--n-speed`` curves, for lcml's whole feature vector
(fine and coarse period search), light-curve's statistics alone and its periodogram alone.

    .venv/bin/python bench/bench_light_curve.py

Writes ``bench/results/light_curve.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import ROOT  # noqa: E402  (bench/ is on sys.path when run)
from _common import git as _git  # noqa: E402
import bench_cv  # noqa: E402

#: light-curve's periodogram grid: 2^K + 1 angular frequencies up to 20 cycles/day (lcml: min period 0.05 d)
K = 17
F_MAX = 20.0


def statistics():
    import light_curve as lc

    return lc.Extractor(
        lc.Amplitude(), lc.BeyondNStd(1.0), lc.Cusum(), lc.Eta(), lc.EtaE(), lc.ExcessVariance(),
        lc.InterPercentileRange(0.1), lc.InterPercentileRange(0.25), lc.Kurtosis(), lc.LinearTrend(),
        lc.MagnitudePercentageRatio(0.4, 0.05), lc.MagnitudePercentageRatio(0.2, 0.1), lc.MaximumSlope(),
        lc.MedianAbsoluteDeviation(), lc.MedianBufferRangePercentage(0.1), lc.PercentAmplitude(),
        lc.PercentDifferenceMagnitudePercentile(0.05), lc.ReducedChi2(), lc.Skew(), lc.StandardDeviation(),
        lc.StetsonK(), lc.WeightedMean(), lc.Duration(), lc.OtsuSplit(), lc.LaflerKinmanStringLength(),
    )


def periodogram():
    import light_curve as lc

    return lc.Periodogram(peaks=3, freqs=np.linspace(0.0, 2 * np.pi * F_MAX, 2**K + 1), fast=True)


def lc_matrix(curves: list) -> np.ndarray:
    from lcml.features.baseline import clean_light_curve

    stats, period = statistics(), periodogram()
    rows = []
    for t, f, e in curves:
        t, f, e = clean_light_curve(t, f, e)
        rows.append(np.concatenate([stats(t, f, e), period(t, f, e)]))
    return np.nan_to_num(np.asarray(rows), nan=0.0, posinf=1e6, neginf=-1e6)


def _chunk(curves: list) -> np.ndarray:
    return lc_matrix(curves)


def lc_features(curves: list, n_jobs: int) -> np.ndarray:
    from lcml.features.parallel import in_processes

    chunks = [curves[i:i + 256] for i in range(0, len(curves), 256)]
    return np.concatenate(in_processes(_chunk, ((c,) for c in chunks), n_jobs))


def speed(curves: list, features) -> dict:
    from lcml.features.baseline import baseline_matrix, clean_light_curve

    p = features.period
    settings = dict(min_period=p.min_period_days, max_period=p.max_period_days, oversample=p.oversample)
    cleaned = [clean_light_curve(*c) for c in curves]
    stats, period = statistics(), periodogram()
    runs = {
        "lcml_fine": lambda: baseline_matrix(curves, **settings),
        f"lcml_coarse_{p.coarse or 2:g}": lambda: baseline_matrix(curves, **settings, coarse=p.coarse or 2.0),
        "light_curve_statistics": lambda: [stats(*c) for c in cleaned],
        f"light_curve_periodogram_2^{K}": lambda: [period(*c) for c in cleaned],
    }
    out = {}
    for name, run in runs.items():
        started = time.perf_counter()
        run()
        out[name] = {"ms_per_curve": round(1e3 * (time.perf_counter() - started) / len(curves), 2)}
        print(f"speed {name}: {out[name]}", flush=True)
    return out


def main() -> None:
    import pandas as pd

    from lcml.families.fitting import fitter
    from lcml.training import cv
    from lcml.training.loop import Dataset

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--home", type=Path, default=Path(tempfile.gettempdir()) / "lcml-bench-cv")
    ap.add_argument("--n-speed", type=int, default=300)
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "light_curve.json")
    args = ap.parse_args()

    from threadpoolctl import threadpool_limits

    threadpool_limits(os.cpu_count() or 1)
    data_root = Path(os.environ.get("LCML_REAL_DATA", ROOT.parent / "shared" / "data"))
    os.environ.setdefault("LCML_PROJECT_DIR", str(ROOT))
    rid, paths = bench_cv.release("catalina-sss", data_root, args.home)
    data = bench_cv.training_data(rid, "survey")
    frame = pd.concat([data.frames["train"], data.frames["val"]], ignore_index=True)
    curves = list(zip(frame["time"], frame["flux"], frame["flux_err"]))
    lcml_ds = bench_cv.inputs("baseline", frame, data, paths.home / "cache" / "features")
    started = time.perf_counter()
    x_lc = lc_features(curves, args.n_jobs)
    lc_seconds = time.perf_counter() - started
    sets = {"lcml": lcml_ds.folded, "light_curve": x_lc, "lcml+light_curve": np.hstack([lcml_ds.folded, x_lc])}
    search = data.params.search.baseline
    result = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": _git("rev-parse", "--short", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain", "--", "src", "bench")),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "light_curve_version": __import__("light_curve").__version__,
        "n_cv": len(curves), "cv": "StratifiedKFold(5, shuffle=True, random_state=0) over train + val",
        "model": {"family": "baseline@survey", "hp": bench_cv.HP["baseline"], "options": search.options},
        "period_search": data.params.features.period.model_dump(),
        "light_curve_features_seconds": round(lc_seconds, 1), "sets": {},
    }
    for name, x in sets.items():
        ds = Dataset(folded=x.astype(np.float32), aux=np.zeros((len(x), 0), np.float32), y=lcml_ds.y)
        out = cv.cross_validate(fitter("baseline"), bench_cv.HP["baseline"], ds, search=search,
                                classes=data.classes, folds=5, seed=0)
        result["sets"][name] = {"n_features": int(x.shape[1]), "balanced_accuracy": out["balanced_accuracy"],
                                "macro_f1": out["macro_f1"], "recall": out["recall"]}
        print(f"{name} ({x.shape[1]} features): balanced accuracy {out['balanced_accuracy']['mean']:.4f} "
              f"+- {out['balanced_accuracy']['std']:.4f}", flush=True)
    rng = np.random.default_rng(0)
    sample = [curves[i] for i in rng.choice(len(curves), size=min(args.n_speed, len(curves)), replace=False)]
    result["speed_one_process"] = speed(sample, data.params.features)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()

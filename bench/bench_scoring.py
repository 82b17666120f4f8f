"""Scoring speed on real Catalina SSS curves: today's fine-grid period search against the coarse one.

Three measurements, side by side in one run (2 CPU cores):

* **period accuracy** on the period bench's 2,000-curve sample (``bench_period.load_catalina``, same
  seed): :func:`lcml.features.period.find_period` on the whole fine grid and with ``coarse`` (the
  periodogram on a sparser grid, its peaks refined on the fine one): fraction within 1% of the catalog
  period, at half and at double it, and CPU time per curve;
* **baseline features** (:func:`lcml.features.baseline.baseline_matrix`, both periodograms of every
  curve) in 2 processes: the plain astropy backend on the fine grid, nifty-ls on the fine grid
  (lcml before ``coarse``) and nifty-ls coarse;
* **the registered pyfunc**, loaded once: a bagged baseline (profile ``survey``, one trial) trained and
  registered on a sample of the file in a scratch ``LCML_HOME``, then scoring raw magnitude curves
  (Catalina's own columns, converted as ``lcml predict`` does) with the period search it was trained
  with (coarse) and with the fine grid; curves per second from raw curve to probabilities, and how
  often the two agree on the label.

Each timed run comes after a warm-up on other curves (``WARM_UP``) that starts the feature processes
and builds their NUFFT plans: the figures are a scorer's steady state, as a service or a broker that
keeps the model loaded sees it; the pyfunc's warm-up time is recorded beside them.

    .venv/bin/python bench/bench_scoring.py [--n-score 2000] [--coarse 2]

Writes ``bench/results/scoring.json``.
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
from _common import scratch_project  # noqa: E402
from bench_period import accuracy, load_catalina, real_data_dir  # noqa: E402

CATALINA = {"min_period": 0.05, "max_period": 1500.0, "oversample": 5.0}
#: curves scored before each timed run (other curves than the timed ones): enough chunks of 64 to start
#: every feature process and build the NUFFT plans for Catalina's grid sizes
WARM_UP = 400


def period_accuracy(n: int, seed: int, coarse: float) -> dict:
    from lcml.features.period import find_period

    curves = load_catalina(n, seed)
    true = np.array([c["period"] for c in curves])
    out = {"n": len(curves), "sample": f"bench_period.load_catalina({n}, seed={seed})"}
    for name, setting in (("fine", None), (f"coarse_{coarse:g}", coarse)):
        c0 = time.process_time()
        found = np.array([find_period(c["t"], c["f"], c["e"], **CATALINA, coarse=setting).period for c in curves])
        cpu = time.process_time() - c0
        out[name] = {**accuracy(found, true), "ms_per_curve_cpu": round(1e3 * cpu / len(curves), 2)}
        print(f"period search {name}: {out[name]}", flush=True)
    return out


def magnitude_frame(n: int, seed: int):
    import pandas as pd

    df = pd.read_parquet(real_data_dir() / "catalina_sss" / "train.parquet", columns=["id", "mjd", "mag", "mag_err"])
    return df.sample(n=min(n, len(df)), random_state=seed).reset_index(drop=True)


def feature_speed(n: int, n_astropy: int, seed: int, coarse: float, n_jobs: int) -> dict:
    from lcml.features.baseline import baseline_matrix
    from lcml.serving.inputs import to_curves

    curves_df, _ = to_curves(magnitude_frame(n + WARM_UP, seed))
    everything = list(zip(curves_df["time"], curves_df["flux"], curves_df["flux_err"]))
    curves, warm = everything[:n], everything[n:]
    out = {"n": len(curves), "n_jobs": n_jobs, "warm_up_curves": WARM_UP}
    runs = (("astropy_fine", curves[:n_astropy], dict(backend="astropy")), ("nifty_fine", curves, {}),
            (f"nifty_coarse_{coarse:g}", curves, dict(coarse=coarse)))
    for name, subset, extra in runs:
        # the worker processes started and their NUFFT plans built first: a scorer that stays up pays that once
        # (astropy has no plans: two chunks start the processes)
        baseline_matrix(warm[:128] if "backend" in extra else warm, **CATALINA, n_jobs=n_jobs, **extra)
        started = time.perf_counter()
        baseline_matrix(subset, **CATALINA, n_jobs=n_jobs, **extra)
        wall = time.perf_counter() - started
        out[name] = {"n": len(subset), "curves_per_s": round(len(subset) / wall, 1)}
        print(f"baseline features {name}: {out[name]}", flush=True)
    out["coarse_vs_fine"] = round(out[runs[2][0]]["curves_per_s"] / out["nifty_fine"]["curves_per_s"], 2)
    out["coarse_vs_astropy"] = round(out[runs[2][0]]["curves_per_s"] / out["astropy_fine"]["curves_per_s"], 2)
    return out


def registered_model(n_train: int, seed: int, coarse: float, home: Path) -> str:
    """A bagged baseline trained on ``n_train`` Catalina stars and registered; its ``models:/`` URI."""
    scratch_project(home)  # the release goes there too: a second run must not find the first one's
    from lcml import pipeline

    overrides = {"features": {"surveys": {"catalina-sss": {"period": {"coarse": coarse}}}},
                 "search": {"families": ["baseline"], "baseline": {"n_trials": 1, "cv_folds": 0}}}
    rid = pipeline.release_from_source("catalina-sss", real_data_dir() / "catalina_sss" / "train.parquet",
                                       "bench-scoring", limit=n_train, sample_seed=seed, profile="survey",
                                       overrides=overrides)
    pipeline.validate(rid, profile="survey", overrides=overrides)
    trained = pipeline.train(rid, run_name="bench", family="baseline", profile="survey", overrides=overrides)
    gated = pipeline.register_and_gate(trained, profile="survey", overrides=overrides)
    return f"models:/{gated['model_name']}/{gated['version']}"


def pyfunc_speed(uri: str, n: int, seed: int) -> dict:
    from lcml.serving.inputs import to_curves
    from lcml.serving.loader import INPUT_COLUMNS, load_model

    model = load_model(uri)
    inner = model.unwrap_python_model()
    curves, _ = to_curves(magnitude_frame(n + WARM_UP, seed))
    frame, warm = curves[INPUT_COLUMNS].iloc[:n], curves[INPUT_COLUMNS].iloc[n:]
    trained_with = inner.features.period.coarse
    out = {"uri": uri, "n": len(frame), "trained_with_coarse": trained_with, "options": inner.options}
    labels = {}
    for name, setting in (("coarse", trained_with), ("fine", None)):
        inner.features.period.coarse = setting
        # first-call costs are not per curve: the feature processes start and plan their NUFFTs once
        started = time.perf_counter()
        model.predict(warm)
        out[f"{name}_warm_up_s"] = round(time.perf_counter() - started, 1)
        started = time.perf_counter()
        labels[name] = model.predict(frame)["label_pred"].to_numpy()
        wall = time.perf_counter() - started
        out[name] = {"curves_per_s": round(len(frame) / wall, 1), "seconds": round(wall, 1)}
        print(f"registered pyfunc, period search {name}: {out[name]}", flush=True)
    inner.features.period.coarse = trained_with
    out["same_label_fraction"] = round(float(np.mean(labels["coarse"] == labels["fine"])), 4)
    out["coarse_vs_fine"] = round(out["coarse"]["curves_per_s"] / out["fine"]["curves_per_s"], 2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-period", type=int, default=2000)
    ap.add_argument("--n-features", type=int, default=1000)
    ap.add_argument("--n-astropy", type=int, default=300, help="the astropy reference is slow: fewer curves")
    ap.add_argument("--n-train", type=int, default=1500)
    ap.add_argument("--n-score", type=int, default=2000)
    ap.add_argument("--coarse", type=float, default=2.0)
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "scoring.json")
    args = ap.parse_args()

    result = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": _git("rev-parse", "--short", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain", "--", "src", "bench")),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average_at_start": [round(x, 2) for x in os.getloadavg()]},
        "period_grid": CATALINA,
        "period_accuracy": period_accuracy(args.n_period, args.seed, args.coarse),
        "baseline_features": feature_speed(args.n_features, args.n_astropy, args.seed + 1, args.coarse, args.n_jobs),
    }
    with tempfile.TemporaryDirectory(prefix="lcml-bench-scoring-") as home:
        uri = registered_model(args.n_train, args.seed, args.coarse, Path(home))
        result["registered_pyfunc"] = pyfunc_speed(uri, args.n_score, args.seed + 2)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()

"""A whole release at survey scale: build -> validate -> publish -> features, 10,000 and 100,000 curves.

Each size runs in its own process with its own project: a simulated Kepler release of one-quarter curves
(90 days at 29.4-min cadence, ~4,200 points) is built streaming (:func:`lcml.data.release.write_release`),
validated with Great Expectations (:func:`lcml.pipeline.validate`, the curves read a batch at a time),
published with DVC (``dvc add`` + ``dvc push`` to a local remote) and featurised for training
(:func:`lcml.pipeline.featurize_release`: the baseline's features of the train and validation splits, 2
processes, into the feature cache). Per stage: wall time and the peak memory of the process and its
children together (feature workers, the DVC command), sampled every 0.2 s.

    .venv/bin/python bench/bench_release_path.py --sizes 10000 100000

Writes ``bench/results/release_path.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, PeakRss, write_scaling  # noqa: E402  (bench/ is on sys.path when run)
from bench_release_stream import build  # noqa: E402

DURATION_DAYS = 90.0


def stage(name: str, fn) -> tuple[dict, object]:
    started = time.perf_counter()
    with PeakRss(os.getpid()) as peak:
        value = fn()
    seconds = time.perf_counter() - started
    print(f"  {name}: {seconds:.1f} s, peak {peak.total_mb:.0f} MB", file=sys.stderr, flush=True)
    return {"seconds": round(seconds, 1), "peak_rss_mb_total": round(peak.total_mb, 1)}, value


def one(n: int, chunk: int, root: Path) -> dict:
    shutil.copy(ROOT / "params.yaml", root / "params.yaml")
    out: dict = {"n_curves": n}
    built, made = stage("build", lambda: build(n, chunk, DURATION_DAYS, root))
    out["build"] = {**built, "mean_points_per_curve": made["mean_points_per_object"], "parquet_mb": made["parquet_mb"]}
    from lcml import pipeline

    rid = f"kepler/bench-{n}"
    out["validate"], summary = stage("validate", lambda: pipeline.validate(rid))
    out["validate"].update(passed=summary["passed"], n_accepted=summary["n_accepted"])
    out["publish"], _ = stage("publish", lambda: pipeline.publish(rid))
    out["features"], feats = stage("features", lambda: pipeline.featurize_release(rid))
    out["features"].update(n_train=feats["train"]["n_curves"], n_val=feats["val"]["n_curves"])
    out["features"]["curves_per_s"] = round((feats["train"]["n_curves"] + feats["val"]["n_curves"])
                                            / out["features"]["seconds"], 1)
    out["seconds_total"] = round(sum(out[s]["seconds"] for s in ("build", "validate", "publish", "features")), 1)
    out["peak_rss_mb_total"] = max(out[s]["peak_rss_mb_total"] for s in ("build", "validate", "publish", "features"))
    out["peak_rss_mb_main_exact"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--chunk", type=int, default=1000)
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "release_path.json")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # internal: one size in this process
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.chunk, args.root)))
        return
    runs = []
    for n in args.sizes:
        with tempfile.TemporaryDirectory(prefix="lcml-release-path-") as tmp:
            proc = subprocess.run([sys.executable, __file__, "--one", str(n), "--chunk", str(args.chunk), "--root", tmp],
                                  stdout=subprocess.PIPE, text=True, check=True)
            runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            print(json.dumps(runs[-1]), flush=True)
    write_scaling(args.output, "release_path", runs, "seconds_total",
                  "100k curves built, validated, published and featurised within 3 GB, time linear in the count",
                  input=f"simulated Kepler quarters, {DURATION_DAYS:g} days at 29.4-min cadence, profile demo")


if __name__ == "__main__":
    main()

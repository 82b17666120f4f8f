"""Streaming release build: simulated Kepler releases of growing size, time and peak memory.

Each size runs in its own process (so each peak RSS is its own): the simulator makes the release in
chunks of ``--chunk`` stars and :func:`lcml.data.release.write_release` streams them into one Parquet
file, so memory stays flat while time grows linearly with the number of stars.

    .venv/bin/python bench/bench_release_stream.py --sizes 5000 20000 100000

Writes ``bench/results/release_stream.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent


def build(n_objects: int, chunk: int, duration_days: float, root: Path) -> dict:
    from lcml.config import Paths
    from lcml.data import release as rel
    from lcml.data.simulate.lightcurves import simulate_kepler

    os.environ["LCML_PROJECT_DIR"] = str(root)
    os.environ["LCML_HOME"] = str(root / ".lcml")
    paths = Paths.from_env().ensure()
    n_points = 0

    def batches():
        nonlocal n_points
        for start in range(0, n_objects, chunk):
            sim = simulate_kepler(min(chunk, n_objects - start), seed=start, duration_days=duration_days,
                                  id_prefix=f"SIM{start:07d}-")
            n_points += sum(len(t) for t in sim.lightcurves.column("time").to_pylist())
            yield sim.lightcurves

    started = time.perf_counter()
    folder = rel.write_release(paths, f"kepler/bench-{n_objects}", batches(), source="bench_release_stream")
    seconds = time.perf_counter() - started
    manifest = rel.read_manifest(folder)
    return {
        "n_objects": manifest["n_objects"],
        "n_points": n_points,
        "mean_points_per_object": round(n_points / n_objects),
        "seconds": round(seconds, 1),
        "objects_per_second": round(n_objects / seconds, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "parquet_mb": round((folder / rel.LIGHTCURVES).stat().st_size / 2**20, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 20000, 100000])
    parser.add_argument("--chunk", type=int, default=1000)
    parser.add_argument("--duration-days", type=float, default=83.0, help="83 d of Kepler long cadence ≈ 4,000 points")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # internal: build one size in this process
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(build(args.one, args.chunk, args.duration_days, args.root)))
        return
    runs = []
    for n in args.sizes:
        with tempfile.TemporaryDirectory(prefix="lcml-bench-") as tmp:
            out = subprocess.run([sys.executable, __file__, "--one", str(n), "--chunk", str(args.chunk),
                                  "--duration-days", str(args.duration_days), "--root", tmp],
                                 check=True, capture_output=True, text=True)
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(runs[-1], flush=True)
    per_object = [r["seconds"] / r["n_objects"] for r in runs]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE).stdout.strip()
    result = {
        "benchmark": "release_stream",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "git_commit": commit,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "chunk": args.chunk,
        "duration_days": args.duration_days,
        "runs": runs,
        # linear time: seconds per object stays flat as the release grows
        "seconds_per_object_ratio_largest_to_smallest": round(per_object[-1] / per_object[0], 2),
        "target": "100k objects x ~4,000 points with peak RSS <= 3 GB, time linear in size",
    }
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "release_stream.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

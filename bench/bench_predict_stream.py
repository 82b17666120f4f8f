"""``lcml predict`` at survey scale: 10,000 and 100,000 simulated Kepler quarters, time and peak memory.

A scratch project (profile ``ci``, the feature baseline with 2 feature processes) trains and registers
a model on ``kepler/sim-v1``; then, for each size, a Parquet input of that many simulated one-quarter
Kepler curves (90 days at 29.4-min cadence, ~4,200 points each, written 1,000 at a time) is scored by
``lcml predict`` as a user runs it, in its own process. Peak memory is that process and its feature
workers together (sampled every 0.2 s); time is the command's wall time. The output is checked: one row
per input curve, none with an error.

    .venv/bin/python bench/bench_predict_stream.py --sizes 10000 100000

Writes ``bench/results/predict_stream.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, PeakRss, scratch_project, write_scaling  # noqa: E402  (bench/ is on sys.path when run)

CHUNK = 1000
DURATION_DAYS = 90.0


def registered_model(root: Path) -> str:
    scratch_project(root, profile="ci")
    from lcml import pipeline

    overrides = {"search": {"families": ["baseline"], "baseline": {"options": {"n_jobs": 2}}}}
    rid = pipeline.prepare_release("kepler/sim-v1", overrides=overrides)
    trained = pipeline.train(rid, run_name="predict-stream", family="baseline", overrides=overrides)
    gated = pipeline.register_and_gate(trained, overrides=overrides)
    return f"models:/{gated['model_name']}/{gated['version']}"


def write_input(path: Path, n: int) -> dict:
    import pyarrow.parquet as pq

    from lcml.data.simulate.lightcurves import simulate_kepler

    started, n_points, writer = time.perf_counter(), 0, None
    try:
        for start in range(0, n, CHUNK):
            table = simulate_kepler(min(CHUNK, n - start), seed=10_000 + start, duration_days=DURATION_DAYS,
                                    id_prefix=f"P{start:07d}").lightcurves.drop_columns(["label"])
            n_points += sum(len(t) for t in table.column("time").to_pylist())
            writer = writer or pq.ParquetWriter(path, table.schema, compression="zstd")
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()
    return {"n_points": n_points, "mean_points_per_curve": round(n_points / n),
            "input_mb": round(path.stat().st_size / 2**20, 1), "write_s": round(time.perf_counter() - started, 1)}


def predict(uri: str, source: Path, output: Path, n: int) -> dict:
    import pyarrow.parquet as pq

    command = [str(Path(sys.executable).with_name("lcml")), "predict", "--model", uri, "--input", str(source),
               "--output", str(output)]
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with PeakRss(proc.pid) as peak:
        out, err = proc.communicate()
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"lcml predict failed ({proc.returncode}): {err[-2000:]}")
    scored = pq.read_table(output, columns=["object_id", "error"])
    n_errors = scored.num_rows - scored.column("error").null_count
    return {"seconds": round(seconds, 1), "curves_per_s": round(n / seconds, 1),
            "peak_rss_mb_total": round(peak.total_mb, 1), "peak_rss_mb_main": round(peak.main_mb, 1),
            "output_rows": scored.num_rows, "output_errors": n_errors,
            "output_row_groups": pq.ParquetFile(output).num_row_groups,
            # the command's summary line, without the scratch folder's path on this machine
            "summary": [line.replace(str(output), output.name) for line in out.strip().splitlines()[-1:]]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "predict_stream.json")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="lcml-predict-stream-"))
    try:
        uri = registered_model(root)
        runs = []
        for n in args.sizes:
            source, output = root / f"in-{n}.parquet", root / f"out-{n}.parquet"
            run = {"n_curves": n, **write_input(source, n)}
            run.update(predict(uri, source, output, n))
            print(json.dumps(run), flush=True)
            runs.append(run)
            source.unlink()
            output.unlink()
        write_scaling(args.output, "predict_stream", runs, "seconds",
                      "100k curves with peak RSS <= 3 GB, time linear in the count (10k vs 100k)",
                      model=f"{uri}: feature baseline, profile ci, 2 feature processes, trained on kepler/sim-v1",
                      input=f"simulated Kepler quarters, {DURATION_DAYS:g} days at 29.4-min cadence, Parquet (zstd)")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()

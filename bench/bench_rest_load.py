"""REST scoring under load: ``mlflow models serve`` of a registered lcml model on 127.0.0.1.

A scratch project (profile ``ci``) trains and registers the feature baseline on the simulated Kepler
release; the scoring server is started exactly as ``make serve`` does (``--env-manager local``). Measured:

* **start-up**: seconds until ``/ping`` answers, then the first and the second request (one curve);
* **latency under load**: ``--requests`` requests of one light curve each (300 or 1,500 irregular points
  over ~5.5 years, Catalina-like), sent by 1, 4 and 16 concurrent clients: p50, p95 and max latency,
  requests per second, and errors (any answer but 200);
* **one big request**: ``--batch`` curves of 300 points in one request: seconds and curves/s, which
  sets how many curves fit in one request under the server's 60 s timeout
  (``MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT``).

    .venv/bin/python bench/bench_rest_load.py [--requests 48] [--batch 500]

Writes ``bench/results/rest_load.json``. Bounded in count and time: every request has a 120 s timeout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from _common import ROOT  # noqa: E402  (bench/ is on sys.path when run)
from _common import git as _git  # noqa: E402
from _common import scratch_project  # noqa: E402

MODEL = "models:/kepler-variable-star-classifier@champion"


def curve(n_points: int, seed: int) -> list:
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(53500.0, 55500.0, n_points))
    f = 1 + 0.2 * np.sin(2 * np.pi * t / rng.uniform(0.3, 5.0)) + rng.normal(0, 0.02, n_points)
    return [f"star-{seed}", t.tolist(), f.tolist(), [0.02] * n_points]


def payload(curves: list[list]) -> bytes:
    return json.dumps({"dataframe_split": {"columns": ["object_id", "time", "flux", "flux_err"],
                                           "data": curves}}).encode()


def post(url: str, body: bytes) -> tuple[float, int]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    t0 = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:
            answer.read()
            status = answer.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (urllib.error.URLError, TimeoutError):
        status = 0
    return time.perf_counter() - t0, status


def load(url: str, clients: int, requests: int, n_points: int) -> dict:
    bodies = [payload([curve(n_points, seed)]) for seed in range(requests)]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(lambda body: post(url, body), bodies))
    wall = time.perf_counter() - t0
    latency = np.array([r[0] for r in results])
    return {"clients": clients, "points": n_points, "requests": requests,
            "p50_s": round(float(np.percentile(latency, 50)), 3), "p95_s": round(float(np.percentile(latency, 95)), 3),
            "max_s": round(float(latency.max()), 3), "requests_per_s": round(requests / wall, 2),
            "errors": int(sum(status != 200 for _, status in results))}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=48, help="requests per load level (default 48)")
    parser.add_argument("--batch", type=int, default=500, help="curves in the one big request (default 500)")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "rest_load.json")
    args = parser.parse_args()

    root = scratch_project(Path(tempfile.mkdtemp(prefix="lcml-rest-load-")), profile="ci")
    from lcml import pipeline
    from lcml.config import Paths

    rid = pipeline.prepare_release("kepler/sim-v1")
    trained = pipeline.train(rid, run_name="rest-load", family="baseline")
    pipeline.register_and_gate(trained)
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "MLFLOW_TRACKING_URI": Paths.from_env().mlflow_tracking_uri,
           "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    port = free_port()
    started = time.perf_counter()
    server = subprocess.Popen([str(bin_dir / "mlflow"), "models", "serve", "-m", MODEL, "--env-manager", "local",
                               "-h", "127.0.0.1", "-p", str(port)], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{base}/ping", timeout=2):
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.perf_counter() - started > 300 or server.poll() is not None:
                    raise SystemExit("the scoring server did not start")
                time.sleep(0.2)
        startup = time.perf_counter() - started
        url = f"{base}/invocations"
        first, _ = post(url, payload([curve(300, 10_000)]))
        second, _ = post(url, payload([curve(300, 10_001)]))
        result = {
            "date": dt.date.today().isoformat(), "commit": _git("rev-parse", "--short", "HEAD"),
            "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
            "python": platform.python_version(), "cpus": os.cpu_count(), "model": "baseline (profile ci), kepler/sim-v1",
            "startup_s": round(startup, 2), "first_request_s": round(first, 3), "second_request_s": round(second, 3),
            "load": [],
        }
        print(f"start-up {startup:.1f} s, first request {first:.2f} s, second {second:.2f} s", flush=True)
        for n_points in (300, 1500):
            for clients in (1, 4, 16):
                level = load(url, clients, args.requests, n_points)
                result["load"].append(level)
                print(json.dumps(level), flush=True)
        seconds, status = post(url, payload([curve(300, 20_000 + i) for i in range(args.batch)]))
        result["batch"] = {"curves": args.batch, "points": 300, "seconds": round(seconds, 2), "status": status,
                           "curves_per_s": round(args.batch / seconds, 1),
                           "curves_in_60_s": int(60 * args.batch / seconds)}
        print(json.dumps(result["batch"]), flush=True)
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()

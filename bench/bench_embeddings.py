"""Benchmark AstroM3 embedding throughput and nearest-neighbour search over a large embedding table.

Measures

* objects/s embedded by :func:`lcml.training.clip.embed` (evaluation mode, centre crops, batch
  preparation included) for the photometry encoder alone and for all three encoders, at the authors'
  sizes (:class:`~lcml.models.astrom3.AstroM3Config` defaults: 8-layer 128-d transformer over 200
  points, GalSpecNet over 2575 bins, 512-unit metadata MLP, 512-d embedding), on randomly
  initialised weights (speed does not depend on them);
* for a table of ``--table`` random 512-d embeddings: the time to build an
  :class:`~lcml.serving.embeddings.EmbeddingIndex`, the latency of one :func:`~lcml.serving.embeddings.similar`
  query (k=10) and the per-query cost when 1,000 vectors are searched in one call.

Timings are the best of ``--repeat`` runs (the least disturbed by other load), once per entry of
``--threads`` (torch and BLAS threads; default 1 and 2: per-core figures comparable across machines,
and the whole of the 2-core CI box). The JSON records the date, git commit, CPU count and the 1-minute
load average at the start, since other processes on a shared box slow every figure.

Usage::

    .venv/bin/python bench/bench_embeddings.py [--objects 256] [--table 100000] [--threads 1 2]
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
import torch
from threadpoolctl import threadpool_limits

from lcml.serving.embeddings import EmbeddingIndex, make_table, similar
from lcml.models.astrom3 import AstroM3, AstroM3Config, resample_spectrum, spectrum_grid
from lcml.training.clip import MultimodalData, embed

from _common import ROOT  # noqa: E402  (bench/ is on sys.path when run)
from _common import git as _git  # noqa: E402


def _best(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _data(n: int, cfg: AstroM3Config, seed: int) -> MultimodalData:
    """ASAS-SN-like inputs: 300-600 points over ~5 years, a LAMOST-like spectrum, 34 metadata columns."""
    rng = np.random.default_rng(seed)
    lcs = []
    for _ in range(n):
        m = int(rng.integers(300, 600))
        t = np.sort(rng.uniform(0, 1800, m))
        lcs.append(np.stack([t, 1 + 0.2 * np.sin(2 * np.pi * t / rng.uniform(0.2, 50)) + rng.normal(0, .02, m),
                             np.full(m, 0.02)], 1))
    grid = spectrum_grid(cfg)
    wl = np.geomspace(3700, 9100, 3909)  # LAMOST LRS: log-linear, ~3900 pixels
    spectra = np.stack([resample_spectrum(wl, 1 + rng.normal(0, 0.05, wl.size), np.full(wl.size, 400.0), grid)
                        for _ in range(n)])
    return MultimodalData(lightcurves=lcs, aux=rng.normal(0, 1, (n, cfg.n_aux)), spectra=spectra,
                          metadata=rng.normal(0, 1, (n, cfg.n_metadata)))


def _measure(args: argparse.Namespace, cfg: AstroM3Config, data: MultimodalData, matrix: np.ndarray) -> dict:
    """Embedding throughput and nearest-neighbour latency with the current thread settings."""
    threads = torch.get_num_threads()
    throughput = {}
    for name, modalities in (("photometry", ("photometry",)),
                             ("all_three", ("photometry", "spectra", "metadata"))):
        torch.manual_seed(args.seed)
        model = AstroM3(cfg, modalities).eval()
        part = data if name == "all_three" else MultimodalData(lightcurves=data.lightcurves, aux=data.aux)
        embed(model, part.subset(np.arange(min(8, len(part)))), device="cpu")  # warm-up (allocator, kernels)
        seconds = _best(lambda: embed(model, part, batch_size=args.batch_size, device="cpu"), args.repeat)
        throughput[name] = {"objects": len(part), "seconds": round(seconds, 3),
                            "objects_per_s": round(len(part) / seconds, 1),
                            "parameters": sum(p.numel() for p in model.parameters())}
        print(f"[{threads} thread(s)] embed {name:10s}: {len(part) / seconds:8.1f} objects/s "
              f"({seconds:.2f} s for {len(part)})")
    out = {"embedding_throughput": throughput}

    rng = np.random.default_rng(args.seed)
    table = make_table([f"obj-{i}" for i in range(args.table)], matrix)
    t0 = time.perf_counter()
    index = EmbeddingIndex(table)
    build = time.perf_counter() - t0
    ids = table["object_id"].to_numpy()[rng.choice(args.table, args.queries, replace=False)]
    similar(index, ids[0], k=10)  # warm-up
    single = []
    for oid in ids:
        t0 = time.perf_counter()
        similar(index, oid, k=10)
        single.append(time.perf_counter() - t0)
    batch_vectors = matrix[:1000]
    batched = _best(lambda: index.query(batch_vectors, 11), args.repeat)
    out["nearest_neighbours"] = {
        "table_rows": args.table, "dim": args.dim, "k": 10,
        "index_build_s": round(build, 3),
        "single_query_ms_median": round(1e3 * float(np.median(single)), 2),
        "single_query_ms_p90": round(1e3 * float(np.quantile(single, 0.9)), 2),
        "single_queries_timed": len(single),
        "batched_1000_queries_ms_per_query": round(batched, 4),  # seconds per 1000 = ms per query
    }
    print(f"[{threads} thread(s)] index build {build:.2f} s; similar() k=10: median {1e3 * np.median(single):.1f} ms, "
          f"p90 {1e3 * np.quantile(single, 0.9):.1f} ms; batched {batched:.3f} ms/query")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--objects", type=int, default=256, help="objects embedded per throughput run")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--table", type=int, default=100_000, help="rows of the random embedding table")
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--queries", type=int, default=200, help="single similar() queries timed")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                    help="torch/BLAS thread counts, one run each")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "embeddings.json")
    args = ap.parse_args()

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    cfg = AstroM3Config()
    result: dict = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain")),
        "cpu_count": os.cpu_count(),
        "load_average_1min": load,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "device": "cpu",
        "config": cfg.as_dict(),
    }

    data = _data(args.objects, cfg, args.seed)
    matrix = np.random.default_rng(args.seed).normal(0, 1, (args.table, args.dim)).astype(np.float32)
    runs = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        with threadpool_limits(threads):
            runs.append({"threads": threads, **_measure(args, cfg, data, matrix)})
    result["runs"] = runs

    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()

"""AstroM3 label-fraction study: how much does CLIP pretraining help when few objects are labelled?

Runs :func:`lcml.studies.label_fraction.label_fraction_study` on two datasets, each in a throw-away project
(temporary ``LCML_HOME``, its own SQLite MLflow; the user's state is never touched):

* **sim** — a simulated AstroM3 release (``astrom3/sim-v1`` built by
  :func:`lcml.pipeline.prepare_release` with ``--sim-objects`` stars): light curves, LAMOST-like
  spectra and the 34 catalog metadata columns;
* **catalina** — real Catalina SSS light curves (``$LCML_REAL_DATA/catalina_sss/train.parquet``,
  default ``../shared/data``), a random sample of ``--catalina-stars`` built into a release with
  :func:`lcml.pipeline.release_from_source`; metadata = Galactic position (unit vector) + catalog
  ``vmag``; never the label, ``type_code`` or the catalog ``period``/``amplitude``.

For every modality set the release has (and their fusion ``all``), both inits (``scratch``,
``clip``) and every label fraction, one classifier is fine-tuned and scored on the release's test
split. CLIP pretraining runs once per dataset on every train object. The photometry aux features
(log period, log amplitude) are measured on the light curves in both datasets. The JSON
(``bench/results/label_fraction.json``) records the date, git commit, settings, the full table per
dataset, and the headline: the CLIP-minus-scratch gain at 10% labels per modality set and dataset.

The encoders are the study's small CPU configuration with light curves cropped to ``--max-points``
points (100 by default: attention over 200 points costs ~6x more per sample on a CPU).

Usage::

    nice -n 10 .venv/bin/python bench/bench_label_fraction.py [--sim-objects 2500] [--catalina-stars 3500]
        [--pretrain-epochs 15] [--finetune-epochs 8] [--min-steps 80] [--datasets sim catalina]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT  # noqa: E402  (bench/ is on sys.path when run)
from _common import git as _git  # noqa: E402
from _common import scratch_project  # noqa: E402


def _say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _project(tmp: Path) -> Path:
    """A fresh lcml project in ``tmp``: params.yaml copied, state under ``tmp/project/.lcml``."""
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    return scratch_project(tmp / "project", profile="demo")


def _release_summary(release: str) -> dict:
    from lcml.data import release as rel
    from lcml.pipeline import context

    _, paths = context()
    manifest = rel.read_manifest(rel.release_dir(paths, release))
    return {"release": release, "n_objects": manifest["n_objects"], "class_counts": manifest["class_counts"],
            # the ingest source names the input's absolute path: keep the survey file and the sampling only
            "source": (manifest["source"] if not release.startswith("catalina") else
                       "catalina-sss: catalina_sss/train.parquet " + " ".join(re.findall(r"\(limit=.*\)", manifest["source"])))}


def _run(name: str, release: str, args: argparse.Namespace, build_s: float) -> dict:
    import pandas as pd

    from lcml.studies.label_fraction import gain_summary, label_fraction_study, load_study_data

    t0 = time.perf_counter()
    data = load_study_data(release, embed_dim=args.embed_dim, config={"max_points": args.max_points},
                           feature_jobs=args.feature_jobs, progress=_say)
    load_s = time.perf_counter() - t0
    _say(f"{name}: {len(data.train)} train ({int((data.train.labels >= 0).sum())} labelled), {len(data.val)} val, "
         f"{len(data.test)} test; modalities {', '.join(data.modalities)}; metadata {data.metadata_columns[:6]}"
         f"{' ...' if len(data.metadata_columns) > 6 else ''} ({load_s:.0f} s)")
    table = label_fraction_study(
        release, fractions=args.fractions, seeds=args.seeds, pretrain_epochs=args.pretrain_epochs,
        finetune_epochs=args.finetune_epochs, min_steps=args.min_steps, finetune_lr=args.finetune_lr,
        pretrain_lr=args.pretrain_lr, data=data, progress=_say, run_name=f"bench-{name}")
    at10 = gain_summary(table, fraction=0.1)
    pd.set_option("display.width", 200)
    print(gain_summary(table).round(3).to_string(index=False), flush=True)
    history = table.attrs["pretrain_history"]
    return {
        "dataset": name,
        **_release_summary(release),
        "modalities": list(data.modalities),
        "metadata_kind": data.metadata_kind,
        "metadata_columns": data.metadata_columns,
        "aux_features": "log10 Lomb-Scargle period and log10 amplitude measured on each light curve",
        "classes": data.classes,
        "n_train": len(data.train), "n_train_labelled": int((data.train.labels >= 0).sum()),
        "n_val": len(data.val), "n_test_scored": int(table["n_test"].iloc[0]),
        "pretrain": {"final": history[-1] if history else None,
                     "train_loss": [round(h["train_loss"], 4) for h in history],
                     "val_loss": [round(h["val_loss"], 4) for h in history if "val_loss" in h]},
        "table": table.round(4).to_dict("records"),
        "gain_at_10pct_labels": {r["modalities"]: {"n_labelled": int(r["n_labelled"]),
                                                   **{k: round(float(v), 4) for k, v in r.items()
                                                      if k.endswith(("_gain", "_scratch", "_clip"))}}
                                 for r in at10.to_dict("records")},
        "gain_by_fraction": gain_summary(table).round(4).to_dict("records"),
        "timings_s": {"build_release": round(build_s, 1), "load_and_features": round(load_s, 1),
                      **{k: v for k, v in table.attrs["timings"].items()}},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=["sim", "catalina"], choices=["sim", "catalina"])
    ap.add_argument("--sim-objects", type=int, default=2500)
    ap.add_argument("--catalina-stars", type=int, default=3500, help="random sample of the 16,195 stars")
    ap.add_argument("--fractions", type=float, nargs="+", default=[0.1, 0.25, 0.5, 1.0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--pretrain-epochs", type=int, default=15)
    ap.add_argument("--finetune-epochs", type=int, default=8)
    ap.add_argument("--min-steps", type=int, default=80, help="optimiser steps at least, per fine-tuning")
    ap.add_argument("--pretrain-lr", type=float, default=1e-3)
    ap.add_argument("--finetune-lr", type=float, default=1e-3)
    ap.add_argument("--embed-dim", type=int, default=64)
    ap.add_argument("--max-points", type=int, default=100)
    ap.add_argument("--feature-jobs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (1: on a busy 2-core box two threads ran 2x slower per sample)")
    ap.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "label_fraction.json")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    real = Path(os.environ.get("LCML_REAL_DATA", ROOT.parent / "shared" / "data"))
    started = time.perf_counter()
    result: dict = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain", "--", "src/lcml", "bench")),
        "cpu_count": os.cpu_count(), "load_average_1min_at_start": round(os.getloadavg()[0], 2),
        "python": platform.python_version(), "torch": torch.__version__, "torch_threads": args.threads,
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        "settings": {
            "fractions": args.fractions, "seeds": args.seeds, "pretrain_epochs": args.pretrain_epochs,
            "finetune_epochs": args.finetune_epochs, "min_steps": args.min_steps, "pretrain_lr": args.pretrain_lr,
            "finetune_lr": args.finetune_lr, "pretrain_batch_size": 128, "finetune_batch_size": 64,
            "embed_dim": args.embed_dim, "max_points": args.max_points,
            "encoders": "lcml.studies.label_fraction.study_config: 2-layer 64-d transformer (ff 128), 16-16-16 CNN over 640 "
                        "spectrum bins, 2x128 metadata MLP",
            "val_labels": "fraction (validation labels subsampled at the same fraction pick the best epoch)",
            "split": "the release's own train/val/test (data.split 0.70/0.15/0.15 by object-id hash)",
            "sim_objects": args.sim_objects if "sim" in args.datasets else None,
            "catalina_stars": args.catalina_stars if "catalina" in args.datasets else None,
            "catalina_data": "catalina_sss/train.parquet (under LCML_REAL_DATA)",
        },
        "datasets": {},
    }
    from lcml import pipeline

    with tempfile.TemporaryDirectory(prefix="lcml-label-bench-") as tmp:
        _project(Path(tmp))
        for name in args.datasets:
            t0 = time.perf_counter()
            if name == "sim":
                _say(f"simulating astrom3/sim-v1 with {args.sim_objects} objects")
                release = pipeline.prepare_release(
                    "astrom3/sim-v1", overrides={"data": {"simulate": {"n_objects": args.sim_objects}}})
            else:
                source = real / "catalina_sss" / "train.parquet"
                if not source.is_file():
                    sys.exit(f"{source} not found (set LCML_REAL_DATA)")
                _say(f"building catalina-sss/label-study from a random {args.catalina_stars} of the Catalina SSS stars")
                release = pipeline.release_from_source("catalina-sss", source, "label-study",
                                                       limit=args.catalina_stars, sample_seed=0)
            build_s = time.perf_counter() - t0
            result["datasets"][name] = _run(name, release, args, build_s)
            result["total_s"] = round(time.perf_counter() - started, 1)
            args.output.parent.mkdir(parents=True, exist_ok=True)
            args.output.write_text(json.dumps(result, indent=2, default=float) + "\n")  # partial results survive
    result["gain_at_10pct_labels"] = {
        name: {mods: {"balanced_accuracy": g["balanced_accuracy_gain"], "macro_f1": g["macro_f1_gain"],
                      "accuracy": g["accuracy_gain"], "n_labelled": g["n_labelled"]}
               for mods, g in d["gain_at_10pct_labels"].items()}
        for name, d in result["datasets"].items()}
    result["total_s"] = round(time.perf_counter() - started, 1)
    args.output.write_text(json.dumps(result, indent=2, default=float) + "\n")
    _say(f"done in {result['total_s']:.0f} s; gain of CLIP over scratch at 10% labels (balanced accuracy):")
    for name, gains in result["gain_at_10pct_labels"].items():
        for mods, g in gains.items():
            print(f"  {name:9s} {mods:11s} n={g['n_labelled']:5d}  {g['balanced_accuracy']:+.3f}  "
                  f"(macro-F1 {g['macro_f1']:+.3f})")
    print(f"wrote {args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output}")


if __name__ == "__main__":
    main()

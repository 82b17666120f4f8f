"""StarWhisper's LC series on 2 CPU cores: text, picture and sound classifiers, pretrained against scratch.

For each data set and each family of the series (``lc_text``, ``lc_image``, ``lc_audio``), one candidate
with fixed hyperparameters (``HP``) is trained twice under the same budget (epochs, patience, data,
seed): from the pretrained local weights and from random initialisation (``lc_audio``: the ImageNet
EfficientNet-lite0 reading the spectrogram against the small spectrogram CNN from scratch, its default).
Each run is fold 1 of a stratified 5-fold split of the objects (80% to fit, of which a stratified 15%
stops training early; 20% scored). Recorded: accuracy, balanced accuracy, per-class recall, training
seconds, scoring throughput (curves/s from the family's inputs, model only, and from raw curves).

Data sets: ``kepler-sim`` (the simulated Kepler release of profile demo: the paper's six classes),
``k2`` (the 445 phase-folded K2SC curves in ``$LCML_REAL_DATA``) and ``catalina-sss`` (a stratified
sample of ``--catalina-sample`` objects of its train + validation split; the test split stays untouched).
Results go to ``bench/results/lc_series.json``.

Usage::

    .venv/bin/python bench/bench_lc_series.py [--sets kepler-sim,k2,catalina-sss] [--families lc_text,lc_image,lc_audio]
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

HP = {"lc_text": {"lr": 3.0e-4, "lora_rank": 0, "bins": 32, "dropout": 0.1},
      "lc_image": {"lr": 1.0e-3, "dropout": 0.2},
      "lc_audio": {"lr": 1.0e-3, "dropout": 0.2}}
#: the two arms of each family: options that differ between pretrained and scratch
ARMS = {"lc_text": {"pretrained": {"pretrained": True}, "scratch": {"pretrained": False}},
        "lc_image": {"pretrained": {"pretrained": True}, "scratch": {"pretrained": False}},
        "lc_audio": {"pretrained": {"arch": "efficientnet-lite0", "pretrained": True},
                     "scratch": {"arch": "small_cnn"}}}
BUDGET = {"lc_text": {"epochs": 4, "patience": 2, "batch_size": 32},
          "lc_image": {"epochs": 8, "patience": 3, "batch_size": 32},
          "lc_audio": {"epochs": 8, "patience": 3, "batch_size": 32}}


def _data(name: str, data_root: Path, home: Path, sample: int, seed: int):
    """``(frame, training data)`` of a data set: the objects to split and the pipeline's params/classes."""
    import pandas as pd

    from bench_cv import release, training_data

    if name == "kepler-sim":
        os.environ["LCML_HOME"] = str(home)
        os.environ["LCML_PROFILE"] = "demo"
        from lcml import pipeline

        rid = pipeline.prepare_release()
    else:
        rid, _ = release(name, data_root, home)
    data = training_data(rid, "demo")
    frame = pd.concat([data.frames["train"], data.frames["val"]], ignore_index=True)
    if sample and len(frame) > sample:  # stratified: each class keeps its share, at least 10 objects
        rng = np.random.default_rng(seed)
        share = sample / len(frame)
        keep = [rng.choice(idx, size=min(len(idx), max(10, int(round(share * len(idx))))), replace=False)
                for _, idx in frame.groupby("label").indices.items()]
        frame = frame.iloc[np.sort(np.concatenate(keep))].reset_index(drop=True)
    return frame, data


def run_arm(family: str, arm: str, ds, data, seed: int) -> dict:
    from sklearn.model_selection import StratifiedKFold

    from lcml.families.fitting import fitter
    from lcml.training.cv import _subset, fit_split, scores

    fam = fitter(family)
    search = data.params.search.of(family)
    search = search.model_copy(update={**BUDGET[family], "options": {**search.options, **ARMS[family][arm]}})
    train_idx, test_idx = next(StratifiedKFold(5, shuffle=True, random_state=seed).split(np.zeros(len(ds.y)), ds.y))
    fit, val = fit_split(fam, _subset(ds, train_idx), seed)
    test = _subset(ds, test_idx)
    started = time.perf_counter()
    fitted = fam.fit(HP[family], fit, val, search=search, n_classes=len(data.classes), seed=seed,
                     options=search.options)
    train_s = time.perf_counter() - started
    started = time.perf_counter()
    proba = fam.predict_proba(fitted.model, test.folded, test.aux)
    score_s = time.perf_counter() - started
    out = scores(test.y, proba.argmax(1))
    return {"options": ARMS[family][arm], "n_fit": len(fit.y), "n_val": len(val.y), "n_test": len(test.y),
            "best_epoch": fitted.best_epoch, "accuracy": round(float((proba.argmax(1) == test.y).mean()), 4),
            "balanced_accuracy": round(out["balanced_accuracy"], 4), "macro_f1": round(out["macro_f1"], 4),
            "recall": {data.classes[c]: round(r, 4) for c, r in out["recall"].items()},
            "train_seconds": round(train_s, 1), "model_curves_per_s": round(len(test.y) / max(score_s, 1e-9), 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", default="kepler-sim,k2,catalina-sss")
    ap.add_argument("--families", default="lc_text,lc_image,lc_audio")
    ap.add_argument("--catalina-sample", type=int, default=1500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--home", type=Path, default=Path(tempfile.gettempdir()) / "lcml-bench-cv")
    ap.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "lc_series.json")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from bench_cv import inputs
    from lcml.features.extract import featurize_many

    torch.set_num_threads(2)
    data_root = Path(os.environ.get("LCML_REAL_DATA", ROOT.parent / "shared" / "data"))
    result = json.loads(args.output.read_text()) if args.output.is_file() else {}
    result.update(date=dt.date.today().isoformat(), commit=_git("rev-parse", "--short", "HEAD"),
                  machine=f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch threads 2",
                  hp=HP, budget=BUDGET, arms=ARMS)
    sets = result.setdefault("sets", {})
    for name in args.sets.split(","):
        frame, data = _data(name, data_root, args.home, args.catalina_sample if name == "catalina-sss" else 0,
                            args.seed)
        entry = sets.setdefault(name, {})
        entry.update(commit=_git("rev-parse", "--short", "HEAD"), date=dt.date.today().isoformat(),
                     n_objects=len(frame), classes=list(data.classes),
                     class_counts={k: int(v) for k, v in frame["label"].value_counts().items()})
        cache = args.home / "cache"
        for family in args.families.split(","):
            started = time.perf_counter()
            ds = inputs(family, frame, data, cache)
            inputs_s = time.perf_counter() - started
            curves = list(zip(frame["time"][:200], frame["flux"][:200], frame["flux_err"][:200]))
            started = time.perf_counter()
            featurize_many(curves, data.params.features)  # the period search alone, uncached
            period_s = (time.perf_counter() - started) / len(curves)
            runs = entry.setdefault(family, {})
            for arm in ARMS[family]:
                print(f"{name} {family} {arm} ({len(ds.y)} objects) ...", flush=True)
                runs[arm] = run_arm(family, arm, ds, data, args.seed)
                print(f"  balanced accuracy {runs[arm]['balanced_accuracy']} in {runs[arm]['train_seconds']} s",
                      flush=True)
            runs["inputs_seconds"] = round(inputs_s, 1)
            runs["features_ms_per_curve"] = round(1000 * period_s, 1)
            args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()

"""Do the prewhitening features earn their place? Baseline CV with and without them, on a real survey.

The baseline's feature vector grew from 34 to 39 columns (``second_*`` and ``residual_scatter``, from
:func:`lcml.features.period.secondary_frequency`), appended last. This computes the whole vector once
for every star of ``$LCML_REAL_DATA/<survey>/train.parquet`` (lcml's own period search, nothing from a
catalog) and compares 5-fold stratified CV of ``HistGradientBoostingClassifier(class_weight='balanced')``
on the first 34 columns against all of them, for several seeds (fold assignment and model seed): balanced
accuracy of pooled out-of-fold predictions and per-class recall. Classes with fewer stars than folds are
left out and listed. Results go to ``bench/results/feature_sets.json`` (one entry per survey).

Usage::

    .venv/bin/python bench/bench_feature_sets.py [--survey crts] [--seeds 0 1 2] [--n-jobs 2]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from lcml.features.baseline import FEATURE_NAMES, baseline_matrix

from _common import ROOT  # noqa: E402  (bench/ is on sys.path when run)
from _common import git as _git  # noqa: E402
from bench_baseline_catalina import SEARCH, to_curves  # noqa: E402

FOLDS = 5
OLD = 34  # columns before the prewhitening features


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--survey", default="crts", help="folder under $LCML_REAL_DATA with a train.parquet")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--n-jobs", type=int, default=2)
    args = ap.parse_args()
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import balanced_accuracy_score, recall_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    data = Path(os.environ.get("LCML_REAL_DATA", ROOT.parent / "shared" / "data"))
    df = pd.read_parquet(data / args.survey / "train.parquet", columns=["id", "label", "mjd", "mag", "mag_err"])
    counts = df["label"].value_counts()
    dropped = {str(c): int(n) for c, n in counts.items() if n < FOLDS}
    df = df[~df["label"].isin(list(dropped))].reset_index(drop=True)
    started = time.perf_counter()
    x = baseline_matrix(to_curves(df), **SEARCH, n_jobs=args.n_jobs)
    features_s = time.perf_counter() - started
    y = df["label"].to_numpy(str)
    classes = sorted(set(y))
    runs = []
    for seed in args.seeds:
        for name, cols in (("without", OLD), ("with", x.shape[1])):
            model = HistGradientBoostingClassifier(class_weight="balanced", random_state=seed)
            pred = cross_val_predict(model, x[:, :cols], y, cv=StratifiedKFold(FOLDS, shuffle=True, random_state=seed),
                                     n_jobs=args.n_jobs)
            recall = recall_score(y, pred, labels=classes, average=None)
            runs.append({"seed": seed, "prewhitening_features": name, "n_features": int(cols),
                         "balanced_accuracy": round(float(balanced_accuracy_score(y, pred)), 4),
                         "recall": {c: round(float(r), 4) for c, r in zip(classes, recall)}})
            print(seed, name, runs[-1]["balanced_accuracy"], flush=True)
    mean = {name: round(float(np.mean([r["balanced_accuracy"] for r in runs if r["prewhitening_features"] == name])), 4)
            for name in ("without", "with")}
    entry = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": _git("rev-parse", "--short", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "cpu_count": os.cpu_count(),
        "data": f"{args.survey}/train.parquet",
        "n": int(len(df)),
        "classes_left_out": dropped,
        "search_params": SEARCH,
        "feature_names": list(FEATURE_NAMES),
        "features_s": round(features_s, 1),
        "model": "HistGradientBoostingClassifier(class_weight='balanced', random_state=seed), defaults otherwise",
        "cv": f"StratifiedKFold({FOLDS}, shuffle=True, random_state=seed); pooled out-of-fold balanced accuracy",
        "mean_balanced_accuracy": mean,
        "runs": runs,
    }
    out = ROOT / "bench" / "results" / "feature_sets.json"
    result = json.loads(out.read_text()) if out.is_file() else {}
    result[args.survey] = entry
    out.write_text(json.dumps(result, indent=2) + "\n")
    print("mean", mean, "->", out)


if __name__ == "__main__":
    main()

"""The yardstick: stratified 5-fold cross-validation of every family on real survey releases.

Each survey's file in ``$LCML_REAL_DATA`` (default ``../shared/data``) is released and validated
exactly as ``lcml data release`` does (in a scratch ``LCML_HOME``), and read back as the pipeline's
training data. Cross-validation runs over the release's **train + validation** objects; its **test**
split (15% by a hash of the object id, what the gates score) stays untouched unless ``--final`` is
given, which then also fits each family on all CV objects and scores that test split once.

For every family and fold, the family's own fitting code (:func:`lcml.families.fitting.fitter`, through
:func:`lcml.training.cv.cross_validate`, the function behind ``search.<family>.cv_folds``) trains one
candidate with fixed hyperparameters (``HP`` below, recorded in the JSON) under the search settings and
options of a profile (``family@profile``); families that stop early on a validation split get a
stratified 15% of the fold's training objects for it. Reported per family: balanced accuracy and macro-F1 (mean, spread and every
fold), per-class recall and precision (mean and spread), the pooled out-of-fold confusion matrix and
the fit time. The champion is the family with the best mean balanced accuracy. Results go to
``bench/results/cv.json`` (one entry per survey, merged with what is there).

Usage::

    .venv/bin/python bench/bench_cv.py --survey catalina-sss [--families baseline@survey,conv_bilstm@survey] [--final]
        [--blend fusion@survey+baseline@survey]

``--blend A+B`` also scores averages of the two entries' out-of-fold probabilities (``blends`` in the JSON).
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

SOURCES = {"catalina-sss": "catalina_sss/train.parquet", "crts": "crts/train.parquet",
           "k2": "k2/k2sc_phasefolded_64bin.parquet"}
#: one fixed candidate per family (the search's own ranges are in params.yaml)
HP = {
    "baseline": {"learning_rate": 0.1, "max_leaf_nodes": 31, "l2_regularization": 0.0, "max_iter": 100,
                 "per_class": 100},  # per_class: only with options.bags (profile survey)
    "conv_bilstm": {"n_layers": 2, "filters": 64, "dropout": 0.3, "lr": 1.0e-3},
    "swin": {"lr": 5.0e-4, "drop_rate": 0.1},
    "astrom3": {"lr": 1.0e-3, "dropout": 0.2, "weight_decay": 1.0e-2},
    "fusion": {"n_layers": 3, "filters": 32, "hidden": 128, "dropout": 0.2, "lr": 1.0e-3},
    "voting": {},  # its members' hyperparameters and weights are in search.voting.options.members
}
#: issue targets (Catalina SSS: Kang et al. 2023 balanced accuracy; Zhang et al. 2023 Blazhko recall)
TARGETS = {"catalina-sss": {"balanced_accuracy": 0.86, "recall": {"EA": 0.97, "RRd": 0.70, "Blazhko": 0.85,
                                                                   "Cep-II": 0.85, "dSct": 0.70}},
           "crts": {"balanced_accuracy": 0.78}, "k2": {"balanced_accuracy": 0.90}}


def release(survey: str, data_root: Path, home: Path) -> tuple[str, object]:
    """The survey's release, built and validated in ``home`` as ``lcml data release`` does (once)."""
    os.environ["LCML_HOME"] = str(home)
    from lcml.config import context
    from lcml.data.release import release_dir, release_id
    from lcml.pipeline.release import release_and_validate, source_version

    source = data_root / SOURCES[survey]
    version = source_version(source)
    _, paths = context()
    rid = release_id(survey, version)
    if not release_dir(paths, rid).is_dir():
        release_and_validate(survey, source, version)
    return rid, paths


def training_data(rid: str, profile: str, overrides: dict | None = None):
    """The pipeline's training data of release ``rid`` under ``profile``'s params (and ``overrides``)."""
    from lcml.config import context
    from lcml.pipeline.data import training_data as data_of

    params, paths = context(profile, overrides)
    return data_of(params, paths, rid)


def parse_sets(items: list[str]) -> dict:
    """``["search.swin.epochs=15", ...]`` as the nested overrides dict ``load_params`` takes (values as YAML)."""
    import yaml

    out: dict = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--set {item!r}: expected KEY=VALUE")
        *parents, leaf = key.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = yaml.safe_load(value)
    return out


def inputs(name: str, frame, data, cache: Path):
    """The family's inputs of ``frame`` (features from the raw curves, kept in ``cache`` between runs)."""
    from lcml.features.extract import feature_cache
    from lcml.pipeline.train import _family_inputs

    with feature_cache(cache):
        return _family_inputs(name, frame, data.classes, data.params)


def cross_validate(name: str, data, folds: int, seed: int, cache: Path, only: int | None,
                   proba_out: dict | None = None) -> dict:
    """``folds``-fold stratified CV of one family over the release's train + validation objects.

    ``proba_out``: a dict that receives the out-of-fold probabilities under ``"proba"`` (and labels under ``"y"``).
    """
    import pandas as pd

    from lcml.families.fitting import fitter
    from lcml.training import cv

    started = time.perf_counter()
    ds = inputs(name, pd.concat([data.frames["train"], data.frames["val"]], ignore_index=True), data, cache)
    inputs_s = time.perf_counter() - started

    def progress(k: int, score: float) -> None:
        print(f"  {name} fold {k + 1}/{folds}: balanced accuracy {score:.4f}", flush=True)

    proba = np.zeros((len(ds.y), len(data.classes)))
    out = cv.cross_validate(fitter(name), HP[name], ds, search=data.params.search.of(name), classes=data.classes,
                            folds=folds, seed=seed, max_folds=only, progress=progress, proba_out=proba)
    if proba_out is not None:
        proba_out.update(proba=proba, y=ds.y)
    return {"hp": HP[name], "inputs_seconds": round(inputs_s, 1), **out}


def blends(a: str, b: str, oof: dict, classes: list[str], folds: int, seed: int, weights: list[float]) -> dict:
    """Averages ``w * P_a + (1 - w) * P_b`` of two entries' out-of-fold probabilities, scored on the same folds.

    Weights are set before looking (a fixed grid): every CV object is scored once by models that never
    saw it, so a blend's figures are as honest as its members'. The best weight is chosen on these
    folds, which flatters it slightly: read it against the spread.
    """
    from sklearn.model_selection import StratifiedKFold

    from lcml.training.cv import scores

    y = oof[a]["y"]
    if not np.array_equal(y, oof[b]["y"]):
        raise SystemExit(f"{a} and {b} were cross-validated on different objects")
    splits = list(StratifiedKFold(folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y))
    out = {}
    for w in weights:
        pred = (w * oof[a]["proba"] + (1 - w) * oof[b]["proba"]).argmax(1)
        per_fold = [scores(y[te], pred[te]) for _, te in splits]
        ba = [f["balanced_accuracy"] for f in per_fold]
        recall = {classes[c]: round(float(np.mean([f["recall"][c] for f in per_fold if c in f["recall"]])), 4)
                  for c in np.unique(y)}
        out[f"{w:g}*{a}+{1 - w:g}*{b}"] = {
            "weight": w, "balanced_accuracy": {"mean": round(float(np.mean(ba)), 4), "std": round(float(np.std(ba)), 4),
                                               "folds": [round(v, 4) for v in ba]},
            "macro_f1": {"mean": round(float(np.mean([f["macro_f1"] for f in per_fold])), 4)}, "recall": recall}
    return out


def final_test(name: str, data, seed: int, cache: Path) -> dict:
    """Fit on every CV object, score the release's untouched test split once."""
    import pandas as pd

    from lcml.families.fitting import fitter
    from lcml.training.cv import fit_and_predict, scores

    train = inputs(name, pd.concat([data.frames["train"], data.frames["val"]], ignore_index=True), data, cache)
    test = inputs(name, data.frames["test"], data, cache)
    pred = fit_and_predict(fitter(name), HP[name], train, test, search=data.params.search.of(name),
                           n_classes=len(data.classes), seed=seed).argmax(1)
    out = scores(test.y, pred)
    return {"n_test": int(len(test.y)), "balanced_accuracy": round(out["balanced_accuracy"], 4),
            "macro_f1": round(out["macro_f1"], 4),
            "recall": {data.classes[c]: round(r, 4) for c, r in out["recall"].items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--survey", choices=sorted(SOURCES), required=True)
    ap.add_argument("--families", default="baseline@demo,baseline@survey",
                    help="comma-separated family@profile (profile: search settings and options; default "
                         "the one-model baseline of profile demo and the bagged one of profile survey)")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--only-folds", type=int, default=None, help="run only the first N folds (a quick look)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--final", action="store_true", help="also score the untouched test split once")
    ap.add_argument("--home", type=Path, default=Path(tempfile.gettempdir()) / "lcml-bench-cv",
                    help="scratch LCML_HOME: releases and the feature cache are reused from here")
    ap.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "cv.json")
    ap.add_argument("--blend", default=None, metavar="A+B",
                    help="also score probability averages of two entries of --families (e.g. "
                         "fusion@survey+baseline@survey) at weights 0.1 ... 0.9 of A")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override params.yaml for every entry, e.g. search.swin.epochs=15 (recorded in the JSON)")
    args = ap.parse_args()
    overrides = parse_sets(args.set)

    from threadpoolctl import threadpool_limits

    threadpool_limits(os.cpu_count() or 1)
    data_root = Path(os.environ.get("LCML_REAL_DATA", ROOT.parent / "shared" / "data"))
    os.environ.setdefault("LCML_PROJECT_DIR", str(ROOT))
    rid, paths = release(args.survey, data_root, args.home)
    data = training_data(rid, "demo")
    n_cv = len(data.frames["train"]) + len(data.frames["val"])
    labels = np.concatenate([data.frames[s]["label"].to_numpy(str) for s in ("train", "val")])
    counts = {c: int(n) for c, n in zip(*np.unique(labels, return_counts=True))}
    print(f"{args.survey}: {n_cv} objects in CV, {len(data.frames['test'])} held out", flush=True)
    result = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": _git("rev-parse", "--short", "HEAD"), "git_dirty": bool(_git("status", "--porcelain", "--", "src")),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "source": f"$LCML_REAL_DATA/{SOURCES[args.survey]}",
        "cv": f"StratifiedKFold({args.folds}, shuffle=True, random_state={args.seed}) over train + val",
        "n_cv": n_cv, "n_test_held_out": len(data.frames["test"]), "class_counts": counts,
        "targets": TARGETS.get(args.survey, {}), "families": {},
    }
    cache = paths.home / "cache" / "features"
    oof: dict[str, dict] = {}
    for entry in args.families.split(","):
        name, _, profile = entry.partition("@")
        data = training_data(rid, profile or "survey", overrides)
        options = data.params.search.of(name).options
        oof[entry] = {}
        result["families"][entry] = cross_validate(name, data, args.folds, args.seed, cache, args.only_folds,
                                                   oof[entry]) | {"profile": profile or "survey", "options": options,
                                                                  **({"overrides": args.set} if args.set else {})}
        if args.final:
            result["families"][entry]["test_split"] = final_test(name, data, args.seed, cache)
    if args.blend:
        a, _, b = args.blend.partition("+")
        if a not in oof or b not in oof or args.only_folds:
            raise SystemExit(f"--blend {args.blend}: both must be in --families, over every fold")
        result["blends"] = blends(a, b, oof, data.classes, args.folds, args.seed, [0.1 * k for k in range(1, 10)])
        for key, blend in result["blends"].items():
            print(f"{key}: balanced accuracy {blend['balanced_accuracy']['mean']:.4f} "
                  f"+- {blend['balanced_accuracy']['std']:.4f}")
    ranked = sorted(result["families"], key=lambda f: -result["families"][f]["balanced_accuracy"]["mean"])
    result["champion"] = ranked[0]
    stored = json.loads(args.output.read_text()) if args.output.is_file() else {}
    stored[args.survey] = result
    args.output.write_text(json.dumps(stored, indent=2) + "\n")
    for name in ranked:
        f = result["families"][name]
        print(f"{name}: balanced accuracy {f['balanced_accuracy']['mean']:.4f} +- {f['balanced_accuracy']['std']:.4f}"
              f", macro-F1 {f['macro_f1']['mean']:.4f}; recall " +
              " ".join(f"{c} {v:.2f}" for c, v in f["recall"].items()))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()

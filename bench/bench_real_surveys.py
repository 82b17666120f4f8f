"""Every model family on real survey data, through the commands a user types.

For each survey (Catalina SSS, CRTS, the K2SC phase-folded set) this runs::

    lcml pipeline run --survey SURVEY --source $LCML_REAL_DATA/<file> --profile survey

in a scratch project (its own ``params.yaml`` copy, state folder, MLflow and DVC remote), i.e. the
retrain DAG through real Airflow: release → Great Expectations → DVC → one Optuna search per family
(``search.families`` of the ``survey`` profile: Conv+BiLSTM, Swin on wavelet images, the feature
baseline) → gates → registry. Each family is then reported on the release's held-out test split:
accuracy, balanced accuracy, macro-F1, per-class recall and precision, training time (the summed
durations of its Optuna trials' MLflow runs) and scoring throughput (curves/s, raw light curve to
probabilities: the registered pyfunc, loaded once, scoring the whole test split).

Results go to ``bench/results/real_surveys.json`` after each survey (a partial run keeps what finished).

Usage::

    .venv/bin/python bench/bench_real_surveys.py [--surveys catalina-sss crts k2] [--profile survey]
        [--work /tmp/lcml-bench-real]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

from _common import ROOT  # noqa: E402  (bench/ is on sys.path when run)
from _common import git as _git  # noqa: E402
SOURCES = {
    "catalina-sss": "catalina_sss/train.parquet",
    "crts": "crts/train.parquet",
    "k2": "k2/k2sc_phasefolded_64bin.parquet",
}
#: published end-to-end results on Catalina SSS (Hosenie et al. 2020's split), for the README table
REFERENCES = {
    "catalina-sss": {
        "Hosenie et al. 2020 (hierarchical RF)": {"recall_EA": 0.68, "recall_RRd": 0.29, "recall_Blazhko": 0.13},
        "Zhang et al. 2023": {"recall_Blazhko": 0.85, "recall_RRd": 0.64, "recall_EA": 0.97},
        "Kang et al. 2023": {"balanced_accuracy": 0.862},
    }
}


def _training_seconds(client, run_id: str) -> tuple[float, int]:
    """Summed wall time of a search's trial runs (nested under ``run_id``) and their count."""
    parent = client.get_run(run_id)
    runs = client.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{run_id}'",
                              max_results=1000)
    done = [r for r in runs if r.info.end_time and r.info.start_time]
    return sum(r.info.end_time - r.info.start_time for r in done) / 1000.0, len(done)


def _throughput(model_uri: str, test) -> float:
    """Curves/s of a loaded pyfunc on the test split (raw light curves in, probabilities out)."""
    import mlflow

    model = mlflow.pyfunc.load_model(model_uri)
    frame = test[["object_id", "time", "flux", "flux_err"]].reset_index(drop=True)
    model.predict(frame.head(8))  # warm-up: lazy imports, first-call allocations
    started = time.perf_counter()
    model.predict(frame)
    return len(frame) / (time.perf_counter() - started)


def _candidate(client, cand: dict, name: str, test) -> dict:
    metrics = cand["test_metrics"]
    classes = sorted(k.removeprefix("recall_") for k in metrics if k.startswith("recall_"))
    seconds, n_runs = _training_seconds(client, cand["run_id"])
    return {
        "family": cand["family"],
        "version": cand["version"],
        "verdict": cand["verdict"],
        "reasons": cand["reasons"],
        "warnings": cand.get("warnings", []),
        "n_trials": cand["n_trials"],
        "best_val_balanced_accuracy": cand["best_val_balanced_accuracy"],
        "accuracy": metrics["accuracy"],
        "balanced_accuracy": metrics["balanced_accuracy"],
        "macro_f1": metrics["macro_f1"],
        "n_test": int(metrics.get("n_test", 0)),
        "per_class": {c: {"recall": metrics[f"recall_{c}"], "precision": metrics.get(f"precision_{c}")}
                      for c in classes},
        "training_seconds": round(seconds, 1),
        "trial_runs": n_runs,
        "scoring_curves_per_s": round(_throughput(f"models:/{name}/{cand['version']}", test), 1),
    }


def run_survey(survey: str, source: Path, work: Path, profile: str, reuse: bool = False) -> dict:
    project = work / survey
    env = {**os.environ, "LCML_PROJECT_DIR": str(project), "LCML_HOME": str(project / ".lcml"),
           "LCML_PROFILE": profile, "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags")}
    tag = f"bench-{survey}"
    report = project / ".lcml" / "reports" / f"{tag}.json"
    if not (reuse and report.is_file()):
        shutil.rmtree(project, ignore_errors=True)
        project.mkdir(parents=True)
        shutil.copy(ROOT / "params.yaml", project / "params.yaml")
        exe = Path(sys.executable).with_name("lcml")
        started = time.perf_counter()
        proc = subprocess.run([str(exe), "pipeline", "run", "--survey", survey, "--source", str(source),
                               "--profile", profile, "--tag", tag], env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"{survey}: lcml pipeline run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        summary = json.loads(report.read_text())
        summary["bench_wall_seconds"] = round(time.perf_counter() - started, 1)
        report.write_text(json.dumps(summary, indent=2))
    summary = json.loads(report.read_text())
    wall = summary.get("bench_wall_seconds")
    import mlflow
    from mlflow import MlflowClient

    from lcml import pipeline
    from lcml.data import release as rel

    os.environ.update({k: v for k, v in env.items() if k.startswith("LCML_")})  # this project's state
    mlflow.set_tracking_uri(summary["tracking_uri"])
    client = MlflowClient(summary["tracking_uri"])
    params, paths = pipeline.context(profile)
    test = rel.load_release(rel.release_dir(paths, summary["release"]), "test", params.data.split)
    name = params.registry.name_for(survey)
    return {
        "survey": survey,
        "source": f"$LCML_REAL_DATA/{SOURCES[survey]}",
        "release": summary["release"].split("/")[0] + "/<source hash>",
        "class_counts": summary["class_counts"],
        "validation": {k: summary["validation"].get(k) for k in ("n_objects", "n_accepted", "n_objects_quarantined")},
        "pipeline_seconds": wall,
        "champion_version": summary["registry"].get("champion"),
        "candidates": [_candidate(client, c, name, test) for c in summary["candidates"]],
        "references": REFERENCES.get(survey, {}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--surveys", nargs="+", default=["k2", "crts", "catalina-sss"], choices=list(SOURCES))
    parser.add_argument("--profile", default="survey")
    parser.add_argument("--work", type=Path, default=Path("/tmp/lcml-bench-real"))
    parser.add_argument("--reuse", action="store_true", help="measure a survey's earlier run again (no retraining)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "real_surveys.json")
    args = parser.parse_args()
    data = Path(os.environ.get("LCML_REAL_DATA", ROOT.parent / "shared" / "data"))
    result = {
        "bench": "real_surveys",
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": _git("rev-parse", "--short", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "gpu": False},
        "profile": args.profile,
        "command": "lcml pipeline run --survey SURVEY --source $LCML_REAL_DATA/<file> --profile " + args.profile,
        "surveys": {},
    }
    if args.out.is_file():  # keep surveys measured by an earlier partial run
        result["surveys"] = json.loads(args.out.read_text()).get("surveys", {})
    for survey in args.surveys:
        print(f"== {survey}", flush=True)
        result["surveys"][survey] = run_survey(survey, data / SOURCES[survey], args.work, args.profile, args.reuse)
        # the top-level commit/date describe this invocation; surveys kept from earlier runs carry their own
        result["surveys"][survey].update(git_commit=result["git_commit"], date=result["date"])
        for c in result["surveys"][survey]["candidates"]:
            print(f"   {c['family']:12s} v{c['version']} {c['verdict']:9s} BA {c['balanced_accuracy']:.3f} "
                  f"F1 {c['macro_f1']:.3f} acc {c['accuracy']:.3f} train {c['training_seconds']:.0f} s "
                  f"{c['scoring_curves_per_s']} curves/s", flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

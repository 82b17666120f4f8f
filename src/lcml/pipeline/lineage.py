"""What a training run records before it searches: lineage tags, params, packages, the dataset, drift."""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

from lcml.config import Params, Paths
from lcml.data import release as rel
from lcml.pipeline.data import TrainingData


def lineage_of(paths: Paths, release: str, folder: Path, params: Params, params_hash: str, family: str,
               study: str) -> dict[str, str]:
    """The tags that tie a run and its model version to data, code and parameters."""
    from lcml.registry.lineage import git_state

    commit, dirty = git_state(paths.project)
    return {
        "release": release,
        "manifest_hash": rel.manifest_hash(folder),
        "data_md5": rel.data_md5(paths),
        "git_commit": commit,
        "git_dirty": str(dirty).lower(),
        "params_hash": params_hash,
        "profile": params.profile,
        "family": family,
        "study": study,
    }


def previous_candidate(client, name: str, lineage: dict) -> dict | None:
    """The version already trained from this release with these params, family and code, if any."""
    from lcml.registry.promote import find_versions, run_test_metrics

    keys = ("release", "params_hash", "family", "git_commit")
    found = find_versions(client, name, **{k: lineage[k] for k in keys})
    if not found or lineage["git_dirty"] == "true":
        return None  # uncommitted code is never "the same" as what trained a version
    mv = found[0]
    run = client.get_run(mv.run_id)
    metrics = run_test_metrics(run)
    return {
        "release": lineage["release"], "skipped": True, "version": str(mv.version), "run_id": mv.run_id,
        "model_uri": mv.source, "family": lineage["family"], "study": mv.tags.get("study", ""),
        "n_trials": int(run.data.metrics.get("n_trials", 0)), "n_pruned": int(run.data.metrics.get("n_pruned", 0)),
        "best_trial": int(mv.tags.get("best_trial", -1)),
        "best_params": {k.removeprefix("best."): v for k, v in run.data.params.items() if k.startswith("best.")},
        "best_val_balanced_accuracy": run.data.metrics.get("best_val_balanced_accuracy", float("nan")),
        "metrics": metrics, "latency_ms_per_curve": run.data.metrics.get("latency_ms_per_curve", float("nan")),
        "lineage": {k: mv.tags.get(k, "") for k in lineage},
    }


def log_training_inputs(client, name: str, release: str, paths: Paths, family: str, data: TrainingData,
                        n_workers: int) -> None:
    """Into the active run: drift, params, package versions, Data Docs and the release as a dataset."""
    import mlflow
    from mlflow.exceptions import MlflowException
    import pandas as pd

    from lcml.registry.lineage import package_versions

    log_drift(client, name, release, paths, data)
    params = data.params
    search = params.search.of(family)
    mlflow.log_params({"release": release, "profile": params.profile, "n_trials": search.n_trials,
                       "epochs": search.epochs, "fold_length": params.features.fold_length,
                       "search_workers": n_workers})
    mlflow.log_dict(params.model_dump(mode="json"), "params.json")
    mlflow.log_dict(package_versions(), "package_versions.json")
    docs = paths.home / "data_docs" / release
    if docs.is_dir():  # the Great Expectations Data Docs of the release this run trains on
        mlflow.log_artifacts(str(docs), "data_docs")
    index = pd.concat([f[["object_id", "label"]].assign(split=s) for s, f in data.frames.items()], ignore_index=True)
    with warnings.catch_warnings():
        # MLflow registers two equivalent local sources ("" and "file" schemes) and warns
        warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted")
        dataset = mlflow.data.from_pandas(index, source=data.folder.as_uri(), targets="label", name=release,
                                          digest=rel.manifest_hash(data.folder)[:16])
    for attempt in range(3):
        try:
            mlflow.log_input(dataset, context="training")
            break
        except MlflowException as exc:
            # two families' plan tasks log the same release at once: MLflow's get-or-create of the dataset
            # lets the loser's INSERT hit the unique key; on a retry it finds the winner's row and links it
            if attempt == 2 or "unique constraint" not in str(exc).lower():
                raise
            time.sleep(0.5 * (attempt + 1))


def log_drift(client, name: str, release: str, paths: Paths, data: TrainingData) -> dict[str, Any] | None:
    """drift.json: this release against the champion's training release (when they differ).

    The same computation as validation's drift against the previous release
    (:func:`lcml.data.drift.release_drift`), with the champion's release as the reference.
    """
    import mlflow
    import pandas as pd

    from lcml.data.drift import curve_stats, release_drift
    from lcml.registry.promote import CHAMPION, alias_version

    version = alias_version(client, name, CHAMPION)
    if version is None:
        return None
    reference_id = client.get_model_version(name, version).tags.get("release", "")
    if not reference_id or reference_id == release:
        return None
    folder = rel.release_dir(paths, reference_id)
    if not (folder / rel.LIGHTCURVES).is_file():
        mlflow.log_dict({"reference_release": reference_id, "error": f"{folder} not present (dvc pull?)"},
                        "drift.json")
        return None
    current = pd.concat(data.frames.values(), ignore_index=True)
    objects_path = data.folder / rel.OBJECTS
    objects = pd.read_parquet(objects_path) if objects_path.is_file() else None
    if objects is not None:
        objects = objects[objects["object_id"].astype(str).isin(set(current["object_id"].astype(str)))]
    report = release_drift(folder, curve_stats(current), objects, current_id=release)
    report["champion_version"] = version
    mlflow.log_dict(report, "drift.json")
    mlflow.set_tags({"drift.reference": reference_id, "drift.detected": ",".join(report["drifted"]) or "none"})
    return report

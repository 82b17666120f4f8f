"""The Optuna study under a search: opened (or created, once, by racing workers), its pruner, trials
of a dead worker failed and re-queued, their MLflow runs closed, and the study's plots.

:mod:`lcml.training.search` runs the trials; this module keeps the study in order around them.
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from pathlib import Path

import numpy as np

from lcml.config import FamilySearchParams

log = logging.getLogger("lcml.search")

#: user attribute of a trial re-queued after its worker died: the number of the trial it repeats
RESUMES = "resumes_trial"


def make_pruner(name: str):
    import optuna

    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=3)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner()
    if name == "none":
        return optuna.pruners.NopPruner()
    raise ValueError(f"unknown pruner {name!r} (median, hyperband, none)")


def is_shared_storage(storage: str) -> bool:
    """Server databases may have several workers on one study; SQLite files have one."""
    return "://" in storage and not storage.startswith("sqlite")


def open_study(study_name: str, storage: str, params: FamilySearchParams):
    import optuna
    from optuna.storages import RetryHeartbeatStaleTrialCallback
    from sqlalchemy.exc import DBAPIError, IntegrityError

    for attempt in range(5):
        try:
            backend = storage
            if is_shared_storage(storage):
                # servers: a worker that dies stops heartbeating; its trial is failed and retried elsewhere
                backend = optuna.storages.RDBStorage(
                    storage, heartbeat_interval=params.heartbeat_seconds, grace_period=3 * params.heartbeat_seconds,
                    heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=1),
                )
            return optuna.create_study(
                study_name=study_name, storage=backend, direction="maximize",
                sampler=optuna.samplers.TPESampler(seed=params.seed), pruner=make_pruner(params.pruner),
                load_if_exists=True,
            )
        except DBAPIError as exc:
            # Workers starting together on a fresh database race to create Optuna's schema and the study:
            # the losers get a unique violation, or PostgreSQL's DuplicateTable/DuplicateObject
            # ('relation "alembic_version" already exists'); the winner's schema then serves them all
            if attempt == 4 or not (isinstance(exc, IntegrityError) or "already exists" in str(exc)):
                raise
            time.sleep(0.5 * (attempt + 1))


def fail_abandoned(study) -> int:
    """Fail RUNNING trials of this (single-worker) study, whose process is gone, and queue each again
    with the same hyperparameters; the new trial resumes from the old one's last epoch checkpoint."""
    from optuna.trial import TrialState

    abandoned = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.RUNNING]
    for t in abandoned:
        study._storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL)
        # its MLflow run would say RUNNING forever: the process that ran it was killed
        end_mlflow_run(t.user_attrs.get("mlflow_run_id"), "KILLED")
        if t.params:
            study.enqueue_trial(t.params, user_attrs={RESUMES: t.number})
    return len(abandoned)


def resumed_number(trial) -> int | None:
    """The trial this one repeats after its worker died (single worker: re-queued; server: heartbeat retry)."""
    from optuna.exceptions import ExperimentalWarning
    from optuna.storages import RetryFailedTrialCallback

    number = trial.user_attrs.get(RESUMES)
    if number is not None:
        return int(number)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)  # stable since Optuna 2.8, still flagged
        return RetryFailedTrialCallback.retried_trial_number(trial.study._storage.get_trial(trial._trial_id))


def end_mlflow_run(run_id: str | None, status: str) -> None:
    """Set a trial's MLflow run to ``status`` (``KILLED``: pruned, or its worker died)."""
    if run_id:
        from mlflow.tracking import MlflowClient

        MlflowClient().set_terminated(run_id, status=status)


def close_runs_of_failed(study) -> None:
    """Trials Optuna failed because their worker stopped heartbeating: their MLflow runs, where this
    worker's tracking server holds them, say KILLED instead of RUNNING forever."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient
    from optuna.trial import TrialState

    client = MlflowClient()
    for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)):
        run_id = t.user_attrs.get("mlflow_run_id")
        try:
            if run_id and client.get_run(run_id).info.status == "RUNNING":
                client.set_terminated(run_id, status="KILLED")
        except MlflowException:  # logged to another tracking server than this worker's
            continue


def save_optuna_plots(study_name: str, storage: str, folder: Path) -> list[Path]:
    """Optimisation history and parameter importances as files (logged to MLflow by the caller)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna

    study = optuna.load_study(study_name=study_name, storage=storage)
    values = [t.value for t in study.trials if t.value is not None]
    if not values:
        return []
    folder.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(values, "o", label="trial")
    ax.plot(np.maximum.accumulate(values), "-", label="best so far")
    ax.set_xlabel("completed trial")
    ax.set_ylabel("val balanced accuracy")
    ax.legend()
    fig.tight_layout()
    path = folder / "optuna_history.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return [path, *_importance_plot(study, folder)]


def _importance_plot(study, folder: Path) -> list[Path]:
    """fANOVA parameter importances (JSON and a bar chart) once enough trials completed to estimate them."""
    import matplotlib.pyplot as plt
    import optuna
    from optuna.trial import TrialState

    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    if len(complete) < 4 or len({t.value for t in complete}) < 2:
        return []  # a handful of trials (the ci profile) says nothing about importance
    try:
        importances = optuna.importance.get_param_importances(
            study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0))
    except (RuntimeError, ValueError) as exc:  # e.g. every trial sampled the same values
        log.warning("no parameter importances for %s: %s", study.study_name, exc)
        return []
    if not importances:
        return []
    names, values = list(importances), [float(v) for v in importances.values()]
    data = folder / "param_importance.json"
    data.write_text(json.dumps(dict(zip(names, values)), indent=2))
    fig, ax = plt.subplots(figsize=(5, 0.5 + 0.4 * len(names)))
    ax.barh(names[::-1], values[::-1])
    ax.set_xlabel("importance (fANOVA) for val balanced accuracy")
    fig.tight_layout()
    image = folder / "param_importance.png"
    fig.savefig(image, dpi=100)
    plt.close(fig)
    return [data, image]

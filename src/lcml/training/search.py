"""Optuna "AutoDL" search of one model family; each trial is a nested MLflow run.

The search receives the family to train (a :class:`lcml.families.fitting.Fitter`: ``name``,
``fit``, ``save``, ``load``, ``weights_file``, ``resumable``, ``refits``); it never looks one up.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lcml.config import FamilySearchParams
from lcml.training.loop import Dataset
from lcml.training.study import (
    close_runs_of_failed, end_mlflow_run, fail_abandoned, is_shared_storage, open_study, resumed_number,
)

#: progress events (trials, searches); ``lcml`` commands print them on stderr
log = logging.getLogger("lcml.search")

#: where each trial's MLflow run keeps its weights and config
CHECKPOINT_ARTIFACTS = "checkpoint"


@dataclass
class SearchResult:
    study_name: str
    n_trials: int
    n_pruned: int
    n_complete: int
    best_trial: int
    best_value: float
    best_params: dict
    architecture: dict
    model: object
    n_failed: int = 0
    n_abandoned: int = 0


def suggest_from_space(trial, space: dict[str, Any]) -> dict[str, Any]:
    """Sample one value per entry of a ``params.yaml`` search space.

    ``[low, high]`` is an int range when both are ints, else a float range; a third item ``log``
    samples log-uniformly, a number is the step; ``{choices: [...]}`` is categorical.
    """
    values: dict[str, Any] = {}
    for name, spec in space.items():
        if isinstance(spec, dict):
            values[name] = trial.suggest_categorical(name, list(spec["choices"]))
            continue
        low, high, *extra = spec
        log = "log" in extra
        step = next((e for e in extra if isinstance(e, (int, float)) and not isinstance(e, bool)), None)
        if isinstance(low, int) and isinstance(high, int) and not log:
            values[name] = trial.suggest_int(name, low, high, step=int(step or 1))
        else:
            values[name] = trial.suggest_float(name, float(low), float(high), log=log,
                                               step=None if log or step is None else float(step))
    return values


def _checkpoint(folder: Path, number: int, family: Any) -> tuple[Path, Path]:
    return folder / f"trial-{number}-{family.weights_file}", folder / f"trial-{number}.json"


class _SurplusTrial(Exception):
    """This trial would exceed the study's global trial cap: it is failed without training."""


def _epoch_state(folder: Path, number: int) -> Path:
    return folder / f"trial-{number}-state.pt"


def run_trials(
    train: Dataset,
    val: Dataset,
    *,
    n_classes: int,
    params: FamilySearchParams,
    study_name: str,
    storage: str,
    checkpoints: Path,
    family: Any,
    parent_run_id: str | None = None,
    resume_abandoned: bool = True,
) -> dict[str, int]:
    """One search worker: run trials of the study until it holds ``params.n_trials`` finished ones.

    Each trial logs its parameters and per-epoch validation metrics to an MLflow run nested under
    ``parent_run_id`` (or under the active run) and reports to Optuna, whose pruner may stop it early.
    A finished trial's weights are written to ``checkpoints`` and logged to its MLflow run, so a search
    killed midway resumes (the study keeps finished trials; only the missing ones run) and the best
    model can be read back by any machine. The trial count is a global cap over finished (complete or
    pruned) trials, exact also when several workers share the study on a database server.
    Returns this worker's counts.
    """
    import optuna
    from optuna.storages import fail_stale_trials
    from optuna.trial import TrialState

    fam = family
    optuna.logging.set_verbosity(logging.WARNING)
    checkpoints.mkdir(parents=True, exist_ok=True)
    study = open_study(study_name, storage, params)
    shared = is_shared_storage(storage)
    # one worker on a file: RUNNING trials are from a killed earlier attempt; on a server they may be
    # another worker's, which heartbeats decide about
    abandoned = fail_abandoned(study) if resume_abandoned and not shared else 0
    finished = (TrialState.COMPLETE, TrialState.PRUNED)
    ran = 0
    log.info("%s search %s: %d trials of %d epochs (%d finished before)", fam.name, study_name, params.n_trials,
             params.epochs, sum(t.state in finished for t in study.get_trials(deepcopy=False)))

    def objective(trial: optuna.Trial) -> float:
        nonlocal ran
        earlier = [t for t in study.get_trials(deepcopy=False) if t.number < trial.number and t.state != TrialState.FAIL]
        if len(earlier) >= params.n_trials:
            raise _SurplusTrial(f"trial {trial.number}: the study already has {params.n_trials} trials")
        ran += 1
        score = _trial(trial, fam, train, val, n_classes=n_classes, params=params, checkpoints=checkpoints,
                       parent_run_id=parent_run_id)
        _log_finished(study, fam.name, trial.number, score, params.n_trials)
        return score

    # Global cap, exact with several workers: a trial runs only if fewer than n_trials non-failed
    # trials precede it (trial numbers come from the database, so workers agree); while the last
    # trials are still running elsewhere a worker waits, and takes over any whose worker dies.
    while True:
        states = [t.state for t in study.get_trials(deepcopy=False)]
        done = sum(st in finished for st in states)
        if done >= params.n_trials:
            break
        if shared and done + states.count(TrialState.RUNNING) >= params.n_trials:
            fail_stale_trials(study)
            time.sleep(min(params.heartbeat_seconds, 5))
            continue
        study.optimize(objective, n_trials=1, gc_after_trial=True, catch=(_SurplusTrial,))
    if shared:
        close_runs_of_failed(study)
    return {"trials_run": ran, "abandoned": abandoned}


def _log_finished(study, family: str, number: int, score: float, n_trials: int) -> None:
    """The progress line of a finished trial: its score, how many are done, the best so far."""
    from optuna.trial import TrialState

    done = [t.value for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))]
    best = max([score, *[v for v in done if v is not None]])
    log.info("%s trial %d: validation balanced accuracy %.4f; %d of %d trials finished, best %.4f",
             family, number, score, len(done) + 1, n_trials, best)


def _trial(trial, fam: Any, train: Dataset, val: Dataset, *, n_classes: int, params: FamilySearchParams,
           checkpoints: Path, parent_run_id: str | None) -> float:
    """One trial: hyperparameters, seed (a repeated trial keeps its original one), a nested MLflow run,
    the fit with pruning and per-epoch resume state, then the checkpoint; its best validation score."""
    import optuna

    hp = suggest_from_space(trial, params.space)
    origin = resumed_number(trial)
    # a repeated trial keeps its original seed, so resuming ends with the weights it would have had
    seed = params.seed + (origin if origin is not None else trial.number)
    state = _epoch_state(checkpoints, trial.number)
    resume = {}
    if fam.resumable:
        resume = {"checkpoint": state, "resume_from": _epoch_state(checkpoints, origin) if origin is not None else None}
    try:
        return _trial_run(trial, fam, train, val, hp=hp, origin=origin, seed=seed, state=state, resume=resume,
                          n_classes=n_classes, params=params, checkpoints=checkpoints, parent_run_id=parent_run_id)
    except optuna.TrialPruned as exc:
        # the run context marked it FAILED on the way out; stopped by the pruner is not a failure
        end_mlflow_run(trial.user_attrs.get("mlflow_run_id"), "KILLED")
        log.info("%s trial %d: %s", fam.name, trial.number, exc)
        raise


def _trial_run(trial, fam: Any, train: Dataset, val: Dataset, *, hp: dict, origin: int | None, seed: int,
               state: Path, resume: dict, n_classes: int, params: FamilySearchParams, checkpoints: Path,
               parent_run_id: str | None) -> float:
    import mlflow
    import optuna

    with mlflow.start_run(run_name=f"trial-{trial.number}", nested=True, parent_run_id=parent_run_id) as run:
        trial.set_user_attr("mlflow_run_id", run.info.run_id)
        mlflow.log_params({**trial.params, "trial": trial.number, "family": fam.name})
        if origin is not None:
            mlflow.set_tag("resumes_trial", str(origin))

        def report(epoch: int, metrics: dict) -> None:
            mlflow.log_metrics(metrics, step=epoch)
            trial.report(metrics["val_balanced_accuracy"], epoch)
            if trial.should_prune():
                mlflow.set_tag("state", "pruned")
                raise optuna.TrialPruned(f"pruned at epoch {epoch}")

        def drop_states() -> None:  # finished or pruned: nothing to resume any more
            state.unlink(missing_ok=True)
            if origin is not None:
                _epoch_state(checkpoints, origin).unlink(missing_ok=True)

        try:
            fitted = fam.fit(hp, train, val, search=params, n_classes=n_classes, seed=seed,
                             options=params.options, report=report, **resume)
        except optuna.TrialPruned:
            drop_states()
            raise
        drop_states()  # any other error keeps the state: a restarted worker resumes from it
        mlflow.log_metrics({"best_val_balanced_accuracy": fitted.best_score, "best_epoch": fitted.best_epoch})
        weights, config = _checkpoint(checkpoints, trial.number, fam)
        fam.save(fitted.model, weights)
        config.write_text(json.dumps({"architecture": fitted.architecture, "best_epoch": fitted.best_epoch,
                                      "best_score": fitted.best_score}))
        # workers on other machines do not share this folder; the tracking server's store they do
        if weights.is_dir():  # a family whose weights are a folder of files (voting: one per member)
            mlflow.log_artifacts(str(weights), f"{CHECKPOINT_ARTIFACTS}/{weights.name}")
        else:
            mlflow.log_artifact(str(weights), CHECKPOINT_ARTIFACTS)
        mlflow.log_artifact(str(config), CHECKPOINT_ARTIFACTS)
        mlflow.set_tag("state", "complete")
    return fitted.best_score


def best_of_study(study_name: str, storage: str, checkpoints: Path, family: Any) -> SearchResult:
    """Counts of the finished study and its best model, from ``checkpoints`` or the trial's MLflow run."""
    import optuna
    from optuna.trial import TrialState

    fam = family
    study = optuna.load_study(study_name=study_name, storage=storage)
    trials = study.get_trials(deepcopy=False)
    n_pruned = sum(t.state == TrialState.PRUNED for t in trials)
    n_complete = sum(t.state == TrialState.COMPLETE for t in trials)
    if not n_complete:
        raise RuntimeError(f"study {study_name}: no trial completed ({n_pruned} pruned)")
    best = study.best_trial
    weights, config = _checkpoint(checkpoints, best.number, fam)
    if not weights.exists() and best.user_attrs.get("mlflow_run_id"):
        import mlflow

        folder = Path(mlflow.artifacts.download_artifacts(
            run_id=best.user_attrs["mlflow_run_id"], artifact_path=CHECKPOINT_ARTIFACTS))
        weights, config = folder / weights.name, folder / config.name
    if not weights.exists():
        raise RuntimeError(f"study {study_name}: best trial {best.number} has no checkpoint at {weights}")
    saved = json.loads(config.read_text())
    model = fam.load(weights, saved["architecture"])
    return SearchResult(
        study_name=study_name,
        n_trials=n_complete + n_pruned,
        n_pruned=n_pruned,
        n_complete=n_complete,
        best_trial=best.number,
        best_value=float(best.value),
        best_params=best.params,
        architecture=saved["architecture"],
        model=model,
        n_failed=sum(t.state == TrialState.FAIL for t in trials),
    )


def run_search(
    train: Dataset,
    val: Dataset,
    *,
    n_classes: int,
    params: FamilySearchParams,
    study_name: str,
    storage: str,
    checkpoints: Path,
    family: Any,
    resume_abandoned: bool = True,
) -> SearchResult:
    """Run (or resume) the whole study in this process (one worker), then return its best model.

    Must be called inside an active MLflow (parent) run; see :func:`run_trials`.
    """
    counts = run_trials(train, val, n_classes=n_classes, params=params, study_name=study_name, storage=storage,
                        checkpoints=checkpoints, family=family, resume_abandoned=resume_abandoned)
    result = best_of_study(study_name, storage, checkpoints, family)
    result.n_abandoned = counts["abandoned"]
    return result


def refit_on_train_and_val(train: Dataset, val: Dataset, *, hp: dict, n_classes: int, params: FamilySearchParams,
                           seed: int, family: Any) -> object:
    """The best hyperparameters fitted once more on train + validation, for the model that is registered.

    The search needed the validation split to compare trials; once they are compared it is ~20% more
    labelled stars (18 more δ Scuti in Catalina SSS's 102). Only for families that train without a
    validation split (``Family.refits``); the test split the gates read is never touched.
    """
    fam = family
    if not fam.refits:
        raise ValueError(f"family {fam.name} stops early on its validation split, so it cannot be refitted "
                         f"on train + validation: set search.{fam.name}.refit to false")
    both = Dataset(folded=np.concatenate([train.folded, val.folded]), aux=np.concatenate([train.aux, val.aux]),
                   y=np.concatenate([train.y, val.y]))
    nothing = Dataset(folded=both.folded[:0], aux=both.aux[:0], y=both.y[:0])
    return fam.fit(hp, both, nothing, search=params, n_classes=n_classes, seed=seed, options=params.options).model



"""Training flows: plan a family's search, run its workers, finish with the best model as a pyfunc.

``plan_training → search_worker (× workers) → finish_training`` per model family of
``search.families``; :func:`train` runs all three in this process (the CLI's and the tests' path).
Every step reads the release once (:func:`lcml.pipeline.data.training_data`) and never changes the
params it is given.
"""

from __future__ import annotations

import logging
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from lcml.config import Params, Paths, context
from lcml.errors import InputError
from lcml.pipeline.data import TrainingData, training_data
from lcml.tracking import setup_mlflow

log = logging.getLogger("lcml.pipeline")


def families(profile: str | None = None, overrides: dict | None = None) -> list[str]:
    """The model families ``params.yaml`` searches (``search.families``)."""
    params, _ = context(profile, overrides)
    return list(params.search.families)


def search_workers(params: Params, paths: Paths) -> int:
    """How many search workers share one study: ``search.workers`` on a database server, else 1.

    A SQLite file takes one writer; a second worker would also fail the first one's running trial
    as abandoned (see :func:`lcml.training.search.run_trials`).
    """
    from lcml.training.study import is_shared_storage

    return params.search.workers if is_shared_storage(paths.optuna_storage) else 1


def _family_inputs(family: str, frame, classes, params: Params):
    """One split's model inputs for ``family`` (features computed from the raw light curves)."""
    import numpy as np

    from lcml.families import get_family
    from lcml.training.loop import Dataset

    index = {c: i for i, c in enumerate(classes)}
    x, aux = get_family(family).inputs(list(zip(frame["time"], frame["flux"], frame["flux_err"])), params.features,
                                       params.search.of(family).options)
    return Dataset(folded=x, aux=aux, y=np.array([index[c] for c in frame["label"]], dtype=np.int64))


def _train_and_val(family: str, data: TrainingData, paths: Paths):
    """Train and validation inputs; periods and folds come from the training's feature cache when there."""
    from lcml.features.extract import feature_cache

    with feature_cache(paths.feature_cache):
        return (_family_inputs(family, data.frames["train"], data.classes, data.params),
                _family_inputs(family, data.frames["val"], data.classes, data.params))


def _check_family(family: str, params: Params) -> None:
    from lcml.families import FAMILIES, get_family

    if family not in FAMILIES or params.search.of(family) is None:
        raise InputError(f"family {family!r} unknown or without a search.{family} section in params.yaml "
                         f"(families: {', '.join(FAMILIES)})")
    if params.search.of(family).refit and not get_family(family).refits:
        raise InputError(f"search.{family}.refit: {family} stops early on its validation split, so it cannot "
                         "be refitted on train + validation; set it to false")


def _with_clip(params: Params, family: str, clip: dict | None) -> tuple[Params, str | None]:
    """The params of an astrom3 search with the pretrained encoder (or scratch, saying why)."""
    if family != "astrom3" or clip is None:
        return params, None
    params = params.model_copy(deep=True)
    options = params.search.astrom3.options
    if clip.get("encoder"):
        params.search.astrom3.options = {**options, "init": "clip", "encoder": clip["encoder"]}
    elif options.get("init") == "clip":  # said why in the run: no encoder could be pretrained
        params.search.astrom3.options = {**options, "init": "scratch"}
        return params, f"init clip -> scratch: {clip.get('reason')}"
    return params, None


def plan_training(release: str, run_name: str | None = None, profile: str | None = None,
                  overrides: dict | None = None, params: Params | None = None, force: bool = False,
                  family: str | None = None, clip: dict | None = None) -> dict[str, Any]:
    """Start a training: lineage, the parent MLflow run (params, dataset, drift), the Optuna study.

    Returns the plan that :func:`search_worker` (once per worker, in parallel on a database server)
    and :func:`finish_training` take. When a version was already trained from this release with the
    same params, family and commit (and not ``force``), returns that version with ``skipped: True``
    and no workers.
    """
    import mlflow

    from lcml.pipeline.lineage import lineage_of, log_training_inputs, previous_candidate
    from lcml.training.study import open_study

    loaded, paths = context(profile, overrides)
    params = params or loaded
    family = family or params.search.families[0]
    _check_family(family, params)
    params, init_note = _with_clip(params, family, clip)
    params_hash = params.hash()  # of params.yaml as given: training narrows features to the survey
    data = training_data(params, paths, release)
    params = data.params
    run_name = run_name or datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    model_name = params.registry.name_for(release.split("/")[0])
    study_name = f"{model_name}.{family}.{release}.{run_name}"
    lineage = lineage_of(paths, release, data.folder, params, params_hash, family, study_name)
    setup_mlflow(paths, model_name)
    client = mlflow.MlflowClient()
    if not force:
        previous = previous_candidate(client, model_name, lineage)
        if previous is not None:
            return {**previous, "workers": []}
    search = params.search.of(family)
    n_workers = search_workers(params, paths)
    with mlflow.start_run(run_name=f"search-{family}-{run_name}") as run:
        mlflow.set_tags(lineage)
        if family == "astrom3":
            mlflow.set_tags({"astrom3.init": params.search.astrom3.options.get("init", "scratch"),
                             "astrom3.encoder": str(params.search.astrom3.options.get("encoder", "")),
                             **({"astrom3.init_note": init_note} if init_note else {})})
        log_training_inputs(client, model_name, release, paths, family, data, n_workers)
    open_study(study_name, paths.optuna_storage, search)  # created once, before the workers race for it
    return {"release": release, "run_id": run.info.run_id, "family": family, "study": study_name,
            "classes": data.classes, "lineage": lineage, "params": params.model_dump(mode="json"),
            "skipped": False, "workers": list(range(n_workers))}


def _plan_params(plan: dict[str, Any]) -> Params:
    # the plan carries the params it was made with: every worker trains with the same ones
    return Params.model_validate(plan["params"])


def search_worker(plan: dict[str, Any], worker: int = 0) -> dict[str, Any]:
    """One worker of a planned search: trials until the study's global cap (see :func:`plan_training`)."""
    from lcml.families.fitting import fitter
    from lcml.training.search import run_trials

    params, paths = _plan_params(plan), Paths.from_env().ensure()
    data = training_data(params, paths, plan["release"])
    setup_mlflow(paths, params.registry.name_for(plan["release"].split("/")[0]))
    family = plan["family"]
    train, val = _train_and_val(family, data, paths)
    counts = run_trials(
        train, val, n_classes=len(data.classes), params=params.search.of(family), study_name=plan["study"],
        storage=paths.optuna_storage, checkpoints=paths.home / "checkpoints" / plan["study"],
        family=fitter(family), parent_run_id=plan["run_id"],
    )
    log.info("search worker %s of %s ran %s trials", worker, plan["study"], counts["trials_run"])
    return {"worker": worker, "study": plan["study"], "family": family, **counts}


def finish_training(plan: dict[str, Any], workers: list[dict] | None = None) -> dict[str, Any]:
    """Best trial of the finished study → pyfunc model in the parent run, scored on the test split.

    Returns the run id, model URI, test metrics and trial counts (what
    :func:`lcml.pipeline.register.register_and_gate` takes).
    """
    if plan.get("skipped"):
        return {k: v for k, v in plan.items() if k != "workers"}
    import mlflow

    from lcml.families.fitting import fitter
    from lcml.training.search import best_of_study

    params, paths = _plan_params(plan), Paths.from_env().ensure()
    release, study_name, family = plan["release"], plan["study"], plan["family"]
    model_name = params.registry.name_for(release.split("/")[0])
    data = training_data(params, paths, release)
    setup_mlflow(paths, model_name)
    with mlflow.start_run(run_id=plan["run_id"]):
        found = best_of_study(study_name, paths.optuna_storage, paths.home / "checkpoints" / study_name,
                              fitter(family))
        model, search = found.model, params.search.of(family)
        refit = search.refit
        # the workers' features, read once from the training's cache for the refit and the CV
        inputs = _train_and_val(family, data, paths) if refit or search.cv_folds else None
        log.info("%s: best of %d trials is trial %d (validation %.4f)%s", family, found.n_trials, found.best_trial,
                 found.best_value, "; refitting it on train + validation" if refit else "")
        if refit:
            model = _refit(family, found, data, inputs)
        _log_search(found, refit, workers, study_name, paths)
        cv = _cross_validate(family, found, data, inputs)
        info = _log_model(model, found, plan, data)
        metrics, latency_ms = _score_test(info.model_uri, data, family, release)
        log.info("%s on %s: test balanced accuracy %.4f, macro-F1 %.4f", family, release,
                 metrics["balanced_accuracy"], metrics.get("macro_f1", float("nan")))
    return {
        "release": release, "run_id": plan["run_id"], "model_uri": info.model_uri, "family": family,
        "study": study_name, "n_trials": found.n_trials, "n_pruned": found.n_pruned, "best_trial": found.best_trial,
        "best_params": found.best_params, "best_val_balanced_accuracy": found.best_value, "refit": refit,
        "metrics": metrics, "latency_ms_per_curve": latency_ms, "lineage": plan["lineage"], "cv": cv,
        "members": _members(found.architecture, search.options),
    }


def _members(architecture: dict[str, Any], options: dict[str, Any]) -> list[dict[str, Any]]:
    """A vote's members (family, weight, hyperparameters) for its model card; ``[]`` for other families."""
    specs = options.get("members") or {}
    return [{"family": m["family"], "weight": m["weight"], "hp": specs.get(m["family"], {}).get("hp", {})}
            for m in architecture.get("members", [])]


def _log_search(found, refit: bool, workers: list[dict] | None, study_name: str, paths: Paths) -> None:
    import mlflow

    from lcml.pipeline.artifacts import log_learning_curves
    from lcml.training.study import save_optuna_plots

    mlflow.log_params({f"best.{k}": v for k, v in found.best_params.items()})
    mlflow.set_tag("refit", "train+val" if refit else "none")
    mlflow.log_metrics({"best_val_balanced_accuracy": found.best_value, "n_trials": found.n_trials,
                        "n_pruned": found.n_pruned, "n_failed": found.n_failed})
    if workers:
        mlflow.log_dict({"workers": workers}, "search/workers.json")
    with tempfile.TemporaryDirectory() as tmp:
        for plot in save_optuna_plots(study_name, paths.optuna_storage, Path(tmp)):
            mlflow.log_artifact(str(plot), "search")
    log_learning_curves(mlflow.active_run().info.run_id, title=study_name)


def _log_model(model, found, plan: dict[str, Any], data: TrainingData):
    """The model as a pyfunc in the active run (weights, ``model.json``, the model class as code)."""
    import mlflow

    from lcml.features.extract import AUX_FEATURES
    from lcml.registry.lineage import package_versions
    from lcml.serving import pyfunc

    params, family = data.params, plan["family"]
    model_name = params.registry.name_for(plan["release"].split("/")[0])
    config = {
        "family": family, "model_name": model_name, "classes": data.classes, "architecture": found.architecture,
        "features": params.features.model_dump(mode="json"), "options": params.search.of(family).options,
        "aux_features": list(AUX_FEATURES), "lineage": plan["lineage"],
    }
    with tempfile.TemporaryDirectory() as tmp:
        artifacts = pyfunc.save_artifacts(model, config, Path(tmp) / "model")
        return mlflow.pyfunc.log_model(
            name="model", python_model=str(pyfunc.ENTRY), artifacts=artifacts, signature=pyfunc.signature(data.classes),
            input_example=pyfunc.input_example(), model_config={"model_name": model_name, "model_version": ""},
            pip_requirements=[f"{k}=={v}" for k, v in package_versions().items() if v != "not installed" and k != "lcml"],
        )


def _score_test(model_uri: str, data: TrainingData, family: str, release: str) -> tuple[dict[str, float], float]:
    """Test metrics, latency and the confusion matrix of the logged model, served as users get it."""
    import mlflow

    from lcml.evaluation import classification_metrics
    from lcml.pipeline.artifacts import log_test_artifacts
    from lcml.serving.loader import INPUT_COLUMNS, load_model

    test = data.frames["test"]
    # the latency gate's figure: scoring only (loading is once per process, not per curve), and
    # outside the feature cache, so the period search is paid as in serving
    served = load_model(model_uri, resolve_name=False)
    columns = test[INPUT_COLUMNS]
    served.predict(columns.head(2))  # first-call costs (lazy imports, allocations) are not per curve
    started = time.perf_counter()
    predictions = served.predict(columns)
    latency_ms = 1000 * (time.perf_counter() - started) / len(test)
    metrics = classification_metrics(test["label"], predictions["label_pred"], data.classes)
    mlflow.log_metrics({f"test_{k}": v for k, v in metrics.items()})
    mlflow.log_metric("latency_ms_per_curve", latency_ms)
    log_test_artifacts(test, predictions, data.classes, data.params.features, title=f"{family} on {release} (test)")
    return metrics, latency_ms


def _cross_validate(family: str, found, data: TrainingData, inputs) -> dict[str, Any] | None:
    """``search.<family>.cv_folds``-fold CV of the best hyperparameters over train + validation (0: none).

    Logged as ``cv_*`` metrics and ``cv.json``; the model card sets it beside the test split.
    """
    import mlflow
    import numpy as np

    from lcml.families.fitting import fitter
    from lcml.training.cv import cross_validate
    from lcml.training.loop import Dataset

    search = data.params.search.of(family)
    if not search.cv_folds:
        return None
    train, val = inputs
    both = Dataset(folded=np.concatenate([train.folded, val.folded]), aux=np.concatenate([train.aux, val.aux]),
                   y=np.concatenate([train.y, val.y]))
    try:
        cv = cross_validate(fitter(family), found.best_params, both, search=search, classes=data.classes,
                            folds=search.cv_folds, seed=search.seed + found.best_trial,
                            progress=lambda k, s: log.info("%s CV fold %d/%d: balanced accuracy %.4f",
                                                           family, k + 1, search.cv_folds, s))
    except ValueError as exc:  # fewer objects than twice the folds (a tiny release): said in the run, not fatal
        mlflow.set_tag("cv", f"skipped: {exc}")
        return None
    mlflow.log_metrics({"cv_balanced_accuracy_mean": cv["balanced_accuracy"]["mean"],
                        "cv_balanced_accuracy_std": cv["balanced_accuracy"]["std"],
                        "cv_macro_f1_mean": cv["macro_f1"]["mean"], "cv_macro_f1_std": cv["macro_f1"]["std"]})
    mlflow.log_dict(cv, "cv.json")
    return cv


def _refit(family: str, found, data: TrainingData, inputs):
    """The registered model: the best trial's hyperparameters and seed, fitted on train + validation."""
    from lcml.families.fitting import fitter
    from lcml.training.search import refit_on_train_and_val

    search = data.params.search.of(family)
    train, val = inputs  # the workers' features: nothing recomputed
    return refit_on_train_and_val(train, val, hp=found.best_params, n_classes=len(data.classes), params=search,
                                  seed=search.seed + found.best_trial, family=fitter(family))


def train(release: str, run_name: str | None = None, profile: str | None = None,
          overrides: dict | None = None, params: Params | None = None, force: bool = False,
          family: str | None = None) -> dict[str, Any]:
    """Plan, search with one worker in this process, finish: the training of one family on one release.

    ``family`` defaults to the first of ``search.families``. ``params`` replaces ``params.yaml``
    (``lcml reproduce`` passes the recorded ones). When a version was already trained from this
    release with the same params, family and commit, nothing is trained and that version is returned
    with ``skipped: True`` (unless ``force``). A search interrupted earlier with the same ``run_name``
    resumes.
    """
    from lcml.pipeline.pretrain import pretrain_clip

    family = family or (params or context(profile, overrides)[0]).search.families[0]
    clip = pretrain_clip(release, profile=profile, overrides=overrides) if family == "astrom3" else None
    plan = plan_training(release, run_name, profile=profile, overrides=overrides, params=params, force=force,
                         family=family, clip=clip)
    if plan.get("skipped"):
        return finish_training(plan)
    return finish_training(plan, [search_worker(plan, 0)])

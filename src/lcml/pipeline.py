"""The pipeline's task functions. Airflow tasks, the ``lcml`` CLI and the tests all call these.

Each function takes and returns small, JSON-serialisable things (release ids, run ids, model URIs,
metric dicts), so they pass through Airflow XCom unchanged.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from lcml.config import Params, Paths, load_params
from lcml.data import release as rel
from lcml.data.schema import classes_for
from lcml.errors import InputError, LcmlError

#: surveys whose ``sim*`` releases lcml's simulators build on demand
SIMULATED_SURVEYS = ("kepler", "k2", "astrom3")
log = logging.getLogger("lcml.pipeline")


def context(profile: str | None = None, overrides: dict | None = None) -> tuple[Params, Paths]:
    """Parameters (profile applied) and state paths, with the state folders created."""
    return load_params(profile=profile, overrides=overrides), Paths.from_env().ensure()


def use_tracking_uri(paths: Paths) -> str:
    """Point this process's MLflow client at the configured backend.

    ``mlflow.set_tracking_uri`` also exports ``MLFLOW_TRACKING_URI``, which lcml reads as a user
    override; restoring the variable keeps a later project (tests, a second CLI call in one process)
    from inheriting this one's backend.
    """
    import mlflow

    before = os.environ.get("MLFLOW_TRACKING_URI")
    uri = paths.mlflow_tracking_uri
    mlflow.set_tracking_uri(uri)
    if before is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = before
    return uri


def setup_mlflow(paths: Paths, experiment: str) -> str:
    """Point MLflow at the configured backend and return the experiment id (artifacts under the state dir).

    Parallel tasks (one per model family) may be the first to touch a fresh database or experiment:
    losing that race to a twin (a duplicate table or experiment) is retried, not fatal.
    """
    from sqlalchemy.exc import IntegrityError

    for attempt in range(6):
        try:
            return _setup_mlflow(paths, experiment)
        except IntegrityError:
            if attempt == 5:
                raise
        except Exception as exc:
            if attempt == 5 or "already exists" not in str(exc).lower():
                raise
        time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


def _setup_mlflow(paths: Paths, experiment: str) -> str:
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow

    use_tracking_uri(paths)
    found = mlflow.get_experiment_by_name(experiment)
    if found is not None:
        exp_id = found.experiment_id
    else:
        uri = paths.mlflow_tracking_uri
        # a tracking server stores artifacts itself; a database (SQLite, PostgreSQL) written directly
        # would default to ./mlruns in whatever folder the process runs in: keep them in the state folder
        server = uri.split("://", 1)[0] in ("http", "https", "databricks")
        location = None if server else paths.mlflow_artifacts.as_uri()
        exp_id = mlflow.create_experiment(experiment, artifact_location=location)
    before = os.environ.get("MLFLOW_EXPERIMENT_ID")
    mlflow.set_experiment(experiment_id=exp_id)
    # set_experiment exports MLFLOW_EXPERIMENT_ID to child processes; keep it in this process only
    if before is None:
        os.environ.pop("MLFLOW_EXPERIMENT_ID", None)
    else:
        os.environ["MLFLOW_EXPERIMENT_ID"] = before
    return exp_id


# ---------------------------------------------------------------- data


def prepare_release(release: str | None = None, profile: str | None = None, overrides: dict | None = None) -> str:
    """Return the release id to train on, building the simulated release when it does not exist yet.

    ``release`` defaults to ``<data.survey>/<data.release>``. Versions starting with ``sim`` of
    ``kepler``, ``k2`` and ``astrom3`` (light curves + spectra + metadata) are made by lcml's
    simulators (the embedded default); any other release must already exist.
    """
    params, paths = context(profile, overrides)
    rid = release or rel.release_id(params.data.survey, params.data.release)
    folder = rel.release_dir(paths, rid)
    if folder.exists():
        return rid
    survey, version = rid.split("/", 1)
    if survey not in SIMULATED_SURVEYS or not version.startswith("sim"):
        raise InputError(f"release {rid} not found at {folder} (only {', '.join(f'{s}/sim-*' for s in SIMULATED_SURVEYS)} "
                         "releases are simulated on demand; build others with `lcml data release`)")
    sim = params.data.simulate
    call = f"n_objects={sim.n_objects}, seed={sim.seed}"
    if survey == "astrom3":
        from lcml.data.simulate_multimodal import simulate_multimodal

        made = simulate_multimodal(sim.n_objects, seed=sim.seed)  # class_fractions are the Kepler classes
        rel.write_release(paths, rid, made.lightcurves, objects=made.objects, spectra=made.spectra,
                          source=f"lcml.data.simulate_multimodal.simulate_multimodal({call})")
        return rid
    from lcml.data import simulate

    make = simulate.simulate_kepler if survey == "kepler" else simulate.simulate_k2
    duration = sim.duration_days if survey == "kepler" else min(sim.duration_days, 80.0)  # K2 campaigns: 80 d
    made = make(sim.n_objects, seed=sim.seed, class_fractions=sim.class_fractions if survey == "kepler" else None,
                duration_days=duration)
    rel.write_release(paths, rid, made.lightcurves, objects=made.objects,
                      source=f"lcml.data.simulate.{make.__name__}({call}, duration_days={duration})")
    return rid


def validate(release: str, profile: str | None = None, overrides: dict | None = None) -> dict[str, Any]:
    """Great Expectations validation; raises :class:`~lcml.errors.ValidationFailed` above the bad fraction.

    Limits come from ``validation`` in ``params.yaml`` with the survey's overrides; drift is judged
    against the survey's previous release; HTML Data Docs go to ``$LCML_HOME/data_docs/<release>``.
    """
    from lcml.data.inventory import previous_release
    from lcml.data.validate import validate_release

    params, paths = context(profile, overrides)
    survey = release.split("/")[0]
    limits = params.validation.for_survey(survey)
    folder = rel.release_dir(paths, release)
    previous = previous_release(paths, release)
    summary = validate_release(
        folder,
        min_points=limits.min_points or params.data.min_points,
        classes=classes_for(survey),
        max_bad_fraction=limits.max_bad_fraction,
        duplicate_times=limits.duplicate_times,
        min_per_class=limits.min_per_class,
        min_per_class_required=limits.min_per_class_required,
        previous=rel.release_dir(paths, previous) if previous else None,
        docs_dir=paths.home / "data_docs" / release,
    )
    return summary.as_dict()


def release_from_source(survey: str, source: str | Path, version: str, *, labels: str | Path | None = None,
                        limit: int | None = None, sample_seed: int | None = None,
                        profile: str | None = None, overrides: dict | None = None) -> str:
    """Ingest a survey's files (see :mod:`lcml.data.ingest`) into the new release ``<survey>/<version>``."""
    from lcml.data.ingest import build_release, ingest

    params, paths = context(profile, overrides)
    rid = rel.release_id(survey, version)
    folder = rel.release_dir(paths, rid)
    if folder.exists():
        raise InputError(f"release {rid} already exists at {folder}; releases are immutable (pick a new version)")
    ingested = ingest(survey, source, labels=labels, limit=limit, sample_seed=sample_seed)
    merge = params.validation.for_survey(survey).duplicate_times == "merge"
    build_release(paths, rid, ingested, merge_duplicate_times=merge)
    return rid


def source_version(source: str | Path, *, labels: str | Path | None = None, limit: int | None = None,
                   sample_seed: int | None = None) -> str:
    """A release version naming what a source holds: ``src-`` + a hash of its files' names, sizes and
    modification times (and the labels file, sample size and seed).

    The same unchanged source always maps to the same version, so ``lcml pipeline run --source`` reuses
    the release it built before instead of ingesting again; a changed file gives a new release.
    """

    def identity(path: Path) -> list[str]:
        files = sorted(q for q in path.rglob("*") if q.is_file()) if path.is_dir() else [path]
        return [f"{q.relative_to(path) if path.is_dir() else q.name}:{q.stat().st_size}:{q.stat().st_mtime_ns}"
                for q in files]

    source = Path(source)
    if not source.exists():
        raise InputError(f"{source}: no such file or folder")
    parts = identity(source) + (identity(Path(labels)) if labels else []) + [f"limit={limit}", f"seed={sample_seed}"]
    return "src-" + hashlib.sha256("\n".join(parts).encode()).hexdigest()[:10]


def release_for_source(survey: str, source: str | Path, *, version: str | None = None,
                       labels: str | Path | None = None, limit: int | None = None, sample_seed: int | None = None,
                       profile: str | None = None, overrides: dict | None = None) -> str:
    """The release of ``source`` (built now unless this source already made it); its id."""
    if labels is not None and not Path(labels).is_file():
        raise InputError(f"{labels}: labels file not found")
    version = version or source_version(source, labels=labels, limit=limit, sample_seed=sample_seed)
    _, paths = context(profile, overrides)
    rid = rel.release_id(survey, version)
    if rel.release_dir(paths, rid).is_dir():
        log.info("release %s of %s exists already: reused", rid, source)
        return rid
    return release_from_source(survey, source, version, labels=labels, limit=limit, sample_seed=sample_seed,
                               profile=profile, overrides=overrides)


def publish(release: str, profile: str | None = None, overrides: dict | None = None) -> dict[str, str]:
    """``dvc add data`` + ``dvc push``; returns the DVC md5 of ``data/`` and the manifest hash."""
    _, paths = context(profile, overrides)
    md5 = rel.publish(paths)
    return {"release": release, "data_md5": md5, "manifest_hash": rel.manifest_hash(rel.release_dir(paths, release))}


# ---------------------------------------------------------------- training


def _family_inputs(family: str, frame, classes, params: Params):
    """One split's model inputs for ``family`` (features computed from the raw light curves)."""
    import numpy as np

    from lcml.families import get_family
    from lcml.training.loop import Dataset

    index = {c: i for i, c in enumerate(classes)}
    x, aux = get_family(family).inputs(list(zip(frame["time"], frame["flux"], frame["flux_err"])), params.features,
                                       params.search.of(family).options)
    return Dataset(folded=x, aux=aux, y=np.array([index[c] for c in frame["label"]], dtype=np.int64))


def _previous_candidate(client, name: str, lineage: dict) -> dict | None:
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


def _log_drift(client, name: str, release: str, paths: Paths, current) -> None:
    """drift.json: this release against the champion's training release (when they differ)."""
    import mlflow

    from lcml.data.drift import drift_report
    from lcml.registry.promote import CHAMPION, alias_version

    version = alias_version(client, name, CHAMPION)
    if version is None:
        return
    reference_id = client.get_model_version(name, version).tags.get("release", "")
    if not reference_id or reference_id == release:
        return
    folder = rel.release_dir(paths, reference_id)
    if not (folder / rel.LIGHTCURVES).is_file():
        mlflow.log_dict({"reference_release": reference_id, "error": f"{folder} not present (dvc pull?)"},
                        "drift.json")
        return
    report = drift_report(rel.load_release(folder), current, reference_id=reference_id, current_id=release)
    report["champion_version"] = version
    mlflow.log_dict(report, "drift.json")
    mlflow.set_tags({"drift.reference": reference_id, "drift.detected": ",".join(report["drifted"]) or "none"})


def _training_frames(params: Params, paths: Paths, release: str) -> tuple[Path, list[str], dict]:
    """Release folder, classes, and the train/val/test frames; ``params.features`` becomes the survey's
    (``features.surveys``) and ``folded`` follows the release's manifest (features skip the period search
    and folding of pre-folded curves)."""
    folder = rel.release_dir(paths, release)
    if not folder.is_dir():
        raise InputError(f"release {release} not found at {folder} (dvc pull, or build it first)")
    params.features = params.features.for_survey(release.split("/")[0])
    params.features.folded = bool(rel.read_manifest(folder).get("folded", False))
    classes = list(classes_for(release.split("/")[0]))
    frames = {s: rel.load_release(folder, s, params.data.split) for s in rel.SPLITS}
    for split, frame in frames.items():
        if frame.empty:
            raise InputError(f"release {release}: the {split} split is empty")
    return folder, classes, frames


def pretrain_clip(release: str, profile: str | None = None, overrides: dict | None = None,
                  force: bool = False) -> dict[str, Any]:
    """AstroM3 CLIP pretraining of ``release`` for the ``astrom3`` family's fine-tuning, registered as a
    version of ``<survey>-clip-encoder``.

    Runs only when ``astrom3`` is searched with ``options.init: clip``; otherwise, or when the release has
    light curves only (CLIP needs a second modality), returns ``{"encoder": None, "reason": ...}`` and
    the family trains from scratch (its run records why). An encoder already pretrained from this
    release with the same settings and commit is reused unless ``force``.
    """
    import mlflow

    from lcml.lineage import git_state
    from lcml.pretrain import pretrain_release
    from lcml.registry.promote import find_versions, register_version

    params, paths = context(profile, overrides)
    options = params.search.astrom3.options if params.search.astrom3 is not None else {}
    if "astrom3" not in params.search.families or options.get("init", "scratch") != "clip":
        return {"encoder": None, "reason": "search.astrom3 does not start from CLIP (not searched, or init: scratch)"}
    if options.get("encoder"):
        return {"encoder": str(options["encoder"]), "reason": "search.astrom3.options.encoder is set"}
    name = params.registry.encoder_for(release.split("/")[0])
    commit, dirty = git_state(paths.project)
    tags = {"release": release, "manifest_hash": rel.manifest_hash(rel.release_dir(paths, release)),
            "pretrain_hash": hashlib.sha256(params.pretrain.model_dump_json().encode()).hexdigest()[:16],
            "git_commit": commit, "git_dirty": str(dirty).lower()}
    setup_mlflow(paths, name)
    client = mlflow.MlflowClient()
    if not force and not dirty:
        found = find_versions(client, name, **{k: tags[k] for k in ("release", "pretrain_hash", "git_commit")})
        if found:
            return {"encoder": f"models:/{name}/{found[0].version}", "version": str(found[0].version),
                    "run_id": found[0].run_id, "reused": True}
    try:
        done = pretrain_release(release, profile=profile, overrides=overrides, **params.pretrain.model_dump())
    except InputError as exc:  # light curves only: nothing to align them with
        log.warning("pretrain_clip: %s", exc)
        return {"encoder": None, "reason": str(exc)}
    run = client.get_run(done["run_id"])
    version = register_version(client, name, f"{run.info.artifact_uri}/encoder", done["run_id"], tags,
                               description="AstroM3 CLIP encoders (photometry, spectra, metadata) pretrained by "
                                           "lcml on a survey release; the astrom3 family fine-tunes from them.")
    return {"encoder": f"models:/{name}/{version.version}", "version": str(version.version),
            "run_id": done["run_id"], "modalities": done["modalities"], "final": done["final"], "reused": False}


def search_workers(params: Params, paths: Paths) -> int:
    """How many search workers share one study: ``search.workers`` on a database server, else 1.

    A SQLite file takes one writer; a second worker would also fail the first one's running trial
    as abandoned (see :func:`lcml.training.search.run_trials`).
    """
    from lcml.training.search import is_shared_storage

    return params.search.workers if is_shared_storage(paths.optuna_storage) else 1


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
    import pandas as pd

    from lcml.lineage import git_state, package_versions
    from lcml.training.search import _open_study

    loaded, paths = context(profile, overrides)
    params = params or loaded
    family = family or params.search.families[0]
    from lcml.families import FAMILIES, get_family

    if family not in FAMILIES or params.search.of(family) is None:
        raise InputError(f"family {family!r} unknown or without a search.{family} section in params.yaml "
                         f"(families: {', '.join(FAMILIES)})")
    if params.search.of(family).refit and not get_family(family).refits:
        raise InputError(f"search.{family}.refit: {family} stops early on its validation split, so it cannot "
                         "be refitted on train + validation; set it to false")
    init_note = None
    if family == "astrom3" and clip is not None:
        params = params.model_copy(deep=True)
        options = params.search.astrom3.options
        if clip.get("encoder"):
            params.search.astrom3.options = {**options, "init": "clip", "encoder": clip["encoder"]}
        elif options.get("init") == "clip":  # said why in the run: no encoder could be pretrained
            params.search.astrom3.options = {**options, "init": "scratch"}
            init_note = f"init clip -> scratch: {clip.get('reason')}"
    params_hash = params.hash()  # of params.yaml as given: training narrows features to the survey
    folder, classes, frames = _training_frames(params, paths, release)
    run_name = run_name or datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    model_name = params.registry.name_for(release.split("/")[0])
    study_name = f"{model_name}.{family}.{release}.{run_name}"
    commit, dirty = git_state(paths.project)
    lineage = {
        "release": release,
        "manifest_hash": rel.manifest_hash(folder),
        "data_md5": rel.data_md5(paths),
        "git_commit": commit,
        "git_dirty": str(dirty).lower(),
        "params_hash": params_hash,
        "profile": params.profile,
        "family": family,
        "study": study_name,
    }
    setup_mlflow(paths, model_name)
    client = mlflow.MlflowClient()
    if not force:
        previous = _previous_candidate(client, model_name, lineage)
        if previous is not None:
            return {**previous, "workers": []}
    search = params.search.of(family)
    with mlflow.start_run(run_name=f"search-{family}-{run_name}") as run:
        mlflow.set_tags(lineage)
        if family == "astrom3":
            mlflow.set_tags({"astrom3.init": params.search.astrom3.options.get("init", "scratch"),
                             "astrom3.encoder": str(params.search.astrom3.options.get("encoder", "")),
                             **({"astrom3.init_note": init_note} if init_note else {})})
        _log_drift(client, model_name, release, paths,
                   pd.concat(frames.values(), ignore_index=True))
        n_workers = search_workers(params, paths)
        mlflow.log_params({"release": release, "profile": params.profile, "n_trials": search.n_trials,
                           "epochs": search.epochs, "fold_length": params.features.fold_length,
                           "search_workers": n_workers})
        mlflow.log_dict(params.model_dump(mode="json"), "params.json")
        mlflow.log_dict(package_versions(), "package_versions.json")
        docs = paths.home / "data_docs" / release
        if docs.is_dir():  # the Great Expectations Data Docs of the release this run trains on
            mlflow.log_artifacts(str(docs), "data_docs")
        index = pd.concat([f[["object_id", "label"]].assign(split=s) for s, f in frames.items()], ignore_index=True)
        with warnings.catch_warnings():
            # MLflow registers two equivalent local sources ("" and "file" schemes) and warns
            warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted")
            dataset = mlflow.data.from_pandas(index, source=folder.as_uri(), targets="label", name=release,
                                              digest=lineage["manifest_hash"][:16])
        mlflow.log_input(dataset, context="training")
    _open_study(study_name, paths.optuna_storage, search)  # created once, before the workers race for it
    return {"release": release, "run_id": run.info.run_id, "family": family, "study": study_name,
            "classes": classes, "lineage": lineage, "params": params.model_dump(mode="json"),
            "skipped": False, "workers": list(range(n_workers))}


def _plan_params(plan: dict[str, Any]) -> Params:
    # the plan carries the params it was made with: every worker trains with the same ones
    return Params.model_validate(plan["params"])


def search_worker(plan: dict[str, Any], worker: int = 0) -> dict[str, Any]:
    """One worker of a planned search: trials until the study's global cap (see :func:`plan_training`)."""
    from lcml.features.extract import feature_cache
    from lcml.training.search import run_trials

    params, paths = _plan_params(plan), Paths.from_env().ensure()
    _, classes, frames = _training_frames(params, paths, plan["release"])
    setup_mlflow(paths, params.registry.name_for(plan["release"].split("/")[0]))
    family = plan["family"]
    with feature_cache(paths.home / "cache" / "features"):
        train = _family_inputs(family, frames["train"], classes, params)
        val = _family_inputs(family, frames["val"], classes, params)
    counts = run_trials(
        train, val, n_classes=len(classes), params=params.search.of(family), study_name=plan["study"],
        storage=paths.optuna_storage, checkpoints=paths.home / "checkpoints" / plan["study"],
        family=family, parent_run_id=plan["run_id"],
    )
    log.info("search worker %s of %s ran %s trials", worker, plan["study"], counts["trials_run"])
    return {"worker": worker, "study": plan["study"], "family": family, **counts}


def finish_training(plan: dict[str, Any], workers: list[dict] | None = None) -> dict[str, Any]:
    """Best trial of the finished study → pyfunc model in the parent run, scored on the test split.

    Returns the run id, model URI, test metrics and trial counts (what :func:`register_and_gate` takes).
    """
    if plan.get("skipped"):
        return {k: v for k, v in plan.items() if k != "workers"}
    import mlflow

    from lcml.evaluation import classification_metrics, confusion_figure
    from lcml.features.extract import AUX_FEATURES
    from lcml.lineage import package_versions
    from lcml.registry import pyfunc
    from lcml.training.search import best_of_study, save_optuna_plots

    params, paths = _plan_params(plan), Paths.from_env().ensure()
    release, classes, study_name, lineage = plan["release"], plan["classes"], plan["study"], plan["lineage"]
    family = plan["family"]
    model_name = params.registry.name_for(release.split("/")[0])
    _, _, frames = _training_frames(params, paths, release)
    setup_mlflow(paths, model_name)
    with mlflow.start_run(run_id=plan["run_id"]):
        found = best_of_study(study_name, paths.optuna_storage, paths.home / "checkpoints" / study_name, family)
        model, refit = found.model, params.search.of(family).refit
        if refit:
            model = _refit(family, found, frames, classes, params, paths)
        mlflow.log_params({f"best.{k}": v for k, v in found.best_params.items()})
        mlflow.set_tag("refit", "train+val" if refit else "none")
        mlflow.log_metrics({"best_val_balanced_accuracy": found.best_value, "n_trials": found.n_trials,
                            "n_pruned": found.n_pruned, "n_failed": found.n_failed})
        if workers:
            mlflow.log_dict({"workers": workers}, "search/workers.json")
        with tempfile.TemporaryDirectory() as tmp:
            for plot in save_optuna_plots(study_name, paths.optuna_storage, Path(tmp)):
                mlflow.log_artifact(str(plot), "search")
            config = {
                "family": family,
                "model_name": model_name,
                "classes": classes,
                "architecture": found.architecture,
                "features": params.features.model_dump(mode="json"),
                "options": params.search.of(family).options,
                "aux_features": list(AUX_FEATURES),
                "lineage": lineage,
            }
            artifacts = pyfunc.save_artifacts(model, config, Path(tmp) / "model")
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=str(pyfunc.ENTRY),
                artifacts=artifacts,
                signature=pyfunc.signature(classes),
                input_example=pyfunc.input_example(),
                model_config={"model_name": model_name, "model_version": ""},
                pip_requirements=[f"{k}=={v}" for k, v in package_versions().items()
                                  if v != "not installed" and k != "lcml"],
            )
        test = frames["test"]
        # the latency gate's figure: scoring only (loading is once per process, not per curve), and
        # outside the feature cache, so the period search is paid as in serving
        served = mlflow.pyfunc.load_model(info.model_uri)
        columns = test[["object_id", "time", "flux", "flux_err"]]
        served.predict(columns.head(2))  # first-call costs (lazy imports, allocations) are not per curve
        started = time.perf_counter()
        predictions = served.predict(columns)
        latency_ms = 1000 * (time.perf_counter() - started) / len(test)
        metrics = classification_metrics(test["label"], predictions["label_pred"], classes)
        mlflow.log_metrics({f"test_{k}": v for k, v in metrics.items()})
        mlflow.log_metric("latency_ms_per_curve", latency_ms)
        fig = confusion_figure(test["label"], predictions["label_pred"], classes,
                               title=f"{family} on {release} (test)")
        mlflow.log_figure(fig, "confusion_matrix.png")
    return {
        "release": release,
        "run_id": plan["run_id"],
        "model_uri": info.model_uri,
        "family": family,
        "study": study_name,
        "n_trials": found.n_trials,
        "n_pruned": found.n_pruned,
        "best_trial": found.best_trial,
        "best_params": found.best_params,
        "best_val_balanced_accuracy": found.best_value,
        "refit": refit,
        "metrics": metrics,
        "latency_ms_per_curve": latency_ms,
        "lineage": lineage,
    }


def _refit(family: str, found, frames: dict, classes: list[str], params: Params, paths: Paths):
    """The registered model: the best trial's hyperparameters and seed, fitted on train + validation."""
    from lcml.features.extract import feature_cache
    from lcml.training.search import refit_on_train_and_val

    search = params.search.of(family)
    with feature_cache(paths.home / "cache" / "features"):  # the workers' features: nothing recomputed
        train = _family_inputs(family, frames["train"], classes, params)
        val = _family_inputs(family, frames["val"], classes, params)
    return refit_on_train_and_val(train, val, hp=found.best_params, n_classes=len(classes), params=search,
                                  seed=search.seed + found.best_trial, family=family)


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
    family = family or (params or context(profile, overrides)[0]).search.families[0]
    clip = pretrain_clip(release, profile=profile, overrides=overrides) if family == "astrom3" else None
    plan = plan_training(release, run_name, profile=profile, overrides=overrides, params=params, force=force,
                         family=family, clip=clip)
    if plan.get("skipped"):
        return finish_training(plan)
    return finish_training(plan, [search_worker(plan, 0)])


def families(profile: str | None = None, overrides: dict | None = None) -> list[str]:
    """The model families ``params.yaml`` searches (``search.families``)."""
    params, _ = context(profile, overrides)
    return list(params.search.families)


def predict_frame(model_uri: str, frame, model_config: dict | None = None):
    """Score raw light curves (columns object_id, time, flux, flux_err) with a pyfunc model."""
    import mlflow

    model = mlflow.pyfunc.load_model(model_uri, model_config=model_config)
    return model.predict(frame[["object_id", "time", "flux", "flux_err"]])


# ---------------------------------------------------------------- registry


def register_and_gate(trained: dict[str, Any], profile: str | None = None,
                      overrides: dict | None = None) -> dict[str, Any]:
    """Register the candidate, re-evaluate the champion on the SAME test objects, apply the gates.

    Runs under the registry lock, so concurrent runs promote one at a time and the gate always
    compares with the champion of that moment. Passing moves ``challenger`` then ``champion``;
    failing keeps the version with its reasons and leaves the aliases untouched. Calling it again
    for the same training run changes nothing.
    """
    import mlflow
    from mlflow import MlflowClient

    from lcml.evaluation import classification_metrics
    from lcml.registry.card import CARD, render_card
    from lcml.registry.promote import (
        CHAMPION, alias_version, gate_and_promote, register_version, registry_lock, with_retries,
    )

    params, paths = context(profile, overrides)
    name = params.registry.name_for(trained["release"].split("/")[0])

    def warn(exc: BaseException) -> None:
        log.warning("registry unavailable (%s); retrying", str(exc).splitlines()[0][:200])

    with_retries(lambda: setup_mlflow(paths, name), params.registry.retry_seconds, on_retry=warn)
    client = MlflowClient()
    if trained.get("skipped"):
        tags = client.get_model_version(name, trained["version"]).tags
        return {"model_name": name, "version": trained["version"], "skipped": True,
                "verdict": tags.get("gate.verdict", "pending"), "reasons": json.loads(tags.get("gate.reasons", "[]")),
                "warnings": json.loads(tags.get("gate.warnings", "[]")),
                "champion_before": alias_version(client, name, CHAMPION), "champion": alias_version(client, name, CHAMPION),
                "champion_metrics_same_split": None}
    release = trained["release"]
    folder = rel.release_dir(paths, release)
    classes = list(classes_for(release.split("/")[0]))
    test = rel.load_release(folder, "test", params.data.split)
    scored: dict[str, dict] = {}

    def champion_metrics(version: str) -> dict[str, float]:
        try:
            predictions = predict_frame(f"models:/{name}/{version}", test)
        except Exception as exc:
            from lcml.registry.promote import is_transient

            if is_transient(exc):
                raise
            raise LcmlError(f"champion v{version} of {name} could not be re-scored on the test split of "
                            f"{release}, so no candidate can be judged against it: {exc}") from exc
        scored[version] = classification_metrics(test["label"], predictions["label_pred"], classes)
        return scored[version]

    candidate = {**trained["metrics"], "latency_ms_per_curve": trained["latency_ms_per_curve"]}

    def register_gate_promote() -> tuple:
        with registry_lock(paths.home, name):
            before = alias_version(client, name, CHAMPION)
            mv = register_version(client, name, trained["model_uri"], trained["run_id"],
                                  {**trained["lineage"], "best_trial": trained["best_trial"]})
            gate = gate_and_promote(client, name, str(mv.version), candidate, params.gates.for_model(name),
                                    champion_metrics)
            return before, str(mv.version), gate, alias_version(client, name, CHAMPION)

    champion_before, version, gate, champion_after = with_retries(
        register_gate_promote, params.registry.retry_seconds, on_retry=warn)
    card = render_card(name=name, version=version, trained=trained, gate=gate.as_dict(),
                       manifest=rel.read_manifest(folder), classes=classes, champion_before=champion_before)
    with mlflow.start_run(run_id=trained["run_id"]):
        mlflow.log_dict({**gate.as_dict(), "candidate": candidate, "champion": scored.get(champion_before or ""),
                         "version": version}, "gates.json")
        mlflow.log_text(card, CARD)
        mlflow.set_tags({"gate.verdict": gate.verdict, "registered_version": version})
    return {
        "model_name": name,
        "version": version,
        "verdict": gate.verdict,
        "reasons": gate.reasons,
        "warnings": gate.warnings,
        "champion_before": champion_before,
        "champion": champion_after,
        "champion_metrics_same_split": scored.get(champion_before or ""),
    }


def _version_key(version: str) -> tuple[int, int]:
    # "" (no champion before) sorts first; versions compare as numbers
    return (0, 0) if not version else (1, int(version))


def _current_champion(paths: Paths, name: str) -> str | None:
    from mlflow import MlflowClient

    from lcml.registry.promote import CHAMPION, alias_version

    use_tracking_uri(paths)
    return alias_version(MlflowClient(), name, CHAMPION)


def report(release: str, validation: dict, published: dict, trained: dict | list[dict], gated: dict | list[dict],
           tag: str = "latest", profile: str | None = None, overrides: dict | None = None) -> str:
    """Write the run summary JSON (what ``make demo`` prints) and return its path.

    ``trained`` and ``gated`` are one candidate or one per family (same order). The top-level
    ``search``/``test_metrics``/``registry`` describe the candidate that is champion after this run
    (else the one with the best test balanced accuracy); ``candidates`` lists every family's.
    """
    params, paths = context(profile, overrides)
    trained = [trained] if isinstance(trained, dict) else list(trained)
    gated = [gated] if isinstance(gated, dict) else list(gated)
    if not trained or len(trained) != len(gated):
        raise LcmlError(f"report: {len(trained)} trained candidates but {len(gated)} gate results")
    manifest = rel.read_manifest(rel.release_dir(paths, release))
    candidates = [
        {"family": t["family"], "study": t["study"], "version": g["version"], "verdict": g["verdict"],
         "reasons": g["reasons"], "warnings": g.get("warnings", []),
         "skipped": bool(g.get("skipped")), "run_id": t["run_id"], "n_trials": t["n_trials"],
         "best_val_balanced_accuracy": t["best_val_balanced_accuracy"], "test_metrics": t["metrics"],
         "latency_ms_per_curve": t["latency_ms_per_curve"]}
        for t, g in zip(trained, gated)
    ]
    champion = _current_champion(paths, params.registry.name_for(release.split("/")[0]))  # gates finish in any order
    lead = next((i for i, g in enumerate(gated) if g["version"] == champion), None)
    if lead is None:
        lead = max(range(len(trained)), key=lambda i: trained[i]["metrics"].get("balanced_accuracy", -1.0))
    t, g = trained[lead], gated[lead]
    summary = {
        "tag": tag,
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "release": release,
        "class_counts": manifest["class_counts"],
        "validation": validation,
        "data_md5": published.get("data_md5"),
        "family": t["family"],
        "search": {k: t[k] for k in ("study", "n_trials", "n_pruned", "best_trial", "best_params",
                                     "best_val_balanced_accuracy")},
        "test_metrics": t["metrics"],
        "run_id": t["run_id"],
        "registry": {**g, "champion_before": min((x.get("champion_before") or "" for x in gated), key=_version_key) or None,
                     "champion": champion},
        "candidates": candidates,
        "tracking_uri": paths.mlflow_tracking_uri,
    }
    text = json.dumps(summary, indent=2, default=str) + "\n"
    (paths.reports / "latest.json").write_text(text)
    path = paths.reports / f"{tag}.json"
    path.write_text(text)
    return str(path)

"""Release flows: build (simulate or ingest), validate, publish with DVC, announce to Airflow.

Each function takes and returns small, JSON-serialisable things (release ids, dicts), so they pass
through Airflow XCom unchanged; the DAGs, the CLI and the tests call them alike.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any, Callable

from lcml.config import context
from lcml.data import release as rel
from lcml.errors import InputError
from lcml.surveys import SURVEYS, load_callable, survey, survey_of

log = logging.getLogger("lcml.pipeline")


def prepare_release(release: str | None = None, profile: str | None = None, overrides: dict | None = None) -> str:
    """Return the release id to train on, building the simulated release when it does not exist yet.

    ``release`` defaults to ``<data.survey>/<data.release>``. Versions starting with ``sim`` of a survey
    with a simulator in :data:`lcml.surveys.SURVEYS` (kepler, k2, astrom3) are made by lcml's
    simulators (the embedded default); any other release must already exist.
    """
    params, paths = context(profile, overrides)
    rid = release or rel.release_id(params.data.survey, params.data.release)
    folder = rel.release_dir(paths, rid)
    if folder.exists():
        return rid
    name, version = rid.split("/", 1)
    spec = SURVEYS.get(name)
    if spec is None or not spec.simulated or not version.startswith("sim"):
        simulated = ", ".join(f"{s}/sim-*" for s, v in SURVEYS.items() if v.simulated)
        raise InputError(f"release {rid} not found at {folder} (only {simulated} releases are simulated on demand; "
                         "build others with `lcml data release`)")
    sim = params.data.simulate
    make = load_callable(spec.simulator)
    call = f"n_objects={sim.n_objects}, seed={sim.seed}"
    where = spec.simulator.replace(":", ".")
    if name == "astrom3":  # light curves + spectra + metadata; class_fractions are the Kepler classes
        made = make(sim.n_objects, seed=sim.seed)
        rel.write_release(paths, rid, made.lightcurves, objects=made.objects, spectra=made.spectra,
                          source=f"{where}({call})")
        return rid
    duration = sim.duration_days if name == "kepler" else min(sim.duration_days, 80.0)  # K2 campaigns: 80 d
    made = make(sim.n_objects, seed=sim.seed, class_fractions=sim.class_fractions if name == "kepler" else None,
                duration_days=duration)
    rel.write_release(paths, rid, made.lightcurves, objects=made.objects,
                      source=f"{where}({call}, duration_days={duration})")
    return rid


def validate(release: str, profile: str | None = None, overrides: dict | None = None) -> dict[str, Any]:
    """Great Expectations validation; raises :class:`~lcml.errors.ValidationFailed` above the bad fraction.

    Limits come from ``validation`` in ``params.yaml`` with the survey's overrides; drift is judged
    against the survey's previous release; HTML Data Docs go to ``$LCML_HOME/data_docs/<release>``.
    """
    from lcml.data.validation.validate import validate_release

    params, paths = context(profile, overrides)
    spec = survey_of(release)
    limits = params.validation.for_survey(spec.name)
    folder = rel.release_dir(paths, release)
    previous, reason = drift_reference(params, paths, release)
    summary = validate_release(
        folder,
        min_points=limits.min_points or params.data.min_points,
        classes=spec.taxonomy,
        max_bad_fraction=limits.max_bad_fraction,
        duplicate_times=limits.duplicate_times,
        min_per_class=limits.min_per_class,
        min_per_class_required=limits.min_per_class_required,
        previous=rel.release_dir(paths, previous) if previous else None,
        previous_reason=reason,
        docs_dir=paths.home / "data_docs" / release,
    )
    return summary.as_dict()


def drift_reference(params, paths, release: str) -> tuple[str | None, str]:
    """The release a new one's drift is judged against, and why: the training release of the survey's
    champion (what the model in service learnt from), else the survey's newest earlier release."""
    from lcml.data.inventory import previous_release

    champion = _champion_release(params, paths, release.split("/")[0])
    if champion and champion != release and (rel.release_dir(paths, champion) / rel.LIGHTCURVES).is_file():
        return champion, "the champion's training release"
    return previous_release(paths, release), "the survey's previous release"


def _champion_release(params, paths, survey_name: str) -> str | None:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from lcml.registry.promote import CHAMPION, alias_version
    from lcml.tracking import use_tracking_uri

    name = params.registry.name_for(survey_name)
    uri = paths.mlflow_tracking_uri
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_file():
        return None  # nothing registered yet (and no database to create just to learn that)
    try:
        use_tracking_uri(paths)
        client = MlflowClient()
        version = alias_version(client, name, CHAMPION)
        return client.get_model_version(name, version).tags.get("release") if version else None
    except (MlflowException, OSError):  # no registry to ask (a server down): the previous release serves
        return None


def release_from_source(name: str, source: str | Path, version: str, *, labels: str | Path | None = None,
                        limit: int | None = None, sample_seed: int | None = None,
                        profile: str | None = None, overrides: dict | None = None) -> str:
    """Ingest a survey's files (see :mod:`lcml.data.ingest`) into the new release ``<survey>/<version>``."""
    from lcml.data.ingest import build_release, ingest

    survey(name)  # an unknown survey is one clear line before anything is read
    params, paths = context(profile, overrides)
    rid = rel.release_id(name, version)
    folder = rel.release_dir(paths, rid)
    if folder.exists():
        raise InputError(f"release {rid} already exists at {folder}; releases are immutable (pick a new version)")
    log.info("release %s: reading %s", rid, source)
    ingested = ingest(name, source, labels=labels, limit=limit, sample_seed=sample_seed)
    log.info("release %s: %d light curve(s) read, %d input(s) rejected; writing the release", rid,
             ingested.lightcurves.num_rows, len(ingested.rejected))
    merge = params.validation.for_survey(name).duplicate_times == "merge"
    build_release(paths, rid, ingested, merge_duplicate_times=merge)
    return rid


def release_and_validate(name: str, source: str | Path, version: str, *, labels: str | Path | None = None,
                         limit: int | None = None, sample_seed: int | None = None, validate_it: bool = True,
                         profile: str | None = None,
                         on_built: Callable[[str], None] | None = None) -> tuple[str, dict[str, Any] | None]:
    """``lcml data release``: ingest ``source`` into a new release, then validate it (unless told not to).

    ``on_built(release_id)`` is called between the two, so a release that then fails validation has
    been announced as built (it stays, with its quarantine, for inspection).
    """
    rid = release_from_source(name, source, version, labels=labels, limit=limit, sample_seed=sample_seed,
                              profile=profile)
    if on_built is not None:
        on_built(rid)
    if validate_it:
        log.info("release %s: validating (Great Expectations)", rid)
    return rid, (validate(rid, profile=profile) if validate_it else None)


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


def release_for_source(name: str, source: str | Path, *, version: str | None = None,
                       labels: str | Path | None = None, limit: int | None = None, sample_seed: int | None = None,
                       profile: str | None = None, overrides: dict | None = None) -> str:
    """The release of ``source`` (built now unless this source already made it); its id."""
    survey(name)
    if labels is not None and not Path(labels).is_file():
        raise InputError(f"{labels}: labels file not found")
    version = version or source_version(source, labels=labels, limit=limit, sample_seed=sample_seed)
    _, paths = context(profile, overrides)
    rid = rel.release_id(name, version)
    if rel.release_dir(paths, rid).is_dir():
        log.info("release %s of %s exists already: reused", rid, source)
        return rid
    return release_from_source(name, source, version, labels=labels, limit=limit, sample_seed=sample_seed,
                               profile=profile, overrides=overrides)


def publish(release: str, profile: str | None = None, overrides: dict | None = None) -> dict[str, str]:
    """``dvc add data`` + ``dvc push``; returns the DVC md5 of ``data/`` and the manifest hash."""
    _, paths = context(profile, overrides)
    md5 = rel.publish(paths)
    return {"release": release, "data_md5": md5, "manifest_hash": rel.manifest_hash(rel.release_dir(paths, release))}


def announcement(release: str, published: dict[str, str]) -> tuple[str, dict[str, str]]:
    """The survey whose Asset a published release updates, and the event's extra.

    Every survey of :data:`lcml.surveys.SURVEYS` has an Asset; another is refused in one line.
    """
    name = survey_of(release).name
    return name, {"release": release, "data_md5": published["data_md5"],
                  "manifest_hash": published["manifest_hash"]}

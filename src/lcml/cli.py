"""The ``lcml`` command line. Every command calls the same functions as the Airflow tasks."""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Optional

import typer

from lcml.errors import LcmlError

app = typer.Typer(help="lcml: versioned survey releases, classifier searches and a gated MLflow registry.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
data_app = typer.Typer(help="Build, validate and publish releases.", no_args_is_help=True)
registry_app = typer.Typer(help="Inspect the MLflow Model Registry.", no_args_is_help=True)
pipeline_app = typer.Typer(help="Run the retraining DAG.", no_args_is_help=True)
study_app = typer.Typer(help="StarWhisper's catalogs (accuracy against phase coverage and sampling) and "
                             "AstroM3's label-fraction study.",
                        no_args_is_help=True)
app.add_typer(study_app, name="study")
app.add_typer(data_app, name="data")
app.add_typer(registry_app, name="registry")
app.add_typer(pipeline_app, name="pipeline")

Profile = Annotated[Optional[str], typer.Option("--profile", "-p", help="params.yaml profile (default $LCML_PROFILE or demo)")]


def fail(message: str, code: int = 1) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def guarded(fn):
    """Report lcml's own errors as one line and a non-zero exit, never a traceback."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except LcmlError as exc:
            fail(str(exc))

    return wrapper


# ---------------------------------------------------------------- data


@data_app.command("build")
@guarded
def data_build(release: Annotated[Optional[str], typer.Option(help="<survey>/<version>")] = None, profile: Profile = None):
    """Build the release (simulated for kepler/sim-*) if it does not exist; print its id."""
    from lcml import pipeline

    typer.echo(pipeline.prepare_release(release, profile=profile))


@data_app.command("validate")
@guarded
def data_validate(release: str, profile: Profile = None):
    """Validate RELEASE with Great Expectations; bad rows go to its quarantine.parquet."""
    from lcml import pipeline

    typer.echo(json.dumps(pipeline.validate(release, profile=profile), indent=2))


@data_app.command("publish")
@guarded
def data_publish(release: str, profile: Profile = None):
    """Track data/ with DVC (data.dvc) and push it to the configured remote."""
    from lcml import pipeline

    typer.echo(json.dumps(pipeline.publish(release, profile=profile), indent=2))


@data_app.command("release")
@guarded
def data_release(
    survey: Annotated[str, typer.Argument(help="kepler, k2, tess, catalina-sss, crts or astrom3")],
    source: Annotated[Path, typer.Option("--source", "-s", help="file or folder to ingest (see README)")],
    version: Annotated[Optional[str], typer.Option(help="release version (default: today's date, vYYYYMMDD)")] = None,
    labels: Annotated[Optional[Path], typer.Option(help="CSV with an id column (object_id/kic/epic/tic/id) and label")] = None,
    limit: Annotated[Optional[int], typer.Option(help="random sample of this many objects (Catalina/CRTS Parquet)")] = None,
    seed: Annotated[int, typer.Option(help="seed of that sample")] = 0,
    validate: Annotated[bool, typer.Option(help="validate right after building")] = True,
    profile: Profile = None,
):
    """Ingest a survey's files into a new immutable release, then validate it."""
    from lcml import pipeline

    version = version or datetime.now(timezone.utc).strftime("v%Y%m%d")
    rid = pipeline.release_from_source(survey, source, version, labels=labels, limit=limit,
                                       sample_seed=seed if limit else None, profile=profile)
    typer.echo(f"built {rid}")
    if validate:
        summary = pipeline.validate(rid, profile=profile)
        typer.echo(f"validated: {summary['n_accepted']}/{summary['n_objects']} objects accepted, "
                   f"{summary['n_objects_quarantined']} quarantined, "
                   f"{summary.get('n_rejected_at_ingest', 0)} rejected at ingest"
                   + (f"; flags: {'; '.join(summary['flags'])}" if summary.get("flags") else ""))
        if summary.get("data_docs_index"):
            typer.echo(f"data docs: {summary['data_docs_index']}")


@data_app.command("fetch")
@guarded
def data_fetch(
    mission: Annotated[str, typer.Argument(help="kepler, k2 or tess")],
    catalog: Annotated[Path, typer.Option("--catalog", help="CSV with kic/epic/tic (or object_id) and label")],
    cache: Annotated[Optional[Path], typer.Option(help="download cache (default $LCML_HOME/mast)")] = None,
    limit: Annotated[Optional[int], typer.Option(help="first N targets of the catalog")] = None,
    author: Annotated[Optional[str], typer.Option(help="pipeline (default the mission's own; 'any')")] = None,
    exptime: Annotated[Optional[str], typer.Option(help="cadence: long, short, fast, seconds, or 'any'")] = None,
    retry_failed: Annotated[bool, typer.Option(help="ask MAST again for targets recorded as failed")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
):
    """Download the catalog's light curves from MAST with lightkurve into a resumable cache."""
    from lcml.config import Paths
    from lcml.data.fetch import fetch_catalog

    report = fetch_catalog(mission, catalog, cache or Paths.from_env().home / "mast", limit=limit, author=author,
                           exptime=exptime, retry_failed=retry_failed, progress=None if as_json else typer.echo)
    typer.echo(json.dumps(report.to_dict(), indent=2, default=str) if as_json else report.summary())
    if not report.ok:
        raise typer.Exit(3)  # some targets have no files; the cache keeps what was fetched


@data_app.command("list")
@guarded
def data_list(survey: Annotated[Optional[str], typer.Argument(help="only this survey")] = None,
              as_json: Annotated[bool, typer.Option("--json")] = False):
    """The releases in data/releases: size, classes, validation state."""
    from lcml.config import Paths
    from lcml.data.inventory import list_releases

    rows = list_releases(Paths.from_env(), survey)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    table = Table(title="releases")
    for col in ("release", "created", "objects", "classes", "validation", "quarantined", "rejected", "folded"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["release"], r["created"], str(r["n_objects"]), str(r["n_classes"]), r["validated"],
                      str(r["n_quarantined"] if r["n_quarantined"] is not None else "-"),
                      str(r["n_rejected_at_ingest"]), "yes" if r["folded"] else "")
    _wide_console().print(table)


@data_app.command("diff")
@guarded
def data_diff(a: Annotated[str, typer.Argument(help="older release <survey>/<version>")],
              b: Annotated[str, typer.Argument(help="newer release")],
              as_json: Annotated[bool, typer.Option("--json")] = False):
    """Objects added, removed and relabelled from A to B, and per-class counts."""
    from lcml.config import Paths
    from lcml.data.inventory import diff_releases

    d = diff_releases(Paths.from_env(), a, b)
    if as_json:
        typer.echo(json.dumps(d, indent=2))
        return
    typer.echo(f"{a} ({d['n_a']} objects) → {b} ({d['n_b']} objects): {len(d['added'])} added, "
               f"{len(d['removed'])} removed, {len(d['relabelled'])} relabelled")
    for kind in ("added", "removed"):
        if d[kind]:
            typer.echo(f"  {kind}: {', '.join(d[kind][:10])}{' …' if len(d[kind]) > 10 else ''}")
    for r in d["relabelled"][:20]:
        typer.echo(f"  relabelled {r['object_id']}: {r['from']} → {r['to']}")
    typer.echo("  per class: " + ", ".join(f"{c} {v['a']}→{v['b']}" for c, v in d["class_counts"].items()))


@data_app.command("quarantine")
@guarded
def data_quarantine(release: Annotated[str, typer.Argument(help="<survey>/<version>")],
                    as_json: Annotated[bool, typer.Option("--json")] = False,
                    limit: Annotated[int, typer.Option(help="rows to show")] = 50):
    """Objects left out of RELEASE (rejected at ingest or quarantined by validation) with their reasons."""
    from lcml.config import Paths
    from lcml.data.inventory import quarantine_report

    frame = quarantine_report(Paths.from_env(), release)
    if as_json:
        typer.echo(frame.to_json(orient="records", indent=2))
        return
    if frame.empty:
        typer.echo(f"{release}: nothing quarantined or rejected")
        return
    typer.echo(f"{release}: {int((frame['stage'] == 'ingest').sum())} rejected at ingest, "
               f"{int((frame['stage'] == 'validation').sum())} quarantined by validation")
    for row in frame.head(limit).itertuples():
        who = row.source if row.object_id is None or row.object_id != row.object_id else row.object_id
        typer.echo(f"  [{row.stage}] {who}: {row.reasons}")
    if len(frame) > limit:
        typer.echo(f"  … {len(frame) - limit} more (--limit, --json)")


def _floats(text: Optional[str]) -> Optional[tuple[float, ...]]:
    if not text:
        return None
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        fail(f"expected comma-separated numbers, got {text!r}")


def _study(kind: str, model: str, output: Path, release: Optional[str], split: str, max_loss: float,
           profile: Optional[str], **grid) -> None:
    from lcml import studies

    r = studies.run_study(kind, model, output, release=release, split=None if split == "all" else split,
                          max_loss=max_loss, profile=profile, progress=True, **grid)
    typer.echo(studies.format_summary(r["summary"]))
    typer.echo(f"catalog: {r['catalog']}\nsummary: {r['summary_path']}")


StudyModel = Annotated[str, typer.Option("--model", help="models:/NAME@champion, models:/NAME/VERSION or a run URI")]
StudyOut = Annotated[Path, typer.Option("--output", help="catalog CSV (a .summary.json is written beside it)")]
StudyRelease = Annotated[Optional[str], typer.Option(help="<survey>/<version> (default: the model's release)")]
StudySplit = Annotated[str, typer.Option(help="test, val, train or all")]
StudyLoss = Annotated[float, typer.Option(help="accuracy loss allowed for the summary's largest cut")]


@study_app.command("phase")
@guarded
def study_phase(model: StudyModel, output: StudyOut, release: StudyRelease = None, split: StudySplit = "test",
                windows: Annotated[Optional[str], typer.Option(help="kept fractions of each cycle, e.g. 0.05,0.1,1")] = None,
                starts: Annotated[Optional[str], typer.Option(help="window starts in phase [-1, 1)")] = None,
                max_loss: StudyLoss = 0.10, profile: Profile = None):
    """Accuracy as a function of which phase window is kept, per star and per class."""
    _study("phase", model, output, release, split, max_loss, profile, windows=_floats(windows), starts=_floats(starts))


@study_app.command("label-fraction")
@guarded
def study_label_fraction(
    release: Annotated[str, typer.Argument(help="multimodal release, e.g. astrom3/sim-v1 or a Catalina release")],
    fractions: Annotated[str, typer.Option(help="labelled shares of the train split")] = "0.1,0.25,0.5,1",
    modalities: Annotated[Optional[str], typer.Option(help="modality sets, e.g. photometry,all "
                                                           "(default: each the release has, and all)")] = None,
    seeds: Annotated[str, typer.Option(help="label-subset and head seeds, e.g. 0,1,2")] = "0",
    pretrain_epochs: Annotated[int, typer.Option(min=1)] = 10,
    finetune_epochs: Annotated[int, typer.Option(min=1)] = 10,
    min_steps: Annotated[int, typer.Option(min=0, help="at least this many optimiser steps per fine-tuning")] = 0,
    profile: Profile = None,
):
    """CLIP-pretrained against from-scratch classifiers as the share of labelled objects grows (AstroM3)."""
    from lcml.label_study import gain_summary, label_fraction_study

    try:
        seed_list = tuple(int(v) for v in seeds.split(","))
    except ValueError:
        fail(f"--seeds: expected comma-separated integers, got {seeds!r}")
    table = label_fraction_study(
        release, fractions=_floats(fractions), seeds=seed_list, pretrain_epochs=pretrain_epochs,
        finetune_epochs=finetune_epochs, min_steps=min_steps, profile=profile, progress=typer.echo,
        modality_sets=tuple(m.strip() for m in modalities.split(",")) if modalities else None,
    )
    typer.echo(gain_summary(table).round(3).to_string(index=False))
    typer.echo(f"MLflow run {table.attrs.get('run_id')} in {table.attrs.get('experiment')}")


@study_app.command("sampling")
@guarded
def study_sampling(model: StudyModel, output: StudyOut, release: StudyRelease = None, split: StudySplit = "test",
                   intervals: Annotated[Optional[str], typer.Option(help="sampling intervals in days")] = None,
                   max_loss: StudyLoss = 0.10, profile: Profile = None):
    """Accuracy as the sampling interval grows, per star and per class."""
    _study("sampling", model, output, release, split, max_loss, profile, intervals=_floats(intervals))


@app.command("embed")
@guarded
def embed_release(release: Annotated[str, typer.Argument(help="multimodal release, e.g. astrom3/sim-v1")],
                  epochs: Annotated[int, typer.Option(help="pretraining epochs")] = 10,
                  dim: Annotated[int, typer.Option(help="embedding size (AstroM3: 512)")] = 64,
                  seed: int = 0, profile: Profile = None):
    """AstroM3 CLIP pretraining on every object of RELEASE; stores one embedding per object."""
    from lcml.pretrain import pretrain_release

    r = pretrain_release(release, epochs=epochs, embed_dim=dim, seed=seed, profile=profile)
    typer.echo(f"{r['n_objects']} objects embedded ({', '.join(r['modalities'])}); MLflow run {r['run_id']} in "
               f"{r['experiment']}; table {r['embeddings']}")


def _table(release: str, profile: Optional[str]):
    from lcml.pretrain import load_embeddings

    return load_embeddings(release, profile)


def _echo_frame(frame, as_json: bool) -> None:
    if as_json:
        typer.echo(frame.to_json(orient="records", indent=2))
    else:
        typer.echo(frame.to_string(index=False))


EmbRelease = Annotated[str, typer.Option("--release", help="release whose embeddings to search")]


@app.command("similar")
@guarded
def similar_cmd(object_id: str, release: EmbRelease, k: Annotated[int, typer.Option("-k")] = 10,
                as_json: Annotated[bool, typer.Option("--json")] = False, profile: Profile = None):
    """The K nearest neighbours of OBJECT_ID in the release's embedding space."""
    from lcml.embeddings import similar

    try:
        found = similar(_table(release, profile), object_id, k)
    except KeyError as exc:
        fail(str(exc).strip("'\""))
    _echo_frame(found, as_json)


@app.command("anomalies")
@guarded
def anomalies_cmd(release: EmbRelease, top: int = 20,
                  method: Annotated[str, typer.Option(help="knn or isolation_forest")] = "knn",
                  as_json: Annotated[bool, typer.Option("--json")] = False, profile: Profile = None):
    """The most isolated objects of the release in embedding space."""
    from lcml.embeddings import anomalies

    try:
        found = anomalies(_table(release, profile), top, method)
    except ValueError as exc:
        fail(str(exc))
    _echo_frame(found, as_json)


@app.command("suspects")
@guarded
def suspects_cmd(release: EmbRelease, k: Annotated[int, typer.Option("-k")] = 10,
                 as_json: Annotated[bool, typer.Option("--json")] = False, profile: Profile = None):
    """Labelled objects whose neighbourhood mostly carries another label: candidate misclassifications."""
    from lcml.embeddings import suspects

    _echo_frame(suspects(_table(release, profile), k), as_json)


@app.command("embedding-map")
@guarded
def embedding_map_cmd(release: EmbRelease, output: Annotated[Path, typer.Option(help="PNG path")],
                      method: Annotated[str, typer.Option(help="umap or tsne")] = "umap", profile: Profile = None):
    """A 2-D map (UMAP or t-SNE) of the release's embeddings, coloured by class."""
    from lcml.embeddings import embedding_map

    typer.echo(str(embedding_map(_table(release, profile), method, output)))


# ---------------------------------------------------------------- training without Airflow


SourceSurvey = Annotated[Optional[str], typer.Option(help="survey of --source: kepler, k2, tess, catalina-sss, "
                                                          "crts or astrom3")]
SourcePath = Annotated[Optional[Path], typer.Option(help="survey files to train on (see `lcml data release`)")]
SourceLabels = Annotated[Optional[Path], typer.Option(help="labels CSV for --source")]
SourceLimit = Annotated[Optional[int], typer.Option(help="random sample of this many objects of --source")]
SourceSeed = Annotated[int, typer.Option(help="seed of that sample")]


def _source_release(release: Optional[str], survey: Optional[str], source: Optional[Path], labels: Optional[Path],
                    limit: Optional[int], seed: int, profile: Optional[str]) -> Optional[str]:
    """``--release`` as given, or the release built (or found) for ``--survey`` + ``--source``."""
    if source is None and survey is None:
        return release
    if source is None or survey is None:
        fail("--survey and --source go together (the survey says how to read the files)", 2)
    if release is not None:
        fail("give either --release or --survey/--source, not both", 2)
    from lcml import pipeline

    rid = pipeline.release_for_source(survey, source, labels=labels, limit=limit,
                                      sample_seed=seed if limit else None, profile=profile)
    typer.echo(f"release {rid} <- {source}")
    return rid


@app.command("train")
@guarded
def train(release: Annotated[Optional[str], typer.Option(help="<survey>/<version>")] = None, profile: Profile = None,
          tag: Annotated[Optional[str], typer.Option(help="run name")] = None,
          force: Annotated[bool, typer.Option(help="retrain even if this release was trained already")] = False,
          family: Annotated[Optional[list[str]], typer.Option(help="family to search (repeatable; default "
                                                                    "search.families)")] = None,
          survey: SourceSurvey = None, source: SourcePath = None, labels: SourceLabels = None,
          limit: SourceLimit = None, seed: SourceSeed = 0):
    """Build/validate/publish, search every family, register and gate in this process (no Airflow)."""
    from lcml import pipeline

    release = _source_release(release, survey, source, labels, limit, seed, profile)
    rid = pipeline.prepare_release(release, profile=profile)
    validation = pipeline.validate(rid, profile=profile)
    published = pipeline.publish(rid, profile=profile)
    tag = tag or datetime.now(timezone.utc).strftime("cli-%Y%m%dT%H%M%S")
    trained, gated = [], []
    for name in family or pipeline.families(profile=profile):
        trained.append(pipeline.train(rid, run_name=tag, profile=profile, force=force, family=name))
        gated.append(pipeline.register_and_gate(trained[-1], profile=profile))
    path = pipeline.report(rid, validation, published, trained, gated, tag=tag, profile=profile)
    print_summary(json.loads(Path(path).read_text()))


# ---------------------------------------------------------------- Airflow


def _run_dag(release: Optional[str], profile: Optional[str], tag: Optional[str], force: bool = False) -> None:
    from lcml.config import Paths
    from lcml.orchestration import run_dag_test

    paths = Paths.from_env().ensure()
    tag = tag or datetime.now(timezone.utc).strftime("run-%Y%m%dT%H%M%S")
    log = paths.reports / f"{tag}.airflow.log"
    conf = {"release": release, "profile": profile, "tag": tag, "force": force}
    typer.echo(f"Running DAG retrain_classifiers through Airflow (log: {log}) ...")
    start = time.monotonic()
    rc = run_dag_test(paths, "retrain_classifiers", conf, log)
    elapsed = time.monotonic() - start
    report = paths.reports / f"{tag}.json"
    if rc != 0 or not report.is_file():
        tail = "".join(log.read_text(errors="replace").splitlines(keepends=True)[-15:]) if log.exists() else ""
        typer.echo(tail, err=True)
        fail(f"DAG run {tag} failed (exit {rc}) after {elapsed:.0f} s; full log: {log}")
    summary = json.loads(report.read_text())
    summary["dag_seconds"] = round(elapsed, 1)
    report.write_text(json.dumps(summary, indent=2) + "\n")
    print_summary(summary)


@pipeline_app.command("run")
@guarded
def pipeline_run(release: Annotated[Optional[str], typer.Option(help="<survey>/<version>")] = None,
                 profile: Profile = None, tag: Annotated[Optional[str], typer.Option(help="run name")] = None,
                 force: Annotated[bool, typer.Option(help="retrain even if this release was trained already")] = False,
                 survey: SourceSurvey = None, source: SourcePath = None, labels: SourceLabels = None,
                 limit: SourceLimit = None, seed: SourceSeed = 0):
    """Run the retrain_classifiers DAG through real Airflow (airflow dags test) and print its summary.

    With ``--survey`` and ``--source``, the survey's files become a release first (reused when the same
    unchanged source made one before), and the DAG trains on it.
    """
    _run_dag(_source_release(release, survey, source, labels, limit, seed, profile), profile, tag, force)


@app.command("demo")
@guarded
def demo(profile: Profile = None):
    """The main pipeline end to end on the embedded default (what `make demo` runs)."""
    _run_dag(None, profile, None)


@app.command("airflow", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def airflow(ctx: typer.Context):
    """Run the airflow CLI with lcml's environment, e.g. `lcml airflow standalone`."""
    from lcml.config import Paths
    from lcml.orchestration import run_airflow

    raise typer.Exit(run_airflow(Paths.from_env().ensure(), list(ctx.args)))


# ---------------------------------------------------------------- predict


@app.command("predict")
@guarded
def predict(
    model: Annotated[str, typer.Option(help="MLflow model URI, e.g. models:/kepler-variable-star-classifier@champion")],
    input: Annotated[Path, typer.Option("--input", "-i", help="release Parquet, mission FITS file, or a folder")],
    output: Annotated[Path, typer.Option("--output", "-o", help="output Parquet")],
    batch_size: Annotated[int, typer.Option(min=1, help="light curves per batch")] = 256,
):
    """Score light curves with a registered model; one output row per input curve."""
    from lcml.scoring import score

    frame = score(model, input, batch_size=batch_size)
    output.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(output, index=False)
    counts = frame["label_pred"].value_counts().to_dict()
    typer.echo(f"{len(frame)} light curves scored with {frame['model_name'].iloc[0]} "
               f"v{frame['model_version'].iloc[0]} -> {output}  {counts}")


# ---------------------------------------------------------------- registry


@registry_app.command("status")
@guarded
def registry_status(
    name: Annotated[Optional[str], typer.Argument(help="registered model (default from params.yaml)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    profile: Profile = None,
):
    """Versions, aliases, key metrics and gate verdicts."""
    from lcml.registry.promote import registry_status as status

    client, params, paths = _client(profile)
    name = name or params.registry.name_for(params.data.survey)
    info = status(client, name)
    if as_json:
        typer.echo(json.dumps(info, indent=2, default=str))
        return
    if not info["exists"]:
        fail(f"no registered model named {name!r} at {paths.mlflow_tracking_uri}")
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{name}  aliases: " + (", ".join(f"@{a}→v{v}" for a, v in info["aliases"].items()) or "none"))
    for col in ("version", "aliases", "family", "release", "bal.acc", "macro-F1", "verdict"):
        table.add_column(col, no_wrap=True)
    table.add_column("reasons", overflow="fold", min_width=30)
    for v in info["versions"]:
        m = v["metrics"]
        table.add_row(v["version"], ",".join(v["aliases"]), v["family"], v["release"],
                      f"{m.get('balanced_accuracy', float('nan')):.3f}", f"{m.get('macro_f1', float('nan')):.3f}",
                      v["verdict"], "; ".join(v["reasons"] + [f"warning: {w}" for w in v.get("warnings", [])]))
    console = Console()
    console.width = max(console.width, 140)  # piped output defaults to 80 columns
    console.print(table)


def _client(profile: Optional[str] = None):
    from mlflow import MlflowClient

    from lcml import pipeline

    params, paths = pipeline.context(profile)
    pipeline.use_tracking_uri(paths)
    return MlflowClient(), params, paths


def _wide_console():
    from rich.console import Console

    console = Console()
    console.width = max(console.width, 120)
    return console


@registry_app.command("rollback")
@guarded
def registry_rollback(
    name: Annotated[str, typer.Argument(help="registered model")],
    reason: Annotated[str, typer.Option(help="why (recorded in the history and on the version)")],
    to: Annotated[Optional[str], typer.Option(help="version to restore (default: the previous champion)")] = None,
):
    """Point @champion back at an earlier version and record why."""
    from lcml.registry.promote import registry_lock, rollback

    client, _, paths = _client()
    with registry_lock(paths.home, name):
        old, new = rollback(client, name, reason=reason, to=to)
    typer.echo(f"{name}: @champion v{old} -> v{new} ({reason})")


@registry_app.command("history")
@guarded
def registry_history(name: Annotated[str, typer.Argument(help="registered model")],
                     as_json: Annotated[bool, typer.Option("--json")] = False):
    """Every promotion, refusal and rollback of NAME, oldest first."""
    from rich.table import Table

    from lcml.registry.promote import history

    client, _, _ = _client()
    events = history(client, name)
    if as_json:
        typer.echo(json.dumps(events, indent=2))
        return
    if not events:
        fail(f"no registry events for {name!r}")
    table = Table(title=f"{name} history")
    for col in ("time", "action", "version", "previous", "user"):
        table.add_column(col, no_wrap=True)
    table.add_column("reason", overflow="fold")
    for e in events:
        table.add_row(e["time"], e["action"], e["version"], e["previous"], e["user"], e["reason"])
    _wide_console().print(table)


@registry_app.command("compare")
@guarded
def registry_compare(name: str, v1: str, v2: str, as_json: Annotated[bool, typer.Option("--json")] = False):
    """Test metrics of two versions side by side, per class."""
    from rich.table import Table

    from lcml.registry.promote import resolve_version, version_metrics

    client, _, _ = _client()
    a = version_metrics(client, *resolve_version(client, f"{name}/{v1}"))
    b = version_metrics(client, *resolve_version(client, f"{name}/{v2}"))
    ra = client.get_model_version(name, v1).tags.get("release", "")
    rb = client.get_model_version(name, v2).tags.get("release", "")
    keys = [k for k in ("accuracy", "balanced_accuracy", "macro_f1", "n_test") if k in a or k in b]
    keys += sorted({k for k in (*a, *b) if k.startswith("recall_")})
    rows = [{"metric": k, f"v{v1}": a.get(k), f"v{v2}": b.get(k),
             "delta": (b[k] - a[k]) if k in a and k in b else None} for k in keys]
    if as_json:
        typer.echo(json.dumps({"releases": {v1: ra, v2: rb}, "metrics": rows}, indent=2))
        return
    note = "" if ra == rb else f"  (different test sets: {ra} vs {rb})"
    table = Table(title=f"{name}: v{v1} vs v{v2}{note}")
    for col in ("metric", f"v{v1}", f"v{v2}", "delta"):
        table.add_column(col, no_wrap=True)
    fmt = lambda x: "—" if x is None else f"{x:.3f}"  # noqa: E731
    for r in rows:
        table.add_row(r["metric"], fmt(r[f"v{v1}"]), fmt(r[f"v{v2}"]), fmt(r["delta"]))
    _wide_console().print(table)


@registry_app.command("lineage")
@guarded
def registry_lineage(ref: Annotated[str, typer.Argument(help="NAME@ALIAS or NAME/VERSION")],
                     as_json: Annotated[bool, typer.Option("--json")] = False):
    """What made a version: release, data hashes, code, parameters, packages, search."""
    import mlflow

    from lcml.registry.promote import resolve_version

    client, _, _ = _client()
    name, version = resolve_version(client, ref)
    mv = client.get_model_version(name, version)
    run = client.get_run(mv.run_id)
    try:
        packages = mlflow.artifacts.load_dict(f"runs:/{mv.run_id}/package_versions.json")
    except Exception:  # older runs may lack it; lineage still prints the rest
        packages = {}
    datasets = [{"name": d.dataset.name, "digest": d.dataset.digest, "source": d.dataset.source}
                for d in (run.inputs.dataset_inputs if run.inputs else [])]
    keys = ("release", "manifest_hash", "data_md5", "git_commit", "git_dirty", "params_hash", "profile",
            "family", "study", "best_trial")
    chain = {"model": f"{name} v{version}", **{k: mv.tags.get(k, "") for k in keys},
             "training_run": mv.run_id, "model_source": mv.source, "datasets": datasets, "packages": packages}
    if as_json:
        typer.echo(json.dumps(chain, indent=2, default=str))
        return
    typer.echo(f"{name} v{version}  <-  run {mv.run_id} ({chain['family']}, study {chain['study']}, "
               f"trial {chain['best_trial']})")
    typer.echo(f"  <-  release {chain['release']}  manifest sha256 {chain['manifest_hash'][:16]}…  "
               f"DVC md5 {chain['data_md5']}")
    typer.echo(f"  <-  code {chain['git_commit'][:12]} (dirty: {chain['git_dirty']})  params {chain['params_hash']} "
               f"(profile {chain['profile']})")
    typer.echo("  packages: " + ", ".join(f"{k} {v}" for k, v in packages.items()))
    for d in datasets:
        typer.echo(f"  dataset input: {d['name']} (digest {d['digest']}) from {d['source']}")


@registry_app.command("card")
@guarded
def registry_card(ref: Annotated[str, typer.Argument(help="NAME@ALIAS or NAME/VERSION")]):
    """Print the model card (markdown) of a version."""
    import mlflow

    from lcml.registry.card import CARD
    from lcml.registry.promote import resolve_version

    client, _, _ = _client()
    name, version = resolve_version(client, ref)
    run_id = client.get_model_version(name, version).run_id
    try:
        typer.echo(mlflow.artifacts.load_text(f"runs:/{run_id}/{CARD}"))
    except Exception:
        fail(f"{name} v{version} has no model card (run {run_id})")


@app.command("reproduce")
@guarded
def reproduce(name: str, version: str):
    """Re-run training of NAME VERSION from its recorded release and parameters; report the difference."""
    import mlflow

    from lcml import pipeline
    from lcml.config import Params

    client, _, _ = _client()
    mv = client.get_model_version(name, version) if version.isdigit() else None
    if mv is None:
        fail(f"VERSION must be a number, got {version!r}")
    recorded = Params.model_validate(mlflow.artifacts.load_dict(f"runs:/{mv.run_id}/params.json"))
    before = client.get_run(mv.run_id).data.metrics
    again = pipeline.train(mv.tags["release"], run_name=f"reproduce-v{version}", params=recorded)
    diff = again["metrics"]["balanced_accuracy"] - before["test_balanced_accuracy"]
    typer.echo(json.dumps({"model": f"{name} v{version}", "release": mv.tags["release"],
                           "recorded_balanced_accuracy": before["test_balanced_accuracy"],
                           "reproduced_balanced_accuracy": again["metrics"]["balanced_accuracy"],
                           "difference": diff, "within_1_point": abs(diff) <= 0.01,
                           "reproduction_run": again["run_id"]}, indent=2))


# ---------------------------------------------------------------- summary


def print_summary(s: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    reg = s["registry"]
    val = s["validation"]
    search = s["search"]
    m = s["test_metrics"]
    table = Table(title=f"lcml retrain summary — {s.get('tag', '')}", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    table.add_row("release", s["release"])
    table.add_row("class counts", ", ".join(f"{k} {v}" for k, v in s["class_counts"].items()))
    table.add_row("validation", f"{'passed' if val['passed'] else 'FAILED'}: {val['n_quarantined']}/{val['n_rows']} "
                                f"rows quarantined ({val['bad_fraction']:.1%}, max {val['max_bad_fraction']:.0%})")
    table.add_row("data md5 (DVC)", str(s.get("data_md5")))
    table.add_row("family", s.get("family", "conv_bilstm"))
    table.add_row("search", f"{search['n_trials']} trials, {search['n_pruned']} pruned; best trial "
                            f"{search['best_trial']} {search['best_params']}")
    table.add_row("test metrics", f"balanced acc {m['balanced_accuracy']:.3f}, macro-F1 {m['macro_f1']:.3f}, "
                                  f"acc {m['accuracy']:.3f} (n={int(m['n_test'])})")
    table.add_row("per-class recall", ", ".join(f"{k[7:]} {v:.2f}" for k, v in m.items() if k.startswith("recall_")))
    if reg.get("skipped"):
        table.add_row("registered", f"nothing new: {reg['model_name']} v{reg['version']} was already trained from "
                                    "this release with these params and code (--force retrains)")
    else:
        table.add_row("registered", f"{reg['model_name']} v{reg['version']}")
    verdict = reg["verdict"] + ("" if not reg["reasons"] else ": " + "; ".join(reg["reasons"]))
    table.add_row("gate verdict", verdict)
    for warning in reg.get("warnings", []):
        table.add_row("gate warning", warning)
    if len(s.get("candidates", [])) > 1:
        table.add_row("candidates", "\n".join(
            f"{c['family']}: v{c['version']} {c['verdict']}, test balanced acc "
            f"{c['test_metrics'].get('balanced_accuracy', float('nan')):.3f}" + (" (already trained)" if c["skipped"] else "")
            for c in s["candidates"]))
    champion = f"v{reg['champion']}" if reg["champion"] else "none"
    if reg["champion_before"] not in (None, reg["champion"]):
        champion += f" (was v{reg['champion_before']})"
    table.add_row("champion", champion)
    if "dag_seconds" in s:
        table.add_row("DAG wall time", f"{s['dag_seconds']} s")
    table.add_row("MLflow UI", "make mlflow-ui   → http://127.0.0.1:5000")
    table.add_row("Airflow UI", "make airflow-ui  → http://127.0.0.1:8080")
    Console(width=120).print(table)


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())

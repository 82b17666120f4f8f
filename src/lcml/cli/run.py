"""``lcml train``, ``lcml pipeline run``, ``lcml demo``, ``lcml airflow``: the retrain flow, with or without Airflow;
``lcml predict``, ``lcml sonify`` and ``lcml serve``: scoring with a registered model."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from lcml.cli.common import SURVEY_NAMES, Profile, app, fail, guarded, pipeline_app
from lcml.cli.summary import print_summary
from lcml.serving.rest import MAX_CURVES, MAX_POINTS

SourceSurvey = Annotated[Optional[str], typer.Option(help=f"survey of --source: {SURVEY_NAMES}")]
SourcePath = Annotated[Optional[Path], typer.Option(help="survey files to train on (see `lcml data release`)")]
SourceLabels = Annotated[Optional[Path], typer.Option(help="labels CSV for --source")]
SourceLimit = Annotated[Optional[int], typer.Option(help="random sample of this many objects of --source")]
SourceSeed = Annotated[int, typer.Option(help="seed of that sample")]
Tag = Annotated[Optional[str], typer.Option(help="run name")]
Force = Annotated[bool, typer.Option(help="retrain even if this release was trained already")]


class Engine(str, Enum):
    """Where ``lcml predict`` scores."""

    local = "local"
    spark = "spark"


def _source_release(release: Optional[str], survey: Optional[str], source: Optional[Path], labels: Optional[Path],
                    limit: Optional[int], seed: int, profile: Optional[str]) -> tuple[Optional[str], Optional[str]]:
    """``--release`` as given, or the release built (or found) for ``--survey`` + ``--source``; and the
    profile to train with (a survey's own files default to :data:`lcml.config.SURVEY_PROFILE`)."""
    if source is None and survey is None:
        return release, profile
    if source is None or survey is None:
        fail("--survey and --source go together (the survey says how to read the files)", 2)
    if release is not None:
        fail("give either --release or --survey/--source, not both", 2)
    from lcml.config import source_profile
    from lcml.pipeline.release import release_for_source

    profile = source_profile(profile)
    rid = release_for_source(survey, source, labels=labels, limit=limit, sample_seed=seed if limit else None,
                             profile=profile)
    typer.echo(f"release {rid} <- {source} (profile {profile})")
    return rid, profile


@app.command("train")
@guarded
def train(release: Annotated[Optional[str], typer.Option(help="<survey>/<version>")] = None, profile: Profile = None,
          tag: Tag = None, force: Force = False,
          family: Annotated[Optional[list[str]], typer.Option(help="family to search (repeatable; default "
                                                                    "search.families)")] = None,
          survey: SourceSurvey = None, source: SourcePath = None, labels: SourceLabels = None,
          limit: SourceLimit = None, seed: SourceSeed = 0):
    """Build/validate/publish, search every family, register and gate in this process (no Airflow)."""
    from lcml.pipeline.retrain import retrain

    release, profile = _source_release(release, survey, source, labels, limit, seed, profile)
    print_summary(retrain(release, profile=profile, tag=tag, force=force, family=family))


@pipeline_app.command("run")
@guarded
def pipeline_run(release: Annotated[Optional[str], typer.Option(help="<survey>/<version>")] = None,
                 profile: Profile = None, tag: Tag = None, force: Force = False,
                 survey: SourceSurvey = None, source: SourcePath = None, labels: SourceLabels = None,
                 limit: SourceLimit = None, seed: SourceSeed = 0):
    """Run the retrain_classifiers DAG through real Airflow (airflow dags test) and print its summary.

    With ``--survey`` and ``--source``, the survey's files become a release first (reused when the same
    unchanged source made one before), and the DAG trains on it.
    """
    from lcml.pipeline.airflow import run_retrain_dag

    release, profile = _source_release(release, survey, source, labels, limit, seed, profile)
    print_summary(run_retrain_dag(release, profile, tag, force, say=typer.echo))


@app.command("demo")
@guarded
def demo(profile: Profile = None):
    """The main pipeline end to end on the embedded default (what `make demo` runs)."""
    from lcml.pipeline.airflow import run_retrain_dag

    print_summary(run_retrain_dag(None, profile, None, say=typer.echo))


@app.command("airflow", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def airflow(ctx: typer.Context):
    """Run the airflow CLI with lcml's environment, e.g. `lcml airflow standalone`."""
    from lcml.config import Paths
    from lcml.pipeline.airflow import run_airflow

    raise typer.Exit(run_airflow(Paths.from_env().ensure(), list(ctx.args)))


@app.command("predict")
@guarded
def predict(
    model: Annotated[str, typer.Option(help="MLflow model URI, e.g. models:/kepler-variable-star-classifier@champion")],
    input: Annotated[Path, typer.Option("--input", "-i", help="release Parquet, mission FITS file, or a folder")],
    output: Annotated[Path, typer.Option("--output", "-o", help="output Parquet")],
    batch_size: Annotated[int, typer.Option(min=1, help="light curves per batch")] = 256,
    engine: Annotated[Engine, typer.Option(help="local: this process, streaming; spark: a Spark job "
                                                "(output is a Parquet folder; bad rows reported in `error`)")]
    = Engine.local,
    master: Annotated[str, typer.Option(help="Spark master URL (--engine spark)")] = "local[2]",
    strict: Annotated[bool, typer.Option(help="stop at the first curve or file that cannot be scored "
                                              "(default: score the others, list it in <output>.errors.csv)")]
    = False,
):
    """Score light curves with a registered model; one output row per input curve.

    Locally the input is read and the output written a batch at a time, so memory stays flat however
    many curves there are; the output file appears only when every curve is read. A curve that cannot
    be scored gets a row with its reason in `error` and a line in <output>.errors.csv (with an
    unreadable file of a folder); the exit status is non-zero only with --strict, or when nothing
    could be scored.
    """
    if engine is Engine.spark:
        from lcml.serving.spark import score_parquet_spark

        typer.echo(score_parquet_spark(model, input, output, master=master).summary(output, "Spark"))
        return
    from lcml.serving.batch import score_to_parquet

    typer.echo(score_to_parquet(model, input, output, batch_size=batch_size, strict=strict).summary(output))


@app.command()
@guarded
def sonify(
    input: Annotated[Path, typer.Argument(help="light curves: release Parquet, mission FITS file, or a folder")],
    output: Annotated[Path, typer.Option("--output", "-o", help="WAV file to write")],
    object_id: Annotated[Optional[str], typer.Option(help="the star to sonify (default: the first curve)")] = None,
    seconds: Annotated[float, typer.Option(help="length of the sound")] = 10.0,
    profile: Profile = None,
):
    """Write a star's light curve as sound (a WAV file): what the lc_audio family listens to.

    Brightness is pitch over the folded cycle, repeated; a longer period beats slower (see
    lcml.features.views.sonify for the mapping).
    """
    from lcml.config import context
    from lcml.serving.sonify import sonify_file

    params, _ = context(profile)
    typer.echo(sonify_file(input, output, params.features, object_id=object_id, seconds=seconds).summary())



@app.command()
@guarded
def serve(
    model: Annotated[str, typer.Option(help="MLflow model URI")] = "models:/kepler-variable-star-classifier@champion",
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 5001,
    max_curves: Annotated[int, typer.Option(min=1, help="curves per request; above: HTTP 413")] = MAX_CURVES,
    max_points: Annotated[int, typer.Option(min=1, help="points per request, all curves; above: HTTP 413")] = MAX_POINTS,
    timeout: Annotated[Optional[int], typer.Option(min=1, help="seconds a request may take (then 504)")] = None,
):
    """REST scoring of a registered model: MLflow's scoring server (POST /invocations, GET /ping) that
    answers 413 to a request above the batch limits. The model is loaded and warmed before the port opens.
    """
    from lcml.serving.rest import serve as run_server

    run_server(model, host=host, port=port, max_curves=max_curves, max_points=max_points, timeout=timeout)

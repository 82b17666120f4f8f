"""``lcml data …``: build, validate, publish, fetch and inspect releases; compute their features ahead."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Optional

import typer

from lcml.cli.common import SURVEY_NAMES, Profile, data_app, guarded, wide_console

@data_app.command("build")
@guarded
def data_build(release: Annotated[Optional[str], typer.Option(help="<survey>/<version>")] = None, profile: Profile = None):
    """Build the release (simulated for kepler/sim-*) if it does not exist; print its id."""
    from lcml.pipeline.release import prepare_release

    typer.echo(prepare_release(release, profile=profile))


def _validated_lines(summary: dict) -> list[str]:
    """What ``data validate`` and ``data release`` print: objects (and rows, where they differ), flags, docs."""
    rows = summary.get("n_quarantined", summary["n_objects_quarantined"])
    lines = [f"validated: {summary['n_accepted']}/{summary['n_objects']} objects accepted, "
             f"{summary['n_objects_quarantined']} quarantined"
             + (f" ({rows} rows)" if rows != summary["n_objects_quarantined"] else "")
             + f", {summary.get('n_rejected_at_ingest', 0)} rejected at ingest"
             + (f"; flags: {'; '.join(summary['flags'])}" if summary.get("flags") else "")]
    if summary.get("data_docs_index"):
        lines.append(f"data docs: {summary['data_docs_index']}")
    return lines


@data_app.command("validate")
@guarded
def data_validate(release: str, profile: Profile = None,
                  as_json: Annotated[bool, typer.Option("--json", help="the whole validation result")] = False):
    """Validate RELEASE with Great Expectations; bad rows go to its quarantine.parquet."""
    from lcml.pipeline.release import validate

    summary = validate(release, profile=profile)
    typer.echo(json.dumps(summary, indent=2) if as_json else "\n".join(_validated_lines(summary)))


@data_app.command("features")
@guarded
def data_features(release: str, profile: Profile = None,
                  family: Annotated[str, typer.Option(help="whose features (the baseline's)")] = "baseline"):
    """Compute RELEASE's training features ahead, a batch of curves at a time, into the feature cache
    that `lcml train` on it then reads (memory holds one batch, whatever the release's size)."""
    from lcml.pipeline.features import featurize_release

    out = featurize_release(release, family=family, profile=profile)
    for split in ("train", "val"):
        done = out[split]
        typer.echo(f"{split}: {done['n_curves']:,} curves, {'already cached' if done['cached'] else 'computed'} "
                   f"({done['entry']} in {out['cache']})")


@data_app.command("publish")
@guarded
def data_publish(release: str, profile: Profile = None):
    """Track data/ with DVC (data.dvc) and push it to the configured remote."""
    from lcml.pipeline.release import publish

    typer.echo(json.dumps(publish(release, profile=profile), indent=2))


@data_app.command("release")
@guarded
def data_release(
    survey: Annotated[str, typer.Argument(help=SURVEY_NAMES)],
    source: Annotated[Path, typer.Option("--source", "-s", help="file or folder to ingest (see README)")],
    version: Annotated[Optional[str], typer.Option(help="release version (default: today's date, vYYYYMMDD)")] = None,
    labels: Annotated[Optional[Path], typer.Option(help="CSV with an id column (object_id/kic/epic/tic/id) and label")] = None,
    limit: Annotated[Optional[int], typer.Option(help="random sample of this many objects (Catalina/CRTS Parquet)")] = None,
    seed: Annotated[int, typer.Option(help="seed of that sample")] = 0,
    validate: Annotated[bool, typer.Option(help="validate right after building")] = True,
    profile: Profile = None,
):
    """Ingest a survey's files into a new immutable release, then validate it."""
    from lcml.pipeline.release import release_and_validate

    version = version or datetime.now(timezone.utc).strftime("v%Y%m%d")
    _, summary = release_and_validate(survey, source, version, labels=labels, limit=limit,
                                      sample_seed=seed if limit else None, validate_it=validate, profile=profile,
                                      on_built=lambda rid: typer.echo(f"built {rid}"))
    if summary is not None:
        typer.echo("\n".join(_validated_lines(summary)))


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
    wide_console().print(table)


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

"""``lcml registry …`` and ``lcml reproduce``: inspect and manage the MLflow Model Registry."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer

from lcml.cli.common import Json, Profile, app, fail, guarded, registry_app, wide_console

Ref = Annotated[str, typer.Argument(help="NAME@ALIAS or NAME/VERSION")]
Name = Annotated[str, typer.Argument(help="registered model")]


@registry_app.command("status")
@guarded
def registry_status(
    name: Annotated[Optional[str], typer.Argument(help="registered model (default from params.yaml)")] = None,
    as_json: Json = False,
    profile: Profile = None,
):
    """Versions, aliases, key metrics and gate verdicts."""
    from rich.table import Table

    from lcml.pipeline.manage import status

    info = status(name, profile)
    name = info.pop("name")
    where = info.pop("tracking_uri")
    if as_json:
        typer.echo(json.dumps(info, indent=2, default=str))
        return
    if not info["exists"]:
        fail(f"no registered model named {name!r} at {where}")
    table = Table(title=f"{name}  aliases: " + (", ".join(f"@{a}→v{v}" for a, v in info["aliases"].items()) or "none"))
    for col in ("version", "aliases", "family", "release", "bal.acc", "macro-F1", "verdict"):
        table.add_column(col, no_wrap=True)
    table.add_column("reasons", overflow="fold", min_width=30)
    for v in info["versions"]:
        m = v["metrics"]
        table.add_row(v["version"], ",".join(v["aliases"]), v["family"], v["release"],
                      f"{m.get('balanced_accuracy', float('nan')):.3f}", f"{m.get('macro_f1', float('nan')):.3f}",
                      v["verdict"], "; ".join(v["reasons"] + [f"warning: {w}" for w in v.get("warnings", [])]))
    wide_console(140).print(table)


@registry_app.command("rollback")
@guarded
def registry_rollback(
    name: Name,
    reason: Annotated[str, typer.Option(help="why (recorded in the history and on the version)")],
    to: Annotated[Optional[str], typer.Option(help="version to restore (default: the previous champion)")] = None,
):
    """Point @champion back at an earlier version and record why."""
    from lcml.pipeline.manage import rollback

    old, new = rollback(name, reason, to)
    typer.echo(f"{name}: @champion v{old} -> v{new} ({reason})")


@registry_app.command("history")
@guarded
def registry_history(name: Name, as_json: Json = False):
    """Every promotion, refusal and rollback of NAME, oldest first."""
    from rich.table import Table

    from lcml.pipeline.manage import history

    events = history(name)
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
    wide_console().print(table)


@registry_app.command("compare")
@guarded
def registry_compare(name: str, v1: str, v2: str, as_json: Json = False):
    """Test metrics of two versions side by side, per class."""
    from rich.table import Table

    from lcml.pipeline.manage import compare

    found = compare(name, v1, v2)
    if as_json:
        typer.echo(json.dumps(found, indent=2))
        return
    ra, rb = found["releases"][v1], found["releases"][v2]
    note = "" if ra == rb else f"  (different test sets: {ra} vs {rb})"
    table = Table(title=f"{name}: v{v1} vs v{v2}{note}")
    for col in ("metric", f"v{v1}", f"v{v2}", "delta"):
        table.add_column(col, no_wrap=True)
    fmt = lambda x: "—" if x is None else f"{x:.3f}"  # noqa: E731
    for r in found["metrics"]:
        table.add_row(r["metric"], fmt(r[f"v{v1}"]), fmt(r[f"v{v2}"]), fmt(r["delta"]))
    wide_console().print(table)


@registry_app.command("lineage")
@guarded
def registry_lineage(ref: Ref, as_json: Json = False):
    """What made a version: release, data hashes, code, parameters, packages, search."""
    from lcml.pipeline.manage import lineage

    chain = lineage(ref)
    name, version = chain.pop("name"), chain.pop("version")
    if as_json:
        typer.echo(json.dumps(chain, indent=2, default=str))
        return
    typer.echo(f"{name} v{version}  <-  run {chain['training_run']} ({chain['family']}, study {chain['study']}, "
               f"trial {chain['best_trial']})")
    typer.echo(f"  <-  release {chain['release']}  manifest sha256 {chain['manifest_hash'][:16]}…  "
               f"DVC md5 {chain['data_md5']}")
    typer.echo(f"  <-  code {chain['git_commit'][:12]} (dirty: {chain['git_dirty']})  params {chain['params_hash']} "
               f"(profile {chain['profile']})")
    typer.echo("  packages: " + ", ".join(f"{k} {v}" for k, v in chain["packages"].items()))
    for d in chain["datasets"]:
        typer.echo(f"  dataset input: {d['name']} (digest {d['digest']}) from {d['source']}")


@registry_app.command("card")
@guarded
def registry_card(ref: Ref):
    """Print the model card (markdown) of a version."""
    from lcml.pipeline.manage import card

    typer.echo(card(ref))


@app.command("reproduce")
@guarded
def reproduce(name: str, version: str):
    """Re-run training of NAME VERSION from its recorded release and parameters; report the difference."""
    from lcml.pipeline.manage import reproduce as again

    typer.echo(json.dumps(again(name, version), indent=2))

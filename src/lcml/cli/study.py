"""``lcml study …``: StarWhisper's phase and sampling catalogs, AstroM3's label-fraction study."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from lcml.cli.common import Profile, fail, floats, guarded, study_app

def _study(kind: str, model: str, output: Path, release: Optional[str], split: str, max_loss: float,
           profile: Optional[str], **grid) -> None:
    from lcml.studies import catalogs as studies

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
    _study("phase", model, output, release, split, max_loss, profile, windows=floats(windows), starts=floats(starts))


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
    from lcml.studies.label_fraction import gain_summary, label_fraction_study

    try:
        seed_list = tuple(int(v) for v in seeds.split(","))
    except ValueError:
        fail(f"--seeds: expected comma-separated integers, got {seeds!r}")
    table = label_fraction_study(
        release, fractions=floats(fractions), seeds=seed_list, pretrain_epochs=pretrain_epochs,
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
    _study("sampling", model, output, release, split, max_loss, profile, intervals=floats(intervals))

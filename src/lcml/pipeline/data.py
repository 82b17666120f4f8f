"""A release's training data, read once per task and shared by the families trained in one process."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from lcml.config import FeatureParams, Params, Paths
from lcml.data import release as rel
from lcml.errors import InputError
from lcml.surveys import survey_of


@dataclass(frozen=True)
class TrainingData:
    """What every training step of one release reads.

    Attributes
    ----------
    folder
        The release folder.
    classes
        The survey's taxonomy (the model's output order).
    frames
        ``train``/``val``/``test`` frames of labelled, unquarantined objects.
    params
        The params given, with ``features`` narrowed to the survey (``features.surveys``) and
        ``folded`` from the manifest: what a model trained on this release records. The params given
        are never changed.
    """

    folder: Path
    classes: list[str]
    frames: dict[str, pd.DataFrame]
    params: Params


def training_data(params: Params, paths: Paths, release: str) -> TrainingData:
    """The release's frames and the params its models train with (see :class:`TrainingData`)."""
    folder = rel.release_dir(paths, release)
    if not folder.is_dir():
        raise InputError(f"release {release} not found at {folder} (dvc pull, or build it first)")
    spec = survey_of(release)
    features = release_features(params, folder, release)
    frames = _splits(str(folder), *_version(folder), params.data.split.model_dump_json())
    for split, frame in frames.items():
        if frame.empty:
            raise InputError(f"release {release}: the {split} split is empty")
    return TrainingData(folder, list(spec.taxonomy), dict(frames), params.model_copy(update={"features": features}))


def release_features(params: Params, folder: Path, release: str) -> FeatureParams:
    """The feature settings a model of ``release`` uses: ``features`` narrowed to its survey
    (``features.surveys``), ``folded`` from its manifest."""
    folded = bool(rel.read_manifest(folder).get("folded", False))
    return params.features.for_survey(survey_of(release).name).model_copy(update={"folded": folded})


def _version(folder: Path) -> tuple[int, int]:
    # validation rewrites the quarantine: the cached frames must follow it
    quarantine = folder / rel.QUARANTINE
    return ((folder / rel.LIGHTCURVES).stat().st_mtime_ns,
            quarantine.stat().st_mtime_ns if quarantine.is_file() else 0)


@functools.lru_cache(maxsize=2)
def _splits(folder: str, lightcurves_mtime: int, quarantine_mtime: int, fractions: str) -> dict[str, pd.DataFrame]:
    from lcml.config import SplitParams

    return rel.load_splits(Path(folder), SplitParams.model_validate_json(fractions))

"""Batch scoring of light curves with a registered model (``lcml predict``)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from lcml.errors import InputError


def resolve(model_uri: str) -> tuple[str, str]:
    """``(model_name, version)`` of a ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION`` URI; ``("", "")`` else."""
    from mlflow import MlflowClient

    from lcml.errors import LcmlError
    from lcml.registry.promote import resolve_version

    if not re.fullmatch(r"models:/[^/@]+(@[^/]+|/\d+)", model_uri):
        return "", ""
    try:
        return resolve_version(MlflowClient(), model_uri)
    except LcmlError as exc:
        raise InputError(f"model {model_uri} not found in the registry ({exc})") from None


def score(model_uri: str, source: str | Path, batch_size: int = 256, progress: bool = True) -> pd.DataFrame:
    """Read ``source`` (Parquet, FITS, or folder), score it in batches, tag rows with model name/version."""
    import mlflow
    from mlflow.exceptions import MlflowException
    from tqdm import tqdm

    from lcml.config import Paths
    from lcml.data.inputs import read_input
    from lcml.pipeline import setup_mlflow, use_tracking_uri

    frame = read_input(source)
    paths = Paths.from_env()
    use_tracking_uri(paths)
    name, version = resolve(model_uri)
    if name:
        setup_mlflow(paths, name)
    try:
        model = mlflow.pyfunc.load_model(model_uri, model_config={"model_name": name, "model_version": version})
    except MlflowException as exc:
        raise InputError(f"cannot load model {model_uri}: {exc.message.splitlines()[0]}") from None
    columns = ["object_id", "time", "flux", "flux_err"]
    parts = []
    for start in tqdm(range(0, len(frame), batch_size), desc="scoring", unit="batch", disable=not progress):
        parts.append(model.predict(frame[columns].iloc[start : start + batch_size].reset_index(drop=True)))
    out = pd.concat(parts, ignore_index=True)
    if name:
        out["model_name"], out["model_version"] = name, version
    return out

"""Batch scoring of light curves with a registered model (``lcml predict``)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from lcml.serving.loader import INPUT_COLUMNS, load_named

__all__ = ["score"]


def score(model_uri: str, source: str | Path, batch_size: int = 256, progress: bool = True) -> pd.DataFrame:
    """Read ``source`` (Parquet, FITS, or folder), score it in batches, tag rows with model name/version."""
    from tqdm import tqdm

    from lcml.serving.inputs import read_input

    frame = read_input(source)
    model, name, version = load_named(model_uri)
    parts = []
    for start in tqdm(range(0, len(frame), batch_size), desc="scoring", unit="batch", disable=not progress):
        parts.append(model.predict(frame[INPUT_COLUMNS].iloc[start : start + batch_size].reset_index(drop=True)))
    out = pd.concat(parts, ignore_index=True)
    if name:
        out["model_name"], out["model_version"] = name, version
    return out

"""Batch scoring of light curves with a registered model (``lcml predict``).

:func:`score_to_parquet` streams: it reads the input a batch at a time (:func:`lcml.serving.inputs.iter_input`)
and writes each batch's predictions as one Parquet row group, so memory holds one batch whatever the
input's size. The output appears under its name only once every curve is scored: an input that turns
out bad half-way leaves no partial file behind.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path

import pandas as pd

from lcml.errors import InputError
from lcml.serving.loader import INPUT_COLUMNS, load_named

__all__ = ["Scored", "score", "score_batches", "score_to_parquet"]


@dataclass
class Scored:
    """What a scoring wrote (:func:`score_to_parquet`, :func:`lcml.serving.spark.score_parquet_spark`): curves,
    predicted classes, rows that could not be scored (Spark reports them; locally they stop the run), the model."""

    n_curves: int = 0
    label_counts: Counter = field(default_factory=Counter)
    model_name: str = ""
    model_version: str = ""
    n_errors: int = 0

    def summary(self, output: Path | str, engine: str = "") -> str:
        """The one line ``lcml predict`` prints."""
        where = f" on {engine}" if engine else ""
        errors = f"  ({self.n_errors} rows could not be scored: see their `error` column)" if self.n_errors else ""
        return (f"{self.n_curves} light curves scored with {self.model_name} v{self.model_version}{where} -> "
                f"{output}  {dict(self.label_counts.most_common())}{errors}")


def score_batches(model_uri: str, source: str | Path, batch_size: int = 256,
                  progress: bool = True) -> Iterator[pd.DataFrame]:
    """Predictions for ``source`` (Parquet, FITS, or folder), one DataFrame per batch of ``batch_size`` curves.

    The input is opened and its first batch checked before the model loads, so a bad input fails fast.
    Rows are tagged with the registered model's name and version.
    """
    from tqdm import tqdm

    from lcml.serving.inputs import count_input, iter_input

    batches = iter_input(source, batch_size)
    first = next(batches, None)
    if first is None:
        raise InputError(f"{source}: holds no light curves")
    model, name, version = load_named(model_uri)
    with tqdm(total=count_input(source), desc="scoring", unit="curve", disable=not progress) as bar:
        for frame in chain([first], batches):
            out = model.predict(frame[INPUT_COLUMNS].reset_index(drop=True))
            if name:
                out["model_name"], out["model_version"] = name, version
            bar.update(len(frame))
            yield out


def score(model_uri: str, source: str | Path, batch_size: int = 256, progress: bool = True) -> pd.DataFrame:
    """Every prediction of :func:`score_batches` in one DataFrame (inputs that fit in memory)."""
    return pd.concat(list(score_batches(model_uri, source, batch_size, progress)), ignore_index=True)


def check_output(output: Path) -> None:
    """Refuse an output that could not be written, before any curve is scored (one clear line)."""
    if output.is_dir():
        raise InputError(f"--output {output} is a directory: name the Parquet file to write")
    parent = next((p for p in output.parents if p.exists()), None)
    if parent is not None and (not parent.is_dir() or not os.access(parent, os.W_OK)):
        raise InputError(f"--output {output}: cannot write under {parent}")


def score_to_parquet(model_uri: str, source: str | Path, output: Path, batch_size: int = 256,
                     progress: bool = True) -> Scored:
    """Score ``source`` into the Parquet file ``output``, one row group per batch, in constant memory."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    output = Path(output)
    check_output(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(f".{output.name}.{os.getpid()}.partial")
    summary, writer = Scored(), None
    try:
        for out in score_batches(model_uri, source, batch_size, progress):
            table = pa.Table.from_pandas(out, preserve_index=False)
            if writer is None:  # every batch carries the model's name and version columns
                writer = pq.ParquetWriter(partial, table.schema)
                summary.model_name = str(out["model_name"].iloc[0])
                summary.model_version = str(out["model_version"].iloc[0])
            writer.write_table(table.cast(writer.schema))
            summary.n_curves += len(out)
            summary.label_counts.update(out["label_pred"])
        writer.close()
        os.replace(partial, output)
    except BaseException:
        if writer is not None:
            writer.close()
        partial.unlink(missing_ok=True)
        raise
    return summary

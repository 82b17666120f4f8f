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

import numpy as np
import pandas as pd

from lcml.errors import InputError, first_line
from lcml.serving.inputs import OnError
from lcml.serving.loader import INPUT_COLUMNS, load_named

__all__ = ["Scored", "score", "score_batches", "score_to_parquet"]


@dataclass
class Scored:
    """What a scoring wrote (:func:`score_to_parquet`, :func:`lcml.serving.spark.score_parquet_spark`): curves
    scored, predicted classes, curves or files that could not be scored, the model."""

    n_curves: int = 0
    label_counts: Counter = field(default_factory=Counter)
    model_name: str = ""
    model_version: str = ""
    n_errors: int = 0
    #: the list of what could not be scored, where one was written (local scoring)
    errors_file: Path | None = None

    def summary(self, output: Path | str, engine: str = "") -> str:
        """The one line ``lcml predict`` prints."""
        where = f" on {engine}" if engine else ""
        see = f"{self.errors_file}" if self.errors_file else "their `error` column"
        errors = f"  ({self.n_errors} could not be scored: see {see})" if self.n_errors else ""
        return (f"{self.n_curves} light curves scored with {self.model_name} v{self.model_version}{where} -> "
                f"{output}  {dict(self.label_counts.most_common())}{errors}")


def score_batches(model_uri: str, source: str | Path, batch_size: int = 256, progress: bool = True,
                  on_error: OnError | None = None) -> Iterator[pd.DataFrame]:
    """Predictions for ``source`` (Parquet, FITS, or folder), one DataFrame per batch of ``batch_size`` curves.

    The input is opened and its first batch checked before the model loads, so a bad input fails fast.
    Rows are tagged with the registered model's name and version. ``on_error`` None (strict): the
    first curve that cannot be scored stops the run with an :class:`InputError` naming it. Otherwise
    (reporting, :func:`lcml.serving.inputs.iter_input`) every input curve gets a row, and one that
    cannot be scored (bad input, or a failure inside the model) has null predictions and its reason in
    ``error``; each reason also goes to ``on_error(source, object_id, reason)``.
    """
    from tqdm import tqdm

    from lcml.serving.inputs import count_input, iter_input

    batches = iter_input(source, batch_size, on_error)
    first = next(batches, None)
    if first is None:
        raise InputError(f"{source}: holds no light curves")
    model, name, version = load_named(model_uri)
    with tqdm(total=count_input(source), desc="scoring", unit="curve", disable=not progress) as bar:
        for frame in chain([first], batches):
            out = _predict_rows(model, frame, Path(source), on_error)
            if name:
                out["model_name"], out["model_version"] = name, version
            bar.update(len(frame))
            yield out


def _predict_rows(model, frame: pd.DataFrame, source: Path, on_error: OnError | None) -> pd.DataFrame:
    """The model's predictions for ``frame``'s scorable rows; when reporting, in input order with a
    row (null predictions, the reason in ``error``) for each curve that could not be scored."""
    good = frame["error"].isna().to_numpy() if "error" in frame else np.ones(len(frame), bool)
    curves = frame.loc[good, INPUT_COLUMNS].reset_index(drop=True)
    parts, failed = _isolating(model, curves)
    for row, reason in failed:
        oid = curves["object_id"].iloc[row]
        if on_error is None:
            raise InputError(f"{source}: light curve {oid!r} could not be scored: {reason}")
        on_error(source, oid, reason)
    # nothing scorable here: the model still says which columns it writes
    scored = (pd.concat([p.set_axis(range(start, start + len(p))) for start, p in parts]) if parts
              else model.predict(curves.iloc[:0]))
    if on_error is None:
        return scored.reset_index(drop=True)
    positions = np.flatnonzero(good)
    out = scored.set_axis(positions[scored.index.to_numpy(int)]).reindex(range(len(frame)))
    out["object_id"] = [None if v is None else str(v) for v in frame["object_id"]]
    errors = frame["error"].to_numpy(dtype=object).copy() if "error" in frame else np.full(len(frame), None)
    for row, reason in failed:
        errors[positions[row]] = reason
    out["error"] = errors
    return out


def _isolating(model, curves: pd.DataFrame, start: int = 0) -> tuple[list[tuple[int, pd.DataFrame]],
                                                                     list[tuple[int, str]]]:
    """``model.predict(curves)``; when it raises, the batch is halved until the failing curves are found
    (a few extra calls per bad curve). Returns ``(first row, predictions)`` per scored run of rows and
    ``(row, reason)`` per curve the model could not score."""
    if curves.empty:
        return [], []
    try:
        return [(start, model.predict(curves.reset_index(drop=True)))], []
    except Exception as exc:  # noqa: BLE001 - a curve the model cannot take is found, named and reported
        if len(curves) == 1:
            return [], [(start, f"{type(exc).__name__}: {first_line(exc)}")]
    half = len(curves) // 2
    head, head_failed = _isolating(model, curves.iloc[:half], start)
    tail, tail_failed = _isolating(model, curves.iloc[half:], start + half)
    return head + tail, head_failed + tail_failed


def score(model_uri: str, source: str | Path, batch_size: int = 256, progress: bool = True,
          on_error: OnError | None = None) -> pd.DataFrame:
    """Every prediction of :func:`score_batches` in one DataFrame (inputs that fit in memory)."""
    return pd.concat(list(score_batches(model_uri, source, batch_size, progress, on_error)), ignore_index=True)


def check_output(output: Path) -> None:
    """Refuse an output that could not be written, before any curve is scored (one clear line)."""
    if output.is_dir():
        raise InputError(f"--output {output} is a directory: name the Parquet file to write")
    parent = next((p for p in output.parents if p.exists()), None)
    if parent is not None and (not parent.is_dir() or not os.access(parent, os.W_OK)):
        raise InputError(f"--output {output}: cannot write under {parent}")


def errors_path(output: Path) -> Path:
    """Where :func:`score_to_parquet` lists what it could not score: ``<output stem>.errors.csv`` beside it."""
    return output.with_name(f"{output.stem}.errors.csv")


def score_to_parquet(model_uri: str, source: str | Path, output: Path, batch_size: int = 256,
                     progress: bool = True, strict: bool = False) -> Scored:
    """Score ``source`` into the Parquet file ``output``, one row group per batch, in constant memory.

    Every curve that can be scored is; each one that cannot (a bad curve, an unreadable file of a
    folder, a repeated ``object_id``, a failure inside the model) is listed with its reason in
    :func:`errors_path` (``source, object_id, error``), and a bad curve also gets its output row with
    null predictions and the reason in ``error``. ``strict``: the first such problem stops the run
    instead (:class:`InputError`), and nothing is written. Raises :class:`InputError` when no curve at
    all could be scored.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    output = Path(output)
    check_output(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(f".{output.name}.{os.getpid()}.partial")
    problems: list[tuple[str, str | None, str]] = []

    def on_error(where: Path, oid: str | None, reason: str) -> None:
        problems.append((str(where), None if oid is None else str(oid), reason))

    summary, writer = Scored(), None
    try:
        for out in score_batches(model_uri, source, batch_size, progress, None if strict else on_error):
            if "error" not in out:
                out["error"] = None
            table = pa.Table.from_pandas(out, preserve_index=False)
            if writer is None:  # every batch carries the model's name and version columns
                writer = pq.ParquetWriter(partial, _typed(table.schema))
                summary.model_name = str(out["model_name"].iloc[0])
                summary.model_version = str(out["model_version"].iloc[0])
            writer.write_table(table.cast(writer.schema))
            scored = out["error"].isna()
            summary.n_curves += int(scored.sum())
            summary.label_counts.update(out.loc[scored, "label_pred"])
        writer.close()
        writer = None
        if summary.n_curves == 0:
            raise InputError(f"{source}: holds no light curves")
        os.replace(partial, output)
    except BaseException as exc:
        if writer is not None:
            writer.close()
        partial.unlink(missing_ok=True)
        _write_errors(errors_path(output), problems)  # what was found so far, even when the run stopped
        if isinstance(exc, InputError) and problems and summary.n_curves == 0:
            raise InputError(f"{source}: no light curve could be scored ({len(problems)} problem"
                             f"{'s' if len(problems) != 1 else ''}, "
                             f"listed in {errors_path(output)}); the first: {_line(problems[0])}") from None
        raise
    summary.n_errors = len(problems)
    summary.errors_file = _write_errors(errors_path(output), problems)
    return summary


def _line(problem: tuple[str, str | None, str]) -> str:
    where, oid, reason = problem
    return reason if oid is None else f"{where}: light curve {oid!r} {reason}"


def _typed(schema):
    """``schema`` with a type for columns that were all null in the first batch (every curve of it bad)."""
    import pyarrow as pa

    fields = [f.with_type(pa.string() if f.name in ("object_id", "label_pred", "error", "model_name", "model_version")
                          else pa.float64()) if pa.types.is_null(f.type) else f for f in schema]
    return pa.schema(fields, metadata=schema.metadata)


def _write_errors(path: Path, problems: list[tuple[str, str | None, str]]) -> Path | None:
    """The errors file, or none at all (a stale one from an earlier run is removed)."""
    if not problems:
        path.unlink(missing_ok=True)
        return None
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    pd.DataFrame(problems, columns=["source", "object_id", "error"]).to_csv(partial, index=False)
    os.replace(partial, path)
    return path

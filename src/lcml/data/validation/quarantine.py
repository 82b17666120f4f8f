"""Objects and their quarantine: which rows of which tables make one object, and the rows left out.

An object is its id across the light-curve, spectra and metadata tables (a row without an id is an
object of its own); it is quarantined when any of its rows fails a suite, with every reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from lcml.data.validation import suites
from lcml.errors import LcmlError

Key = tuple[str, Any]


def object_key(oid: Any, table: str, row: int) -> tuple[str, Any]:
    # An object is its id; a row without one is an object of its own (it cannot be matched to anything).
    return ("id", oid) if oid is not None else (table, row)


def failed_objects(tables: dict[str, pd.Series | None], outcomes: dict) -> tuple[set[Key], dict[Key, dict[str, list[str]]]]:
    """Every object of every table, and the failed ones with their reasons per modality.

    ``tables`` maps a modality to its ``object_id`` column (``None`` when the release lacks it);
    ``outcomes`` maps a modality to its :class:`~lcml.data.validation.validate.SuiteOutcome`.
    """
    ingested: set[Key] = set()
    failed: dict[Key, dict[str, list[str]]] = {}
    for modality, ids in tables.items():
        if ids is None:
            continue
        keys = [object_key(oid, modality, i) for i, oid in enumerate(ids)]
        ingested.update(keys)
        for idx, reasons in outcomes[modality].bad.items():
            bucket = failed.setdefault(keys[idx], {}).setdefault(modality, [])
            bucket += [r for r in reasons if r not in bucket]
    return ingested, failed


def write_quarantine(
    path: Path,
    parts: Iterable[pa.Table],
    schema: pa.Schema,
    bad_rows: list[int],
    lc_keys: list[Key],
    lc_bad: dict[int, list[str]],
    failed: dict[Key, dict[str, list[str]]],
) -> None:
    """Write the quarantine to ``path`` a part at a time: the light-curve rows of failed objects (``parts``:
    the rows at ``bad_rows``, in order), then objects without a light curve (null light-curve columns).

    Each row has ``reasons`` (its own light-curve reasons, then its object's spectra and metadata
    reasons) and ``modalities`` (which suites failed the object).
    """
    others = [m for m in suites.MODALITIES if m != suites.LIGHTCURVES]

    def row_reasons(own: list[str], key: Key) -> tuple[list[str], list[str]]:
        found = failed[key]
        reasons = list(own) + [r for m in others for r in found.get(m, [])]
        modalities = [m for m in suites.MODALITIES
                      if (own if m == suites.LIGHTCURVES else m in found)]
        return reasons, modalities

    # the release schema marks object_id non-nullable; quarantine keeps id-less rows too
    lc_schema = pa.schema([f.with_nullable(True) for f in schema])
    out_schema = lc_schema.append(pa.field("reasons", pa.list_(pa.string()))) \
                          .append(pa.field("modalities", pa.list_(pa.string())))

    def with_reasons(part: pa.Table, rows: list[tuple[list[str], list[str]]]) -> pa.Table:
        return part.cast(lc_schema).append_column("reasons", pa.array([r for r, _ in rows], pa.list_(pa.string()))) \
                                   .append_column("modalities", pa.array([m for _, m in rows], pa.list_(pa.string())))

    lc_set = set(lc_keys)
    orphans = sorted((k for k in failed if k not in lc_set), key=lambda k: (k[0], str(k[1])))
    done = 0
    with pq.ParquetWriter(path, out_schema, compression="zstd") as writer:
        for part in parts:
            rows = bad_rows[done:done + part.num_rows]
            done += part.num_rows
            writer.write_table(with_reasons(part, [row_reasons(lc_bad.get(i, []), lc_keys[i]) for i in rows]))
        if done != len(bad_rows):
            raise LcmlError(f"quarantine: {done} light-curve rows read back for {len(bad_rows)} failed rows")
        if orphans:
            nulls = {f.name: pa.nulls(len(orphans), f.type) for f in lc_schema}
            nulls["object_id"] = pa.array([k[1] if k[0] == "id" else None for k in orphans], type=pa.string())
            writer.write_table(with_reasons(pa.table(nulls, schema=lc_schema), [row_reasons([], k) for k in orphans]))


@dataclass
class Sorted:
    """Objects sorted into accepted and quarantined (see :func:`sort_objects`)."""

    lc_keys: list[Key]
    failed: dict[Key, dict[str, list[str]]]
    n_objects: int
    bad_rows: list[int]
    accepted_rows: list[int]
    quarantine: Path  #: the quarantine written (under a temporary name until the report is written)

    def invariant(self, rid: str) -> str:
        """``n_objects == n_accepted + n_objects_quarantined``, checked; ``LcmlError`` when a row was lost."""
        n_accepted = len({self.lc_keys[i] for i in self.accepted_rows})
        text = f"n_objects {self.n_objects} == n_accepted {n_accepted} + n_objects_quarantined {len(self.failed)}"
        if self.n_objects != n_accepted + len(self.failed):
            raise LcmlError(f"validation of {rid} lost track of objects: {text} does not hold")
        return text


def sort_objects(rows: Callable[[list[int]], Iterable[pa.Table]], schema: pa.Schema, out: Path, lc_ids: pd.Series,
                 spectra: pd.DataFrame | None, objects: pd.DataFrame | None, outcomes: dict) -> Sorted:
    """Every row of every table belongs to one object; an object fails when any of its rows fails.

    The quarantine is written to ``out`` from ``rows(positions)`` (the light-curve rows at those
    positions, a part at a time; ``schema``: theirs). Accepted rows are then found the way the loader
    finds them (light-curve ids absent from the written quarantine), not from the bookkeeping, so a
    slip in either shows up in the caller's invariant.
    """
    tables = {suites.LIGHTCURVES: lc_ids, suites.SPECTRA: spectra["object_id"] if spectra is not None else None,
              suites.METADATA: objects["object_id"] if objects is not None else None}
    ingested, failed = failed_objects(tables, outcomes)
    lc_keys = [object_key(oid, suites.LIGHTCURVES, i) for i, oid in enumerate(lc_ids)]
    bad_rows = [i for i, k in enumerate(lc_keys) if k in failed]
    write_quarantine(out, rows(bad_rows), schema, bad_rows, lc_keys, outcomes[suites.LIGHTCURVES].bad, failed)
    quarantined = {oid for oid in pq.read_table(out, columns=["object_id"]).column("object_id").to_pylist()
                   if oid is not None}
    accepted_rows = [i for i, oid in enumerate(lc_ids) if oid is not None and oid not in quarantined]
    return Sorted(lc_keys, failed, len(ingested), bad_rows, accepted_rows, out)

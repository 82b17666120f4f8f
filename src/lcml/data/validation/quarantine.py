"""Objects and their quarantine: which rows of which tables make one object, and the rows left out.

An object is its id across the light-curve, spectra and metadata tables (a row without an id is an
object of its own); it is quarantined when any of its rows fails a suite, with every reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa

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


def quarantine_table(
    table: pa.Table,
    bad_rows: list[int],
    lc_keys: list[Key],
    lc_bad: dict[int, list[str]],
    failed: dict[Key, dict[str, list[str]]],
) -> pa.Table:
    """Light-curve rows of failed objects, then objects without a light curve (null light-curve columns).

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

    rows = [row_reasons(lc_bad.get(i, []), lc_keys[i]) for i in bad_rows]
    lc_part = table.take(pa.array(bad_rows, type=pa.int64()))
    lc_set = set(lc_keys)
    orphans = sorted((k for k in failed if k not in lc_set), key=lambda k: (k[0], str(k[1])))
    orphan_rows = [row_reasons([], k) for k in orphans]
    if orphans:
        nulls = {name: pa.nulls(len(orphans), lc_part.schema.field(name).type) for name in lc_part.column_names}
        nulls["object_id"] = pa.array([k[1] if k[0] == "id" else None for k in orphans], type=pa.string())
        # the release schema marks object_id non-nullable; quarantine keeps id-less rows too
        schema = pa.schema([f.with_nullable(True) for f in lc_part.schema])
        lc_part = pa.concat_tables([lc_part.cast(schema), pa.table(nulls, schema=schema)])
    everything = rows + orphan_rows
    return lc_part.append_column("reasons", pa.array([r for r, _ in everything], type=pa.list_(pa.string()))) \
                  .append_column("modalities", pa.array([m for _, m in everything], type=pa.list_(pa.string())))


@dataclass
class Sorted:
    """Objects sorted into accepted and quarantined (see :func:`sort_objects`)."""

    lc_keys: list[Key]
    failed: dict[Key, dict[str, list[str]]]
    n_objects: int
    bad_rows: list[int]
    accepted_rows: list[int]
    quarantine: pa.Table

    def invariant(self, rid: str) -> str:
        """``n_objects == n_accepted + n_objects_quarantined``, checked; ``LcmlError`` when a row was lost."""
        n_accepted = len({self.lc_keys[i] for i in self.accepted_rows})
        text = f"n_objects {self.n_objects} == n_accepted {n_accepted} + n_objects_quarantined {len(self.failed)}"
        if self.n_objects != n_accepted + len(self.failed):
            raise LcmlError(f"validation of {rid} lost track of objects: {text} does not hold")
        return text


def sort_objects(table: pa.Table, lc_ids: pd.Series, spectra: pd.DataFrame | None, objects: pd.DataFrame | None,
                 outcomes: dict) -> Sorted:
    """Every row of every table belongs to one object; an object fails when any of its rows fails.

    Accepted rows are found the way the loader finds them (light-curve ids absent from the quarantine
    table), not from the bookkeeping, so a slip in either shows up in the caller's invariant.
    """
    tables = {suites.LIGHTCURVES: lc_ids, suites.SPECTRA: spectra["object_id"] if spectra is not None else None,
              suites.METADATA: objects["object_id"] if objects is not None else None}
    ingested, failed = failed_objects(tables, outcomes)
    lc_keys = [object_key(oid, suites.LIGHTCURVES, i) for i, oid in enumerate(lc_ids)]
    bad_rows = [i for i, k in enumerate(lc_keys) if k in failed]
    quarantine = quarantine_table(table, bad_rows, lc_keys, outcomes[suites.LIGHTCURVES].bad, failed)
    quarantined = {oid for oid in quarantine.column("object_id").to_pylist() if oid is not None}
    accepted_rows = [i for i, oid in enumerate(lc_ids) if oid is not None and oid not in quarantined]
    return Sorted(lc_keys, failed, len(ingested), bad_rows, accepted_rows, quarantine)

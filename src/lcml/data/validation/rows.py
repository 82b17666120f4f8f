"""Per-row facts of light curves that the suites check, and repeated timestamps merged at ingest."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from lcml.data.validation import suites


# The pure function lives with the light-curve facts that use it; ingest code imports it from here.
merge_duplicate_times = suites.merge_duplicate_times


def merge_duplicate_times_table(table: pa.Table) -> tuple[pa.Table, list[int]]:
    """Apply :func:`merge_duplicate_times` to every curve of a light-curve table.

    Merging changes the data, so it belongs at ingest, before :func:`lcml.data.release.write_release`
    (releases are immutable and validation never rewrites ``lightcurves.parquet``). Rows whose
    lengths differ or that have no repeated time are returned unchanged.

    Returns
    -------
    table : pyarrow.Table
        Same schema as ``table``.
    n_merged : list of int
        Points removed per row (record them, e.g. as ``objects.n_merged_points``).
    """
    times, fluxes, errors, n_merged = [], [], [], []
    for t, f, e in zip(*(table.column(c).to_pylist() for c in ("time", "flux", "flux_err"))):
        try:
            t2, f2, e2, n = merge_duplicate_times(t, f, e)
        except ValueError:  # ragged: validation reports it; nothing to merge
            t2, f2, e2, n = t, f, e, 0
        times.append(t2 if n else t)
        fluxes.append(f2 if n else f)
        errors.append(e2 if n else e)
        n_merged.append(n)
    if not any(n_merged):
        return table, n_merged
    schema = table.schema
    columns = {name: table.column(name) for name in table.column_names}
    for name, values in (("time", times), ("flux", fluxes), ("flux_err", errors)):
        kind = schema.field(name).type
        columns[name] = pa.array([None if v is None else np.asarray(v).tolist() for v in values], type=kind)
    return pa.table(columns, schema=schema), n_merged


def row_checks(frame: pd.DataFrame, *, merge_duplicates: bool = False) -> pd.DataFrame:
    """Per-row facts about the light-curve list columns (see :func:`lcml.data.validation.suites.lightcurve_facts`)."""
    return suites.lightcurve_facts(frame, merge_duplicates=merge_duplicates)

"""The metadata suite (``objects.parquet``): required columns, one row per object, numeric columns finite
and within sane ranges; reasons start with ``"metadata: "`` (see :mod:`lcml.data.validation.suites`)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from lcml.data.validation.suites import Check, _checks, _gx, _note

#: Bounds for apparent magnitudes: brighter than -5 or fainter than 30 is a unit or sentinel error.
MAGNITUDE_RANGE: tuple[float, float] = (-5.0, 30.0)
#: Sane ranges of well-known ``objects.parquet`` columns; ``None`` leaves a side open. Parallax in mas:
#: Gaia's noisy solutions go slightly negative, but nothing lies beyond Proxima Cen's 768 mas.
DEFAULT_METADATA_RANGES: dict[str, tuple[float | None, float | None]] = {
    "parallax": (-100.0, 1000.0),
    "ra": (0.0, 360.0),
    "dec": (-90.0, 90.0),
    "l": (0.0, 360.0),
    "b": (-90.0, 90.0),
    "period": (0.0, 1.0e5),  # days; exclusive at 0 (see metadata_suite)
    "amplitude": (0.0, None),
    "ruwe": (0.0, None),
    "pm": (0.0, None),
}

Range = tuple[float | None, float | None]


def magnitude_column(name: str) -> bool:
    # kepmag, vmag, mean_vmag, phot_g_mean_mag, j_mag, w1_mag, ref_mag ...; not e_j_mag (an error)
    return bool(re.search(r"mag$", name)) and not name.startswith("e_")


def _error_column(name: str) -> bool:
    # parallax_over_error is a signal-to-noise ratio, negative with a negative parallax: not an error
    return name.startswith("e_") or (name.endswith("_error") and not name.endswith("_over_error"))


def metadata_ranges(columns: Iterable[str], overrides: Mapping[str, Range | None] | None = None) -> dict[str, Range]:
    """Range checked for each of ``columns``: defaults by name, then ``overrides`` (``None`` removes one).

    Defaults: :data:`DEFAULT_METADATA_RANGES`; magnitudes (names ending in ``mag``, not ``e_*``)
    :data:`MAGNITUDE_RANGE`; uncertainties (``e_*``, ``*_error``) non-negative.
    """
    columns = list(columns)
    ranges: dict[str, Range] = {}
    for name in columns:
        if name in DEFAULT_METADATA_RANGES:
            ranges[name] = DEFAULT_METADATA_RANGES[name]
        elif magnitude_column(name):
            ranges[name] = MAGNITUDE_RANGE
        elif _error_column(name):
            ranges[name] = (0.0, None)
    for name, bounds in (overrides or {}).items():
        if bounds is None:
            ranges.pop(name, None)
        elif name in columns:
            ranges[name] = bounds
    return {k: v for k, v in ranges.items() if v != (None, None)}


def numeric_columns(frame: pd.DataFrame) -> list[str]:
    """Numeric (not boolean) columns of ``frame`` other than ``object_id``, in table order."""
    types = pd.api.types
    return [c for c in frame.columns
            if c != "object_id" and types.is_numeric_dtype(frame[c]) and not types.is_bool_dtype(frame[c])]


def metadata_suite(
    columns: Iterable[str],
    numeric: Iterable[str],
    *,
    required: Iterable[str] = (),
    ranges: Mapping[str, Range] | None = None,
) -> list[Check]:
    """Checks of ``objects.parquet`` (facts from :func:`metadata_facts`).

    Parameters
    ----------
    columns
        Columns present in ``objects.parquet``.
    numeric
        Its numeric columns: each must be finite or null.
    required
        Columns that must exist and be non-null for every object. A missing column fails every object.
    ranges
        ``{column: (min, max)}`` for numeric columns (see :func:`metadata_ranges`); null passes.
    """
    e = _gx()
    present, numeric = set(columns), list(numeric)
    checks = _checks([
        (e.ExpectColumnValuesToNotBeNull(column="object_id"), "metadata: missing object_id"),
        (e.ExpectColumnValuesToBeUnique(column="object_id"), "metadata: duplicate object_id"),
        (e.ExpectColumnValuesToBeInSet(column="object_known", value_set=[True]),
         "metadata: object_id has no light curve in the release"),
    ])
    for name in required:
        if name == "object_id":
            continue
        if name not in present:
            reason = f"metadata: required column {name} absent"
            checks.append(Check(_note(e.ExpectColumnToExist(column=name), reason), reason, table_level=True))
        else:
            checks += _checks([(e.ExpectColumnValuesToNotBeNull(column=name), f"metadata: {name} missing")])
    for name in numeric:
        checks += _checks([(e.ExpectColumnValuesToBeInSet(column=f"finite({name})", value_set=[True]),
                            f"metadata: {name} not finite")])
    for name, (lo, hi) in (ranges or {}).items():
        if name not in numeric:  # a range on a text column would make GX raise; finiteness covers numbers only
            continue
        bounds = f"{'-inf' if lo is None else f'{lo:g}'}..{'inf' if hi is None else f'{hi:g}'}"
        strict = name == "period"  # a period of exactly 0 is a catalog placeholder, not a star
        checks += _checks([(e.ExpectColumnValuesToBeBetween(column=name, min_value=lo, max_value=hi, strict_min=strict),
                            f"metadata: {name} outside {bounds}")])
    return checks


def metadata_facts(frame: pd.DataFrame, known_ids: set[str], numeric: Iterable[str],
                   required: Iterable[str] = ()) -> pd.DataFrame:
    """``objects.parquet`` as GX checks it: ``object_id``, ``object_known``, the required columns, the
    numeric columns with infinities made null (so an infinite value is reported once, as not finite)
    and ``finite(<col>)`` per numeric column. Other columns stay out: GX need not profile them."""
    keep = ["object_id"] + [c for c in dict.fromkeys([*required, *numeric]) if c in frame.columns and c != "object_id"]
    out = frame[keep].copy()
    out.insert(1, "object_known", frame["object_id"].map(lambda oid: oid in known_ids))
    for name in numeric:
        values = pd.to_numeric(frame[name], errors="coerce").astype(float)
        out[f"finite({name})"] = values.isna() | np.isfinite(values)
        out[name] = values.where(np.isfinite(values))
    return out

"""MAST catalogs: the missions (from :data:`lcml.surveys.SURVEYS`), target names and a catalog CSV read."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from lcml.errors import InputError
from lcml.surveys import Mission, missions

#: Same id columns, in the same order of preference, as :func:`lcml.data.ingest.read_labels`.
ID_COLUMNS = ("object_id", "kic", "epic", "tic", "id")
#: MAST missions by survey name, from :data:`lcml.surveys.SURVEYS`. Defaults: long cadence for
#: Kepler/K2 (30 min; short cadence repeats the same times) and SPOC's 2-min light curves for TESS
#: (the 20-s ones overlap them).
MISSIONS: dict[str, Mission] = missions()


def _mission(mission: str) -> Mission:
    try:
        return MISSIONS[str(mission).lower()]
    except KeyError:
        raise InputError(f"unknown mission {mission!r}; known: {', '.join(MISSIONS)}") from None


def target_name(mission: str, raw_id: str | int) -> str:
    """Normalised target name, e.g. ``target_name("kepler", "kplr010002792") == "KIC 10002792"``.

    Raises
    ------
    InputError
        The id is not a number with (optionally) one of the mission's prefixes.
    """
    m = _mission(mission)
    match = re.fullmatch(r"\s*([A-Za-z]*)[\s_-]*0*(\d+)\s*", str(raw_id))
    if not match or (match.group(1) and match.group(1).lower() not in m.aliases):
        raise InputError(f"{raw_id!r} is not a {m.name} target id (a number, optionally prefixed "
                         f"{m.prefix} or {m.aliases[1]})")
    return f"{m.prefix} {int(match.group(2))}"


def read_catalog(path: str | Path, mission: str) -> dict[str, str | None]:
    """Catalog CSV → ``{target name: label or None}`` in catalog order (columns in the module docstring).

    Raises
    ------
    InputError
        Missing or unreadable file, no id column, an id column of another mission, an id that is not a
        target id of ``mission``, one target with two different labels, or no target at all.
    """
    m = _mission(mission)
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: catalog file not found")
    try:
        frame = pd.read_csv(path, dtype=str, comment="#", skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a readable CSV file ({exc})") from None
    columns = {str(c).lower().strip(): c for c in frame.columns}
    id_key = next((c for c in ID_COLUMNS if c in columns), None)
    if id_key is None:
        raise InputError(f"{path}: needs an id column ({', '.join(ID_COLUMNS)}); "
                         f"found {', '.join(map(str, frame.columns))}")
    # A KIC number is not an EPIC or TIC number: fetching it under another mission downloads another star.
    other = {mm.id_column: key for key, mm in MISSIONS.items() if mm is not m}
    if id_key in other:
        raise InputError(f"{path}: column {columns[id_key]!r} holds {other[id_key]} ids, but the mission is {mission}; "
                         f"{mission} catalogs use a {m.id_column!r} (or object_id / id) column")
    ids = frame[columns[id_key]]
    labels = frame[columns["label"]] if "label" in columns else pd.Series([None] * len(frame), index=frame.index)
    result: dict[str, str | None] = {}
    bad, conflicts = [], []
    for row, (raw, label) in enumerate(zip(ids, labels), start=2):  # row 1 is the header
        if pd.isna(raw) or not str(raw).strip():
            continue
        try:
            name = target_name(mission, raw)
        except InputError:
            bad.append(f"row {row}: {raw!r}")
            continue
        label = None if pd.isna(label) or not str(label).strip() else str(label).strip()
        if name in result and label is not None and result[name] is not None and result[name] != label:
            conflicts.append(f"{name} ({result[name]} / {label})")
        elif result.get(name) is None:
            result[name] = label
    if bad:
        raise InputError(f"{path}: {len(bad)} ids are not {m.name} target ids: {', '.join(bad[:5])}"
                         + (" ..." if len(bad) > 5 else ""))
    if conflicts:
        raise InputError(f"{path}: targets with two different labels: {', '.join(conflicts[:5])}"
                         + (" ..." if len(conflicts) > 5 else ""))
    if not result:
        raise InputError(f"{path}: catalog names no target")
    return result

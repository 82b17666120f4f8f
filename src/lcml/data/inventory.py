"""What releases exist, how two differ, and why objects were quarantined or rejected."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from lcml.config import Paths
from lcml.data import release as rel
from lcml.errors import InputError


def list_releases(paths: Paths, survey: str | None = None) -> list[dict[str, Any]]:
    """Every release under ``data/releases`` (oldest first per survey), from its manifest."""
    rows = []
    root = paths.releases
    surveys = [root / survey] if survey else sorted(p for p in root.glob("*") if p.is_dir())
    for survey_dir in surveys:
        for folder in sorted(p for p in survey_dir.glob("*") if p.is_dir() and not p.name.endswith(".tmp")):
            try:
                m = rel.read_manifest(folder)
            except InputError:
                continue  # not a release (a stray folder); say nothing rather than guess
            validation = m.get("validation") or {}
            accounting = m.get("accounting") or {}
            rows.append({
                "release": m["release_id"], "created": m.get("created", ""), "n_objects": m.get("n_objects", 0),
                "n_classes": len([c for c in m.get("class_counts", {}) if c != "<unlabeled>"]),
                "validated": ("passed" if validation.get("passed") else "FAILED") if validation else "not yet",
                "n_quarantined": accounting.get("n_quarantined", validation.get("n_objects_quarantined")),
                "n_rejected_at_ingest": (m.get("ingest") or {}).get("n_rejected", 0),
                "folded": bool(m.get("folded", False)),
                "source": m.get("source", ""),
            })
    return sorted(rows, key=lambda r: (r["release"].split("/")[0], r["created"], r["release"]))


def previous_release(paths: Paths, rid: str) -> str | None:
    """The newest other release of the same survey created before ``rid`` (drift reference)."""
    survey = rid.split("/")[0]
    mine = rel.read_manifest(rel.release_dir(paths, rid)).get("created", "")
    earlier = [r for r in list_releases(paths, survey) if r["release"] != rid and r["created"] <= mine]
    return earlier[-1]["release"] if earlier else None


def _labels(paths: Paths, rid: str) -> pd.Series:
    folder = rel.release_dir(paths, rid)
    if not (folder / rel.LIGHTCURVES).is_file():
        raise InputError(f"release {rid} not found at {folder}")
    table = pq.read_table(folder / rel.LIGHTCURVES, columns=["object_id", "label"]).to_pandas()
    return table.drop_duplicates("object_id").set_index("object_id")["label"].fillna("<unlabeled>")


def diff_releases(paths: Paths, a: str, b: str) -> dict[str, Any]:
    """Objects added, removed and relabelled from release ``a`` to ``b``, and per-class counts."""
    la, lb = _labels(paths, a), _labels(paths, b)
    common = la.index.intersection(lb.index)
    changed = common[(la.loc[common] != lb.loc[common]).to_numpy()]
    classes = sorted(set(la) | set(lb))
    ca, cb = la.value_counts(), lb.value_counts()
    return {
        "a": a, "b": b,
        "n_a": len(la), "n_b": len(lb),
        "added": sorted(lb.index.difference(la.index)),
        "removed": sorted(la.index.difference(lb.index)),
        "relabelled": [{"object_id": i, "from": la[i], "to": lb[i]} for i in sorted(changed)],
        "class_counts": {c: {"a": int(ca.get(c, 0)), "b": int(cb.get(c, 0)),
                             "change": int(cb.get(c, 0)) - int(ca.get(c, 0))} for c in classes},
    }


def quarantine_report(paths: Paths, rid: str) -> pd.DataFrame:
    """One row per object left out of release ``rid``: ``object_id``, ``stage``, ``source``, ``reasons``.

    ``stage`` is ``ingest`` (the reader could not read it; ``rejected.parquet``) or ``validation``
    (a Great Expectations check failed; ``quarantine.parquet``). ``source`` names the input file(s)
    when the release knows them (``objects.parquet`` column ``file`` or ``files``; several files of one
    id are joined with ``"; "``), else the file holding the row (``quarantine.parquet``).
    """
    folder = rel.release_dir(paths, rid)
    rel.read_manifest(folder)  # a clear error for a missing release
    frames = []
    if (folder / rel.REJECTED).is_file():
        rejected = pd.read_parquet(folder / rel.REJECTED)
        frames.append(pd.DataFrame({"object_id": rejected["object_id"], "stage": "ingest",
                                    "source": rejected["source"], "reasons": rejected["reason"]}))
    if (folder / rel.QUARANTINE).is_file():
        quarantined = pq.read_table(folder / rel.QUARANTINE).to_pandas()
        if len(quarantined):
            reasons = quarantined["reasons"].map(lambda r: "; ".join(r) if not isinstance(r, str) else r)
            files = _input_files(folder)
            source = quarantined["object_id"].map(lambda oid: files.get(oid, rel.QUARANTINE))
            frames.append(pd.DataFrame({"object_id": quarantined["object_id"], "stage": "validation",
                                        "source": source, "reasons": reasons}))
    if not frames:
        return pd.DataFrame(columns=["object_id", "stage", "source", "reasons"])
    return pd.concat(frames, ignore_index=True)


def _input_files(folder) -> dict[str, str]:
    """``{object_id: input file(s)}`` from ``objects.parquet`` (readers that record files), else empty."""
    path = folder / rel.OBJECTS
    if not path.is_file():
        return {}
    column = next((c for c in ("file", "files") if c in pq.read_schema(path).names), None)
    if column is None:
        return {}
    frame = pq.read_table(path, columns=["object_id", column]).to_pandas().dropna()
    return {str(oid): "; ".join(dict.fromkeys(group[column].astype(str)))
            for oid, group in frame.groupby("object_id", sort=False)}

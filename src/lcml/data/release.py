"""Releases: immutable, versioned datasets in the canonical format, split by object id, tracked by DVC.

A release lives in ``data/releases/<survey>/<version>/``:

- ``lightcurves.parquet`` (see :data:`lcml.data.schema.LIGHTCURVE_SCHEMA`), every ingested row;
- ``objects.parquet`` (optional per-object metadata), ``spectra.parquet`` (optional, multimodal);
- ``rejected.parquet`` (inputs the reader could not ingest, each with its reason);
- ``quarantine.parquet`` (rows rejected by validation, each with its reasons);
- ``manifest.json`` (survey, version, source, counts, sha256 of each file, validation summary).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from lcml.config import Paths, SplitParams
from lcml.data.schema import LIGHTCURVE_SCHEMA, SCHEMA_VERSION
from lcml.errors import InputError, LcmlError

LIGHTCURVES = "lightcurves.parquet"
OBJECTS = "objects.parquet"
QUARANTINE = "quarantine.parquet"
SPECTRA = "spectra.parquet"
REJECTED = "rejected.parquet"
MANIFEST = "manifest.json"
SPLITS = ("train", "val", "test")


def release_id(survey: str, version: str) -> str:
    return f"{survey}/{version}"


def release_dir(paths: Paths, rid: str) -> Path:
    """Folder of release ``<survey>/<version>``."""
    survey, _, version = rid.partition("/")
    if not survey or not version or "/" in version or ".." in rid:
        raise InputError(f"release id must look like <survey>/<version>, got {rid!r}")
    return paths.releases / survey / version


def split_of(object_id: str, fractions: SplitParams) -> str:
    """Deterministic split of one object: a star keeps its split when later releases add stars."""
    bucket = int.from_bytes(hashlib.sha256(object_id.encode()).digest()[:8], "big") / 2**64
    if bucket < fractions.train:
        return "train"
    if bucket < fractions.train + fractions.val:
        return "val"
    return "test"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_release(
    paths: Paths,
    rid: str,
    lightcurves: pa.Table | Iterable[pa.Table | pa.RecordBatch],
    *,
    source: str,
    objects: pd.DataFrame | None = None,
    conversion: str | None = None,
    spectra: pd.DataFrame | None = None,
    rejected: pd.DataFrame | None = None,
    folded: bool = False,
) -> Path:
    """Write a new release; an existing one is never overwritten (releases are immutable).

    Parameters
    ----------
    lightcurves
        Table with the canonical columns, or an iterable of such tables / record batches, written one
        after the other so a release larger than memory streams through; extra columns are rejected so
        nothing is silently lost.
    source
        Human-readable origin (e.g. ``simulate(seed=42, n=1200)`` or an input path).
    conversion
        How the flux was derived (e.g. magnitudes to relative flux), recorded in the manifest.
    spectra
        One spectrum per object (``object_id``, ``wavelength``, ``flux``, ``ivar``): ``spectra.parquet``.
    rejected
        Inputs the reader could not ingest (``object_id``, ``source``, ``reason``): ``rejected.parquet``;
        they count in the release's accounting (``n_input == accepted + quarantined + rejected``).
    folded
        Pre-folded curves (``time`` is phase in [0, 1)); features skip folding, validation counts bins.
    """
    folder = release_dir(paths, rid)
    if folder.exists():
        raise LcmlError(f"release {rid} already exists at {folder}; releases are immutable")
    batches = [lightcurves] if isinstance(lightcurves, (pa.Table, pa.RecordBatch)) else lightcurves
    tmp = folder.with_name(folder.name + ".tmp")
    if tmp.exists():  # left by a build that was killed: nothing in it was ever a release
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        n_rows, counts = _write_lightcurves(tmp / LIGHTCURVES, batches, rid)
        if objects is not None:
            objects.to_parquet(tmp / OBJECTS, index=False)
        if spectra is not None and len(spectra):
            spectra.to_parquet(tmp / SPECTRA, index=False)
        rejected = rejected if rejected is not None else pd.DataFrame(columns=["object_id", "source", "reason"])
        if len(rejected):
            # text columns; a reader that could not tell the object (unreadable file) leaves a null id
            rejected.map(lambda v: None if v is None or v != v else str(v)).to_parquet(tmp / REJECTED, index=False)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    manifest = {
        "release_id": rid,
        "survey": rid.split("/")[0],
        "version": rid.split("/")[1],
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "source": source,
        "schema_version": SCHEMA_VERSION,
        "flux_conversion": conversion or "none (flux given as relative flux)",
        "folded": bool(folded),
        "n_objects": n_rows,
        "class_counts": dict(sorted(counts.items())),
        "ingest": {
            "n_input": n_rows + len(rejected),
            "n_ingested": n_rows,
            "n_rejected": len(rejected),
            "rejected_reasons": _reason_counts(rejected["reason"]) if len(rejected) else {},
        },
        "files": {p.name: sha256_file(p) for p in sorted(tmp.glob("*.parquet"))},
    }
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    tmp.rename(folder)  # appears whole or not at all
    return folder


def _write_lightcurves(path: Path, batches, rid: str) -> tuple[int, Counter]:
    """Stream the light-curve tables into one Parquet file; the row count and the objects per label."""
    counts: Counter = Counter()
    n_rows = 0
    with pq.ParquetWriter(path, LIGHTCURVE_SCHEMA, compression="zstd") as writer:
        for batch in batches:
            missing = set(LIGHTCURVE_SCHEMA.names) - set(batch.schema.names)
            extra = set(batch.schema.names) - set(LIGHTCURVE_SCHEMA.names)
            if missing or extra:
                raise InputError(f"release {rid}: columns missing {sorted(missing)}, unexpected {sorted(extra)}")
            table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
            table = table.select(LIGHTCURVE_SCHEMA.names).cast(LIGHTCURVE_SCHEMA)
            writer.write_table(table)
            n_rows += table.num_rows
            counts.update(x if x is not None else "<unlabeled>" for x in table.column("label").to_pylist())
    return n_rows, counts


def _reason_counts(reasons: Iterable[str]) -> dict[str, int]:
    # one reason per kind: drop the object/file-specific part before the first colon when it names a path
    return dict(Counter(str(r).split(": ", 1)[-1][:120] for r in reasons).most_common(20))


def read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    if not path.is_file():
        raise InputError(f"{folder}: not a release (no {MANIFEST})")
    return json.loads(path.read_text())


def update_manifest(folder: Path, **sections: Any) -> dict[str, Any]:
    """Add sections (e.g. ``validation``) and refresh file hashes after validation wrote its outputs."""
    manifest = read_manifest(folder)
    manifest.update(sections)
    manifest["files"] = {p.name: sha256_file(p) for p in sorted(folder.glob("*.parquet"))}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def manifest_hash(folder: Path) -> str:
    return sha256_file(folder / MANIFEST)


def quarantined_ids(folder: Path) -> set[str]:
    path = folder / QUARANTINE
    if not path.is_file():
        return set()
    return set(pq.read_table(path, columns=["object_id"]).column("object_id").to_pylist())


#: light-curve rows a streaming reader of a release holds at once (~100 MB of one-quarter Kepler curves)
SCAN_ROWS = 1000


def scan_release(folder: Path, columns: list[str] | None = None, *, usable_only: bool = False,
                 batch_rows: int | None = None) -> Iterator[pd.DataFrame]:
    """A release's light-curve rows, ``batch_rows`` (:data:`SCAN_ROWS`) at a time, in file order (list
    columns as NumPy arrays).

    Each frame's index is the row's position in ``lightcurves.parquet``, so per-row results of several
    batches line up with the whole file. ``usable_only``: quarantined rows left out (as
    :func:`load_release` leaves them). Memory holds one batch, however big the release.
    """
    path = folder / LIGHTCURVES
    if not path.is_file():
        raise InputError(f"{folder}: release has no {LIGHTCURVES}")
    skip = quarantined_ids(folder) if usable_only else set()
    offset = 0
    # pre_buffer=False: the read-ahead cache would keep every row group read (see lcml.serving.inputs)
    handle = pq.ParquetFile(path, pre_buffer=False)
    for batch in handle.iter_batches(batch_size=batch_rows or SCAN_ROWS, columns=columns):
        frame = batch.to_pandas()
        frame.index = pd.RangeIndex(offset, offset + len(frame))
        offset += len(frame)
        if skip:
            frame = frame.loc[~frame["object_id"].isin(skip)]
        yield frame


def take_rows(folder: Path, rows: list[int], batch_rows: int | None = None) -> Iterator[pa.Table]:
    """The light-curve rows at positions ``rows`` (ascending) of a release, as tables of at most
    ``batch_rows`` rows' worth of one pass over the file (what a quarantine of any size is written from)."""
    if any(b <= a for a, b in zip(rows, rows[1:])):
        raise ValueError("take_rows needs ascending, distinct row positions")
    wanted, at, offset = rows, 0, 0
    handle = pq.ParquetFile(folder / LIGHTCURVES, pre_buffer=False)
    for batch in handle.iter_batches(batch_size=batch_rows or SCAN_ROWS):
        end = offset + batch.num_rows
        stop = at
        while stop < len(wanted) and wanted[stop] < end:
            stop += 1
        if stop > at:
            yield pa.Table.from_batches([batch]).take(pa.array([r - offset for r in wanted[at:stop]], type=pa.int64()))
        at, offset = stop, end


def load_release(
    folder: Path,
    split: str | None = None,
    fractions: SplitParams | None = None,
    *,
    labelled_only: bool = True,
) -> pd.DataFrame:
    """Load the usable rows of a release as a DataFrame (list columns become NumPy arrays).

    Rows in quarantine are left out (they are listed with reasons in ``quarantine.parquet``).
    With ``split`` given, only that split's objects are returned.
    """
    if split is not None and split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if split is not None and fractions is None:
        raise ValueError("fractions are needed to select a split")
    frame = _usable(folder, labelled_only)
    if split is not None:
        frame = frame.loc[frame["object_id"].map(lambda oid: split_of(oid, fractions)) == split]
    return frame.reset_index(drop=True)


def load_splits(folder: Path, fractions: SplitParams) -> dict[str, pd.DataFrame]:
    """Every split of a release's labelled usable rows, from one read of its light curves.

    Equal, split by split, to :func:`load_release` with that split (same rows, same order).
    """
    frame = _usable(folder, labelled_only=True)
    which = frame["object_id"].map(lambda oid: split_of(oid, fractions))
    return {s: frame.loc[which == s].reset_index(drop=True) for s in SPLITS}


def _usable(folder: Path, labelled_only: bool) -> pd.DataFrame:
    path = folder / LIGHTCURVES
    if not path.is_file():
        raise InputError(f"{folder}: release has no {LIGHTCURVES}")
    frame = pq.read_table(path).to_pandas()
    keep = ~frame["object_id"].isin(quarantined_ids(folder))
    if labelled_only:
        keep &= frame["label"].notna()
    return frame.loc[keep]


# ---------------------------------------------------------------- DVC


def _dvc(paths: Paths, *args: str) -> str:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "dvc", *args],
        cwd=paths.project,
        env=env,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise LcmlError(f"dvc {' '.join(args)} failed: {detail[-1] if detail else proc.returncode}")
    return proc.stdout


def _in_git_repo(path: Path) -> bool:
    proc = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=path, capture_output=True, text=True)
    return proc.returncode == 0 and Path(proc.stdout.strip()).resolve() == path.resolve()


def publish(paths: Paths) -> str:
    """Track ``data/`` with DVC (``data.dvc``) and push it to the remote; return the DVC md5 of ``data/``.

    The remote is configured in ``.dvc/config.local`` (never committed) from ``LCML_DVC_REMOTE`` or the
    local state folder, so the same project pushes to a folder here and to object storage on servers.
    """
    if not (paths.project / ".dvc").is_dir():
        _dvc(paths, "init", *([] if _in_git_repo(paths.project) else ["--no-scm"]))
    remote = paths.dvc_remote
    if "://" not in remote:
        Path(remote).mkdir(parents=True, exist_ok=True)
    _dvc(paths, "remote", "add", "--local", "--force", "lcml", remote)
    _dvc(paths, "add", "data")
    _dvc(paths, "push", "-r", "lcml")
    return data_md5(paths)


def data_md5(paths: Paths) -> str:
    """The md5 that ``data.dvc`` records for ``data/`` ("" when ``data/`` is not tracked yet)."""
    path = paths.project / "data.dvc"
    if not path.is_file():
        return ""
    outs = (yaml.safe_load(path.read_text()) or {}).get("outs") or [{}]
    return str(outs[0].get("md5", ""))

"""The fetch cache: one flat folder per mission, its ``index.json``, file checks and the lock (see :mod:`lcml.data.fetch`)."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import warnings
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path

from lcml.errors import InputError, LcmlError
from lcml.data.mast.catalog import _mission

INDEX_NAME = "index.json"
INDEX_FORMAT = 1
PARTIAL_DIR = ".partial"


def mission_folder(cache: str | Path, mission: str) -> Path:
    """``<cache>/<mission>``: the cached FITS files and ``index.json``."""
    _mission(mission)
    return Path(cache) / str(mission).lower()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def load_index(cache: str | Path, mission: str) -> dict:
    """The cache index of ``mission`` (an empty one when the cache has none yet).

    Raises
    ------
    InputError
        ``index.json`` is not a format-1 index of this mission (it is never overwritten then).
    """
    path = mission_folder(cache, mission) / INDEX_NAME
    if not path.exists():
        return {"format": INDEX_FORMAT, "mission": str(mission).lower(), "targets": {}}
    try:
        index = json.loads(path.read_text())
        ok = (isinstance(index, dict) and index.get("format") == INDEX_FORMAT
              and isinstance(index.get("targets"), dict) and index.get("mission", mission) == str(mission).lower())
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: unreadable cache index ({exc}); move it aside to rebuild the cache") from None
    if not ok:
        raise InputError(f"{path}: not a format-{INDEX_FORMAT} {mission} cache index; "
                         "move it aside to rebuild the cache")
    return index


def _write_index(folder: Path, index: dict) -> None:
    """Replace ``index.json`` atomically: readers see the old or the new index, never half of one."""
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".index-", suffix=".json", dir=folder)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(index, handle, indent=1, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, folder / INDEX_NAME)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _file_entries(entry: Mapping) -> list[tuple[str, int | None]]:
    out = []
    for item in entry.get("files") or []:
        if isinstance(item, str):
            out.append((item, None))
        elif isinstance(item, Mapping) and item.get("name"):
            out.append((str(item["name"]), item.get("bytes")))
    return out


def check_fits(path: Path, expected_bytes: int | None = None, target: str | None = None) -> str | None:
    """Why ``path`` is not a usable cached light curve, or ``None`` when it is.

    Checks the recorded size, that astropy opens every HDU without a truncation or header warning,
    that the light-curve extension has a ``TIME`` column and rows, and (when the header says) that the
    file belongs to ``target``. Cheaper than a full lightkurve read, and catches the damage a broken
    download leaves (short or garbled files).
    """
    from astropy.io import fits

    if not path.is_file():
        return f"{path.name} is missing"
    if expected_bytes is not None and path.stat().st_size != int(expected_bytes):
        return f"{path.name} has {path.stat().st_size} bytes, {expected_bytes} were downloaded"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # astropy only *warns* about truncated files
            with fits.open(path, memmap=False) as hdus:
                ext = hdus["LIGHTCURVE"] if "LIGHTCURVE" in hdus else hdus[1]
                data = ext.data
                if data is None or len(data) == 0 or "TIME" not in data.columns.names:
                    return f"{path.name} has no light-curve table"
                found = hdus[0].header.get("KEPLERID") or hdus[0].header.get("TICID")
    except Exception as exc:  # astropy raises OSError, ValueError, KeyError, warnings... for damaged files
        return f"{path.name} is damaged ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
    if target and found and str(int(found)) != target.split()[-1]:
        return f"{path.name} belongs to star {int(found)}, not {target}"
    return None


def _cache_problem(folder: Path, target: str, entry: Mapping | None, query: Mapping) -> str | None:
    """Why ``target`` is not usable from the cache (``None``: it is)."""
    if entry is None:
        return "not in the cache"
    if entry.get("status") != "complete":
        return f"cache status {entry.get('status')!r}" + (f" ({entry['error']})" if entry.get("error") else "")
    if entry.get("query") is not None and dict(entry["query"]) != dict(query):
        return f"cached with other search settings {entry['query']}"
    files = _file_entries(entry)
    if not files:
        return "cache entry lists no files"
    for name, size in files:
        problem = check_fits(folder / name, size, target)
        if problem:
            return problem
    return None


def cached_files(cache: str | Path, mission: str, targets: Sequence[str] | None = None, *,
                 verify: bool = True) -> list[Path]:
    """The FITS files of the complete targets in the cache (of ``targets`` only, when given).

    With ``verify`` a target whose files are missing or damaged contributes no file at all, so a
    folder built from the list never holds half a target.
    """
    folder = mission_folder(cache, mission)
    entries = load_index(cache, mission)["targets"]
    names = entries if targets is None else [t for t in targets if t in entries]
    files: list[Path] = []
    for name in names:
        entry = entries[name]
        if entry.get("status") != "complete":
            continue
        listed = [folder / f for f, _ in _file_entries(entry)]
        if verify and any(check_fits(folder / f, size, name) for f, size in _file_entries(entry)):
            continue
        files += [p for p in listed if p.exists()]
    return sorted(set(files))


def materialise(cache: str | Path, mission: str, dest: str | Path, targets: Sequence[str] | None = None) -> Path:
    """A folder of symbolic links to the cached files of ``targets`` (default: all complete ones).

    ``dest`` is a ``--source`` for ``lcml data release``. Links it made earlier are replaced; a real
    file there is never touched.

    Raises
    ------
    InputError
        ``dest`` holds real FITS files (not links) or no cached file matches.
    """
    from lcml.surveys import FITS_SUFFIXES

    dest = Path(dest)
    files = cached_files(cache, mission, targets)
    if not files:
        raise InputError(f"{mission_folder(cache, mission)}: no complete cached target to link"
                         + (f" among {len(targets)} targets" if targets is not None else ""))
    dest.mkdir(parents=True, exist_ok=True)
    real = [p.name for p in dest.iterdir() if p.name.lower().endswith(FITS_SUFFIXES) and not p.is_symlink()]
    if real:
        raise InputError(f"{dest}: holds FITS files that are not cache links ({', '.join(real[:3])}); "
                         "use an empty folder")
    for link in dest.iterdir():
        if link.is_symlink():
            link.unlink()
    for path in files:
        (dest / path.name).symlink_to(path.resolve())
    return dest


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Hold ``folder/.lock`` so two fetches never write one index (the OS drops it if we die)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: run unlocked
        yield
        return
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise LcmlError(f"{folder}: another lcml data fetch is using this cache; wait for it to finish") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)

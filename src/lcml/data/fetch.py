"""Download the mission light curves of a catalog of stars from MAST into a resumable local cache.

``lcml data fetch kepler --catalog CSV`` calls :func:`fetch_catalog`; the folder it fills is a ready
``--source`` for ``lcml data release kepler --source <cache>/kepler --labels CSV``.

Catalog
-------
A CSV with an id column and, optionally, a ``label`` column (the same columns that
:func:`lcml.data.ingest.read_labels` reads). The id column is the first of ``object_id, kic, epic, tic,
id`` present; ids are numbers, optionally with the mission's prefix (``10002792``, ``KIC 10002792``,
``kplr010002792``; ``EPIC``/``ktwo`` for K2, ``TIC``/``tess`` for TESS). A ``kic``/``epic``/``tic``
column must match the mission. One id given two different labels is an error; empty labels leave
the star unlabelled. Other columns (``campaign``, ...) are ignored.

Cache layout
------------
::

    <cache>/<mission>/                  mission = kepler | k2 | tess
        kplr010002792-2009259160929_llc.fits   the mission's own file names, all targets side by side
        ...
        index.json                       target → files, label, status, error (see below)
        .partial/KIC_10002792/           downloads in progress (lightkurve's mastDownload/ tree)
        .lock                            held while a fetch runs (two fetches never share a cache)

The folder is flat because :func:`~lcml.data.sources.kepler.read_fits_folder` reads only the files
directly in its folder and groups them by target itself; ``index.json`` and the hidden entries are not
FITS files, so the reader ignores them. :func:`materialise` links a chosen subset (e.g. one catalog's
complete targets) into another folder.

``index.json`` (format 1) is rewritten atomically (temporary file + rename) after every target, so
an interrupted fetch leaves a valid index and resumes where it stopped::

    {"format": 1, "mission": "kepler",
     "targets": {"KIC 10002792": {
         "id": "10002792", "label": "RR",
         "status": "complete",            # complete | partial | failed | no_data
         "files": [{"name": "kplr010002792-2009259160929_llc.fits", "bytes": 466560}, ...],
         "query": {"author": "Kepler", "exptime": "long"},
         "error": null, "updated": "2025-01-01T00:00:00+00:00"}}}

``files`` entries may also be bare file names (size then not checked), and ``query`` may be absent
(files placed by hand: accepted whatever the search settings), so a cache can be seeded by hand.

Resuming
--------
A target is *cached* when its entry is ``complete``, was searched with the same author and exposure
time, and every file still exists, has its recorded size and opens as a light-curve FITS file of that
star. Cached targets are skipped without any network call. ``no_data`` targets (MAST had no light
curve for the same search) are reported as failures and not asked again unless ``retry_failed``.
Everything else — ``partial`` (interrupted), ``failed`` (a download error), a damaged or missing file,
a target new to the index — is fetched again.

Offline
-------
Only when some target must be fetched, MAST's reachability is checked once (an HTTP ``HEAD`` of
``$LCML_MAST_URL``, default ``https://mast.stsci.edu``, bounded by ``timeout`` seconds including name
resolution). If MAST does not answer, :class:`MastUnreachable` is raised before anything is written:
it names how many targets are missing and the cache folder; cached files and the index stay as they
were. A catalog whose targets are all cached fetches with no network at all. If MAST stops answering
in the middle of a fetch, the same error is raised after the current target is recorded as failed.
``LCML_MAST_URL`` redirects only this check: lightkurve/astroquery download from astroquery's own
server setting (``astroquery.mast.conf``), which they read at import.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from lcml.errors import InputError, LcmlError

#: Environment variable with the URL whose answer means "MAST is reachable".
MAST_URL_ENV = "LCML_MAST_URL"
DEFAULT_MAST_URL = "https://mast.stsci.edu"
INDEX_NAME = "index.json"
INDEX_FORMAT = 1
PARTIAL_DIR = ".partial"
#: Same id columns, in the same order of preference, as :func:`lcml.data.ingest.read_labels`.
ID_COLUMNS = ("object_id", "kic", "epic", "tic", "id")
STATUSES = ("complete", "partial", "failed", "no_data")


@dataclass(frozen=True)
class Mission:
    """How one mission names its stars and which light curves a fetch takes by default."""

    name: str  #: lightkurve's ``mission`` argument
    prefix: str  #: target name prefix, as in the FITS ``OBJECT`` header (``KIC 10002792``)
    id_column: str  #: the catalog column that holds this mission's ids
    aliases: tuple[str, ...]  #: prefixes accepted in id values (lower case)
    author: str  #: default ``author``: the mission's own pipeline (PDCSAP/SAP columns read_fits expects)
    exptime: str  #: default ``exptime``: one cadence, so stitched segments never overlap in time


#: Defaults: long cadence for Kepler/K2 (30 min; short cadence repeats the same times) and SPOC's
#: 2-min light curves for TESS (the 20-s ones overlap them).
MISSIONS: dict[str, Mission] = {
    "kepler": Mission("Kepler", "KIC", "kic", ("kic", "kplr"), "Kepler", "long"),
    "k2": Mission("K2", "EPIC", "epic", ("epic", "ktwo"), "K2", "long"),
    "tess": Mission("TESS", "TIC", "tic", ("tic", "tess"), "SPOC", "short"),
}


class MastUnreachable(LcmlError):
    """Targets are missing from the cache and MAST does not answer; nothing cached was changed."""


@dataclass
class FetchReport:
    """What :func:`fetch_catalog` did.

    Attributes
    ----------
    mission
        ``kepler``, ``k2`` or ``tess``.
    folder
        The mission's cache folder (``<cache>/<mission>``): a ``--source`` for ``lcml data release``.
    catalog
        The catalog CSV.
    targets
        Target names handled, in catalog order (after ``limit``).
    n_cached, n_downloaded, n_failed
        Targets already in the cache, downloaded now, and without files (this run's errors plus
        ``no_data`` targets not asked again); they add up to ``n_targets``.
    failures
        ``(target, reason)`` for each failed target.
    labels
        Target name → label for the labelled targets, ready for ``read_fits_folder(folder, labels=...)``.
    files
        The cached FITS files of the complete targets (in ``folder``).
    """

    mission: str
    folder: Path
    catalog: Path
    targets: list[str]
    n_cached: int = 0
    n_downloaded: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)

    @property
    def n_targets(self) -> int:
        return len(self.targets)

    @property
    def n_failed(self) -> int:
        return len(self.failures)

    @property
    def ok(self) -> bool:
        """``True`` when every target has its files."""
        return not self.failures

    def summary(self) -> str:
        """A few lines for the CLI: counts, failures (first 10), where the files are, what to run next."""
        lines = [
            f"{self.mission}: {self.n_targets} targets from {self.catalog.name}: {self.n_cached} cached, "
            f"{self.n_downloaded} downloaded, {self.n_failed} failed; {len(self.files)} FITS files in {self.folder}",
        ]
        lines += [f"  failed {target}: {reason}" for target, reason in self.failures[:10]]
        if self.n_failed > 10:
            lines.append(f"  ... and {self.n_failed - 10} more (see {self.folder / INDEX_NAME})")
        if self.files:
            lines.append(f"next: lcml data release {self.mission} --source {self.folder} --labels {self.catalog}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """JSON-ready form (paths as strings)."""
        return {
            "mission": self.mission, "folder": str(self.folder), "catalog": str(self.catalog),
            "n_targets": self.n_targets, "n_cached": self.n_cached, "n_downloaded": self.n_downloaded,
            "n_failed": self.n_failed, "failures": [list(f) for f in self.failures],
            "labels": dict(self.labels), "files": [str(p) for p in self.files],
        }


# --------------------------------------------------------------------------------------------- catalog


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


# --------------------------------------------------------------------------------------------- index


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
    from lcml.data.inputs import FITS_SUFFIXES

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


# --------------------------------------------------------------------------------------------- network


def mast_url() -> str:
    """The URL probed for reachability: ``$LCML_MAST_URL`` or ``https://mast.stsci.edu``."""
    return os.environ.get(MAST_URL_ENV) or DEFAULT_MAST_URL


def mast_reachable(url: str | None = None, timeout: float = 5.0) -> tuple[bool, str]:
    """Whether ``url`` (default :func:`mast_url`) answers an HTTP ``HEAD`` within ``timeout`` seconds.

    Any answer below 500 counts (MAST's front page redirects); 5xx means MAST is down for maintenance.
    The request runs in a daemon thread so the bound also covers name resolution, which
    ``requests``' own timeout does not.

    Returns
    -------
    (bool, str)
        Reachable, and a short reason when not.
    """
    import requests

    url = url or mast_url()
    outcome: list[tuple[bool, str]] = []

    def probe() -> None:
        try:
            response = requests.head(url, timeout=timeout, allow_redirects=False)
            outcome.append((response.status_code < 500, f"HTTP {response.status_code}"))
        except Exception as exc:  # any failure to get an answer means "unreachable"
            outcome.append((False, _short_reason(exc)))

    thread = threading.Thread(target=probe, name="lcml-mast-probe", daemon=True)
    thread.start()
    thread.join(timeout + 0.5)
    if not outcome:
        return False, f"no answer within {timeout:g} s"
    return outcome[0]


def _short_reason(exc: BaseException) -> str:
    """``ConnectionError: [Errno 111] Connection refused`` rather than requests' three nested reprs."""
    text = str(exc)
    found = re.findall(r"\[Errno -?\d+\] [^'\")\]]+", text)
    return f"{type(exc).__name__}: {found[-1].strip() if found else text[:200]}"


def _unreachable(folder: Path, missing: Mapping[str, str], n_targets: int, reason: str, *,
                 during: bool = False) -> MastUnreachable:
    """The one error for "targets missing and MAST not answering", naming the first few and why."""
    shown = "; ".join(f"{t}: {why}" for t, why in list(missing.items())[:5]) + (" ..." if len(missing) > 5 else "")
    when = "stopped answering during the fetch" if during else "is unreachable"
    return MastUnreachable(
        f"{len(missing)} of {n_targets} catalog targets are not in the cache and MAST ({mast_url()}) {when} "
        f"({reason}). Cached files and the index in {folder} are kept; run the fetch again when MAST can be "
        f"reached (set {MAST_URL_ENV} if you reach MAST another way). Missing: {shown}"
    )


def search_query(mission: str, author: str | None = None, exptime: str | float | None = None) -> dict:
    """The search settings recorded per target: the mission defaults filled in (see :data:`MISSIONS`)."""
    m = _mission(mission)
    if exptime is None:
        exptime = m.exptime
    elif isinstance(exptime, str) and exptime.strip().lower() in ("long", "short", "fast", "any"):
        exptime = exptime.strip().lower()
    else:
        # lightkurve silently ignores an exposure time it does not know (e.g. the string "1800" from
        # a command line), which would download every cadence: accept only numbers and its words.
        try:
            exptime = float(exptime)
        except (TypeError, ValueError):
            raise InputError(f"exptime must be long, short, fast, any or seconds, not {exptime!r}") from None
        if not exptime > 0:
            raise InputError(f"exptime must be a positive number of seconds, not {exptime:g}")
    return {"author": m.author if author is None else str(author), "exptime": exptime}


def _download(name: str, m: Mission, query: Mapping, folder: Path) -> tuple[list[tuple[str, int]] | None, str]:
    """Search MAST and download ``name``'s light curves into ``folder``.

    Returns ``(None, reason)`` when MAST has no light curve, else the files moved into ``folder``.
    Exceptions (network, MAST, damaged download) propagate to the caller, which records them.
    """
    import lightkurve as lk

    staging = folder / PARTIAL_DIR / name.replace(" ", "_")
    # lightkurve reuses any file already at its download path; a download cut off last time must not
    # count as present, so drop staged files that do not open.
    for old in staging.rglob("*.fits*") if staging.exists() else []:
        if check_fits(old):
            old.unlink()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lightkurve warns per file about flagged cadences etc.
        result = lk.search_lightcurve(name, mission=m.name, author=query["author"], exptime=query["exptime"])
        if len(result) == 0:
            return None, (f"MAST has no {m.name} light curve for {name} "
                          f"(author {query['author']!r}, exptime {query['exptime']!r})")
        result.download_all(download_dir=str(staging))
    wanted = [str(n) for n in result.table["productFilename"]]
    found = {p.name: p for p in staging.rglob("*") if p.is_file()}
    lost = [n for n in wanted if n not in found]
    if lost:
        raise LcmlError(f"download finished without {', '.join(lost[:3])}")
    for n in wanted:
        problem = check_fits(found[n], target=name)
        if problem:
            raise LcmlError(f"downloaded {problem}")
    files = []
    for n in wanted:
        size = found[n].stat().st_size
        os.replace(found[n], folder / n)  # same file system: the file appears whole or not at all
        files.append((n, size))
    shutil.rmtree(staging, ignore_errors=True)
    return files, ""


# --------------------------------------------------------------------------------------------- fetch


def fetch_catalog(
    mission: str,
    catalog: str | Path,
    cache: str | Path,
    *,
    limit: int | None = None,
    author: str | None = None,
    exptime: str | float | None = None,
    timeout: float = 5.0,
    retry_failed: bool = False,
    progress: Callable[[str], None] | None = None,
) -> FetchReport:
    """Download the light curves of every star in ``catalog`` into ``cache``, resuming earlier fetches.

    Layout, index, resume rules and offline behaviour are in the module docstring. Targets are
    handled in catalog order: those already cached first (no network), then the rest one at a time,
    the index rewritten after each. A target MAST has no data for, or whose download fails, is
    recorded in the index with the reason and reported; it does not stop the others.

    Parameters
    ----------
    mission
        ``kepler``, ``k2`` or ``tess``.
    catalog
        CSV of target ids and (optional) labels; see :func:`read_catalog`.
    cache
        Cache root; files go to ``<cache>/<mission>/``.
    limit
        Only the first ``limit`` targets of the catalog.
    author
        lightkurve ``author`` (MAST ``provenance_name``); ``None`` → the mission pipeline (``Kepler``,
        ``K2``, ``SPOC``), ``"any"`` → all authors.
    exptime
        lightkurve ``exptime`` (``"long"``, ``"short"``, ``"fast"`` or seconds); ``None`` → ``"long"``
        for Kepler/K2 and ``"short"`` (2 min) for TESS, ``"any"`` → every cadence. Mixing cadences of
        one star gives repeated times that release validation rejects.
    timeout
        Seconds the MAST reachability check may take. Transfers use astroquery's own timeout.
    retry_failed
        Ask MAST again about targets it earlier had no data for.
    progress
        Called with one line per target (e.g. ``print``).

    Returns
    -------
    FetchReport

    Raises
    ------
    InputError
        Unknown mission, bad catalog, bad ``limit``, unreadable index.
    MastUnreachable
        Some target is not cached and MAST does not answer (before or during the fetch).
    LcmlError
        Another fetch holds the cache, or the cache folder cannot be written.
    """
    m = _mission(mission)
    mission = str(mission).lower()
    catalog = Path(catalog)
    if limit is not None and int(limit) < 1:
        raise InputError(f"limit must be a positive number of targets, not {limit}")
    entries = read_catalog(catalog, mission)
    names = list(entries)[: int(limit)] if limit is not None else list(entries)
    query = search_query(mission, author, exptime)
    folder = mission_folder(cache, mission)
    say = progress or (lambda line: None)
    report = FetchReport(mission, folder, catalog, names,
                         labels={n: entries[n] for n in names if entries[n] is not None})
    total = len(names)

    with _locked(folder):
        index = load_index(cache, mission)
        targets: dict = index["targets"]
        missing: dict[str, str] = {}
        changed = False
        for i, name in enumerate(names, start=1):
            entry = targets.get(name)
            if entry is not None and entry.get("label") != entries[name]:
                entry["label"] = entries[name]  # the catalog is the authority on labels
                changed = True
            problem = _cache_problem(folder, name, entry, query)
            if problem is None:
                report.n_cached += 1
                say(f"[{i}/{total}] {name}: cached ({len(_file_entries(entry))} files)")
            elif (entry is not None and entry.get("status") == "no_data" and not retry_failed
                  and dict(entry.get("query") or {}) == query):
                report.failures.append((name, entry.get("error") or "no data at MAST"))
                say(f"[{i}/{total}] {name}: no data at MAST (recorded {entry.get('updated', '')}; not asked again)")
            else:
                missing[name] = problem

        if missing:
            reachable, reason = mast_reachable(timeout=timeout)
            if not reachable:
                raise _unreachable(folder, missing, total, reason)
        if changed:
            _write_index(folder, index)

        for i, name in enumerate(missing, start=1):
            old = targets.get(name) or {}
            entry = {"id": name.split()[-1], "label": entries[name], "status": "partial", "files": old.get("files", []),
                     "query": query, "error": None, "updated": _now()}
            targets[name] = entry
            _write_index(folder, index)  # "partial" first: an interrupted download is retried
            say(f"[{i}/{len(missing)} to fetch] {name}: downloading ({missing[name]})")
            try:
                files, why = _download(name, m, query, folder)
            except Exception as exc:  # any failure of one target is recorded, then the next one goes on
                if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EDQUOT):
                    entry.update(status="failed", error=f"{type(exc).__name__}: {exc}", updated=_now())
                    _write_index(folder, index)
                    raise LcmlError(f"{folder}: cannot write the cache ({exc})") from None
                reason = _short_reason(exc)
                entry.update(status="failed", error=reason, updated=_now())
                _write_index(folder, index)
                report.failures.append((name, reason))
                say(f"    {name}: failed ({reason})")
                reachable, probe_reason = mast_reachable(timeout=timeout)
                if not reachable:  # the rest would fail the same way, each after a long network timeout
                    rest = dict(list(missing.items())[i - 1:])
                    raise _unreachable(folder, rest, total, probe_reason, during=True) from None
                continue
            # Files of an earlier search that this one replaced would otherwise stay in the flat folder
            # and slip into releases built from it.
            keep = {n for n, _ in files or []}
            others = {f for t, e in targets.items() if t != name for f, _ in _file_entries(e)}
            for stale, _ in _file_entries(old):
                if stale not in keep and stale not in others:
                    with contextlib.suppress(OSError):
                        (folder / stale).unlink()
            if files is None:
                entry.update(status="no_data", files=[], error=why, updated=_now())
                report.failures.append((name, why))
                say(f"    {name}: {why}")
            else:
                entry.update(status="complete", files=[{"name": n, "bytes": b} for n, b in files], updated=_now())
                report.n_downloaded += 1
                say(f"    {name}: downloaded {len(files)} files")
            _write_index(folder, index)

    report.files = cached_files(cache, mission, names, verify=False)  # just verified or just downloaded
    return report

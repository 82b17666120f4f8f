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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lcml.data.mast.cache import (  # noqa: F401 - the cache's public names, read through this module too
    INDEX_FORMAT, INDEX_NAME, PARTIAL_DIR, _cache_problem, _file_entries, _locked, _now, _write_index, cached_files,
    check_fits, load_index, materialise, mission_folder,
)
from lcml.data.mast.catalog import ID_COLUMNS, MISSIONS, _mission, read_catalog, target_name  # noqa: F401
from lcml.data.mast.network import (  # noqa: F401
    DEFAULT_MAST_URL, MAST_URL_ENV, MastUnreachable, _download, _short_reason, _unreachable, mast_reachable,
    mast_url, search_query,
)
from lcml.errors import InputError, LcmlError
from lcml.surveys import Mission


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
        missing, relabelled = _sort_targets(index, names, entries, folder, query, retry_failed, report, say)
        if missing:
            reachable, reason = mast_reachable(timeout=timeout)
            if not reachable:
                raise _unreachable(folder, missing, total, reason)
        if relabelled:
            _write_index(folder, index)
        for i, name in enumerate(missing, start=1):
            say(f"[{i}/{len(missing)} to fetch] {name}: downloading ({missing[name]})")
            if _fetch_one(name, entries[name], m, query, folder, index, report, say):
                continue
            reachable, probe_reason = mast_reachable(timeout=timeout)
            if not reachable:  # the rest would fail the same way, each after a long network timeout
                rest = dict(list(missing.items())[i - 1:])
                raise _unreachable(folder, rest, total, probe_reason, during=True) from None

    report.files = cached_files(cache, mission, names, verify=False)  # just verified or just downloaded
    return report


def _sort_targets(index: dict, names: list[str], entries: Mapping[str, str | None], folder: Path, query: dict,
                  retry_failed: bool, report: FetchReport, say: Callable[[str], None]) -> tuple[dict[str, str], bool]:
    """Targets to download, with why (cached ones and recorded no-data ones are reported, not fetched),
    and whether a label changed.

    The catalog is the authority on labels: a cached target whose label changed is relabelled in the
    index (the caller writes it).
    """
    targets: dict = index["targets"]
    missing: dict[str, str] = {}
    changed = False
    total = len(names)
    for i, name in enumerate(names, start=1):
        entry = targets.get(name)
        if entry is not None and entry.get("label") != entries[name]:
            entry["label"] = entries[name]
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
    return missing, changed


def _fetch_one(name: str, label: str | None, m: Mission, query: dict, folder: Path, index: dict,
               report: FetchReport, say: Callable[[str], None]) -> bool:
    """Download one target, recording it in the index before (``partial``) and after; ``False`` if it failed.

    A full disk or a read-only cache stops the fetch (``LcmlError``); any other failure of one target is
    recorded and the caller goes on.
    """
    targets: dict = index["targets"]
    old = targets.get(name) or {}
    entry = {"id": name.split()[-1], "label": label, "status": "partial", "files": old.get("files", []),
             "query": query, "error": None, "updated": _now()}
    targets[name] = entry
    _write_index(folder, index)  # "partial" first: an interrupted download is retried
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
        return False
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
    return True

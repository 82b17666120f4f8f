"""MAST over the network: is it reachable, what to search, one target's download (see :mod:`lcml.data.fetch`)."""

from __future__ import annotations

import os
import re
import shutil
import threading
import warnings
from collections.abc import Mapping
from pathlib import Path

from lcml.errors import InputError, LcmlError
from lcml.data.mast.cache import PARTIAL_DIR, check_fits
from lcml.data.mast.catalog import Mission, _mission

#: Environment variable with the URL whose answer means "MAST is reachable".
MAST_URL_ENV = "LCML_MAST_URL"
DEFAULT_MAST_URL = "https://mast.stsci.edu"


class MastUnreachable(LcmlError):
    """Targets are missing from the cache and MAST does not answer; nothing cached was changed."""


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

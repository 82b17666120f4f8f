"""Kepler / K2 / TESS mission light-curve FITS files, read with lightkurve."""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from lcml.data.sources import Ingested, check_accounted, counted, lightcurve_table, rejected_frame
from lcml.errors import InputError


def _plain(column) -> np.ndarray:
    """Float array with masked entries as NaN (lightkurve columns are masked Quantities)."""
    values = getattr(column, "value", column)
    data = np.asarray(getattr(values, "unmasked", values), dtype=float)
    mask = getattr(values, "mask", None)
    return np.where(np.asarray(mask, bool), np.nan, data) if mask is not None else data


#: lightkurve's advice appended to every read error; it says nothing about this file.
_LK_BOILERPLATE = re.compile(r"\s*This file may be corrupt due to an interrupted download\..*$", re.S)


def _one_line(exc: BaseException) -> str:
    """An exception as one line, without lightkurve's generic advice."""
    text = _LK_BOILERPLATE.sub("", str(exc))
    return " ".join(text.split()) or type(exc).__name__


def _diagnose_fits(path: Path) -> str | None:
    """Why lightkurve could not read ``path``, in one line, when astropy can tell; else ``None``.

    Distinguishes an empty file, a file that is not FITS at all, a truncated file (shorter than its
    headers declare) and a FITS file without a light-curve table (e.g. only a primary image).
    """
    from astropy.io import fits

    try:
        size = path.stat().st_size
    except OSError as exc:
        return f"cannot read the file: {exc.strerror or exc}"
    if size == 0:
        return "empty file, 0 bytes"
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with fits.open(path, memmap=False, lazy_load_hdus=False) as hdus:
                layout = [_describe_hdu(h) for h in hdus]
                has_table = any(isinstance(h, (fits.BinTableHDU, fits.TableHDU)) for h in hdus)
    except Exception as exc:  # astropy's own words: "No SIMPLE card found", "Empty or corrupt FITS file"
        detail = str(exc).split(". If this is really a FITS file")[0]
        return f"not a valid FITS file, {size} bytes ({' '.join(detail.split())})"
    for w in caught:
        match = re.search(r"actual file length \((\d+)\) is smaller than the expected size \((\d+)\)", str(w.message))
        if match:
            return f"truncated file, {match.group(1)} bytes where its headers declare at least {match.group(2)}"
    if not has_table:
        return (f"no light-curve table; the file holds only {', '.join(layout)} "
                "where a LIGHTCURVE binary-table extension was expected")
    return None


def _describe_hdu(hdu) -> str:
    """``PRIMARY (image 10x10)`` / ``APERTURE (image 11x9)`` / ``PRIMARY (no data)`` for messages."""
    naxis = int(hdu.header.get("NAXIS", 0) or 0)
    dims = [str(hdu.header.get(f"NAXIS{i}", "?")) for i in range(1, naxis + 1)]
    kind = f"image {'x'.join(dims)}" if naxis else "no data"
    return f"{hdu.name or '?'} ({kind})"


def read_fits(path: Path, quality_bitmask: str = "default") -> dict:
    """One mission light-curve file as ``{object_id, target, mission, time, flux, flux_err}``.

    Uses PDCSAP flux, falling back to SAP flux when PDCSAP has no finite value; cadences flagged by
    ``quality_bitmask`` and non-finite points are removed; flux is normalised to its median.
    The object id is the file name without extension (unique even for several quarters of one star).
    """
    with warnings.catch_warnings():  # its import warns about optional modules on stderr: not the user's concern
        warnings.simplefilter("ignore")
        import lightkurve as lk
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lc = lk.read(str(path), quality_bitmask=quality_bitmask)
    except Exception as exc:  # lightkurve raises many types for unreadable files
        why = _diagnose_fits(Path(path)) or _one_line(exc)
        raise InputError(f"{path}: not a readable mission light-curve FITS file ({why})") from None
    time = _plain(lc.time)
    for column in ("pdcsap_flux", "sap_flux", "flux"):
        if column not in lc.columns:
            continue
        flux = _plain(lc[column])
        err_col = f"{column}_err"
        err = _plain(lc[err_col]) if err_col in lc.columns else np.ones_like(flux)
        ok = np.isfinite(time) & np.isfinite(flux) & np.isfinite(err) & (err > 0)
        if ok.sum() >= 3:
            break
    else:
        raise InputError(f"{path}: light curve has no finite flux (PDCSAP and SAP all NaN or empty)")
    time, flux, err = time[ok], flux[ok], err[ok]
    median = np.median(flux)
    if not np.isfinite(median) or median == 0:
        raise InputError(f"{path}: flux median is {median}; cannot normalise")
    return {
        "object_id": Path(path).name.removesuffix(".gz").removesuffix(".fits"),
        "target": str(lc.meta.get("OBJECT", "")),
        "mission": str(lc.meta.get("MISSION", "")),
        "time": time,
        "flux": flux / median,
        "flux_err": err / abs(median),
    }


#: How :func:`read_target` / :func:`read_fits_folder` derive flux (recorded in the manifest).
CONVERSION = (
    "flux = PDCSAP_FLUX (SAP_FLUX when PDCSAP has no finite value) / median of its own file "
    "(quarter, campaign or sector), flux_err likewise; default quality bitmask and non-finite cadences removed; "
    "segments of one target concatenated and sorted by time; time = mission time in days "
    "(BKJD = BJD - 2454833 for Kepler/K2, BTJD = BJD - 2457000 for TESS; see objects.time_reference)"
)


def _header_facts(path: Path) -> tuple[str, str, int]:
    """Target name (``OBJECT``, else ``KEPLERID``/``TICID``), time reference and cadences in the file."""
    from astropy.io import fits

    with fits.open(path, memmap=False) as hdus:
        primary = hdus[0].header
        ext = hdus["LIGHTCURVE"].header if "LIGHTCURVE" in hdus else hdus[1].header
        name = str(primary.get("OBJECT") or ext.get("OBJECT") or "").strip()
        if not name:
            mission = str(primary.get("MISSION") or primary.get("TELESCOP") or "").upper()
            if primary.get("KEPLERID"):
                name = f"{'EPIC' if mission == 'K2' else 'KIC'} {int(primary['KEPLERID'])}"
            elif primary.get("TICID"):
                name = f"TIC {int(primary['TICID'])}"
        ref = (ext.get("BJDREFI") or 0) + (ext.get("BJDREFF") or 0)
        reference = f"BJD - {ref:.10g}" if ref else str(ext.get("TIMEUNIT", "d"))
        return name, reference, int(ext.get("NAXIS2", 0))


def _read_segment(path: Path, quality_bitmask: str) -> dict:
    """``read_fits`` plus target name, time reference and the number of cadences removed."""
    segment = read_fits(path, quality_bitmask=quality_bitmask)
    try:
        name, reference, n_file = _header_facts(path)
    except Exception as exc:  # read_fits accepted the file, so only its headers are damaged
        raise InputError(f"{path}: unreadable FITS header ({exc})") from None
    segment["target"] = name or segment["target"] or segment["object_id"]
    segment["time_reference"] = reference
    segment["n_dropped_points"] = max(n_file - len(segment["time"]), 0)
    segment["path"] = Path(path)
    return segment


def _stitch(segments: list[dict]) -> dict:
    if len({s["target"] for s in segments}) > 1:
        found = ", ".join(sorted({f"{s['path'].name}: {s['target']}" for s in segments}))
        raise InputError(f"files belong to different targets ({found}); stitch one target at a time")
    segments = sorted(segments, key=lambda s: float(np.min(s["time"])))
    time = np.concatenate([s["time"] for s in segments])
    order = np.argsort(time, kind="stable")
    return {
        "object_id": segments[0]["target"],
        "target": segments[0]["target"],
        "mission": segments[0]["mission"],
        "time": time[order],
        "flux": np.concatenate([s["flux"] for s in segments])[order],
        "flux_err": np.concatenate([s["flux_err"] for s in segments])[order],
        "files": [s["path"] for s in segments],
        "segment_points": [len(s["time"]) for s in segments],
        "n_dropped_points": int(sum(s["n_dropped_points"] for s in segments)),
        "time_reference": segments[0]["time_reference"],
    }


def read_target(files: Sequence[str | Path], quality_bitmask: str = "default") -> dict:
    """Stitch several quarters / campaigns / sectors of one target into one light curve.

    Each file is read with :func:`read_fits` and normalised by its own median (per-segment
    normalisation removes the flux offsets between quarters), then all segments are concatenated and
    sorted by time. Overlapping or repeated files are not merged: their repeated times stay for
    validation to judge.

    Parameters
    ----------
    files
        Mission light-curve FITS files of one target (same ``OBJECT`` / ``KEPLERID`` / ``TICID``).
    quality_bitmask
        Passed to lightkurve (``"default"``, ``"hard"``, ...).

    Returns
    -------
    dict
        ``object_id`` and ``target`` (e.g. ``"KIC 10002792"``), ``mission``, ``time``, ``flux``,
        ``flux_err``, ``files`` (segment order), ``segment_points``, ``n_dropped_points`` (cadences
        removed by the quality mask or as non-finite), ``time_reference``.

    Raises
    ------
    InputError
        No files, an unreadable file, or files of different targets.
    """
    files = [Path(f) for f in files]
    if not files:
        raise InputError("read_target: no files given")
    return _stitch([_read_segment(f, quality_bitmask) for f in files])


def _digits(name: str) -> str:
    match = re.search(r"(\d+)\s*$", name)
    return str(int(match.group(1))) if match else name


def read_fits_folder(
    folder: str | Path,
    labels: Mapping[str, str] | None = None,
    quality_bitmask: str = "default",
) -> Ingested:
    """Read every mission FITS file in ``folder``, one object per target.

    Files are grouped by target (FITS ``OBJECT``, else ``KEPLERID``/``TICID``) and stitched with
    per-segment normalisation (see :func:`read_target`). An unreadable file is rejected with its
    reason and does not stop the others. Files without a FITS suffix are not inputs and are ignored.

    Parameters
    ----------
    folder
        Folder of ``.fits`` / ``.fits.gz`` / ``.fit`` files.
    labels
        Class per target, keyed by the target name (``"KIC 10002792"``) or its number
        (``"10002792"``); targets not in it are unlabelled.
    quality_bitmask
        Passed to lightkurve.

    Returns
    -------
    Ingested
        ``object_id`` = target name; ``objects`` holds ``object_id``, ``mission``, ``n_segments``,
        ``files``, ``n_points``, ``n_dropped_points``, ``time_reference``. Rejected files have
        ``object_id`` ``None`` (an unreadable file names no target).

    Raises
    ------
    InputError
        ``folder`` is missing or holds no FITS file.
    """
    from lcml.surveys import FITS_SUFFIXES

    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.name.lower().endswith(FITS_SUFFIXES))
    if not files:
        raise InputError(f"{folder}: folder holds no FITS files ({', '.join(FITS_SUFFIXES)})")
    labels = labels or {}
    groups: dict[str, list[dict]] = {}
    rejected = []
    for path in counted(files, len(files), "FITS files"):
        try:
            segment = _read_segment(path, quality_bitmask)
        except InputError as exc:
            rejected.append({"object_id": None, "source": str(path), "reason": str(exc)})
            continue
        groups.setdefault(segment["target"], []).append(segment)

    stitched = [_stitch(groups[name]) for name in sorted(groups)]
    ids = [s["object_id"] for s in stitched]
    table = lightcurve_table(
        ids,
        [labels.get(i, labels.get(_digits(i))) for i in ids],
        [s["time"] for s in stitched],
        [s["flux"] for s in stitched],
        [s["flux_err"] for s in stitched],
    )
    objects = pd.DataFrame(
        {
            "object_id": ids,
            "mission": [s["mission"] for s in stitched],
            "n_segments": [len(s["files"]) for s in stitched],
            "files": ["; ".join(p.name for p in s["files"]) for s in stitched],
            "n_points": [len(s["time"]) for s in stitched],
            "n_dropped_points": [s["n_dropped_points"] for s in stitched],
            "time_reference": [s["time_reference"] for s in stitched],
        }
    )
    result = Ingested(table, objects, rejected_frame(rejected), CONVERSION, source=f"mission FITS: {folder}")
    return check_accounted(len(groups) + len(rejected), result)

"""Survey readers: each turns one survey's files into an :class:`Ingested` result.

Every reader accounts for every input object: it is either a row of ``lightcurves`` or a row of
``rejected`` with a reason (:func:`check_accounted`). Content that validation judges later
(non-monotonic or duplicate times, unknown labels, non-positive errors) passes through unchanged;
only what cannot be represented at all (an unreadable file, an object without one parseable point)
is rejected here. Dropping individual non-finite points is allowed and counted per object in the
``n_dropped_points`` column of ``objects``.

Modules: :mod:`.catalina` (Catalina SSS and CRTS), :mod:`.k2` (K2SC phase-folded curves, K2VARCAT
labels), :mod:`.astrom3` (AstroM3 photometry + spectra + metadata), :mod:`.kepler` (mission FITS).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa

from lcml.data.schema import LIGHTCURVE_SCHEMA
from lcml.errors import InputError, LcmlError

REJECTED_COLUMNS = ("object_id", "source", "reason")

log = logging.getLogger("lcml.data")
_T = TypeVar("_T")
#: seconds between two progress lines of a reader
PROGRESS_EVERY_S = 5.0


def counted(items: Iterable[_T], total: int, what: str, every: float | None = None) -> Iterator[_T]:
    """``items``, with a progress line (``read 1,200 of 5,000 FITS files (24%)``) at most every ``every``
    seconds (:data:`PROGRESS_EVERY_S`) while a reader works through them, and the final count when any
    was shown: what a person waiting on a big folder sees (``lcml data release`` prints lcml's progress
    events on stderr)."""
    every = PROGRESS_EVERY_S if every is None else every
    last, done, shown = time.monotonic(), 0, 0
    for done, item in enumerate(items, 1):
        yield item
        if (now := time.monotonic()) - last >= every:
            last, shown = now, done
            log.info("read %s of %s %s (%d%%)", f"{done:,}", f"{total:,}", what, 100 * done // max(total, 1))
    if 0 < shown < done:
        log.info("read %s of %s %s", f"{done:,}", f"{total:,}", what)


#: How magnitudes become relative flux in every magnitude-based reader (recorded in the manifest).
MAG_CONVERSION = (
    "flux = 10**(-0.4*(mag - median(mag))); flux_err = 0.4*ln(10)*flux*mag_err "
    "(median over each object's kept points)"
)


@dataclass
class Ingested:
    """What a survey reader returns.

    Attributes
    ----------
    lightcurves
        Exactly the columns of :data:`lcml.data.schema.LIGHTCURVE_SCHEMA`, cast to it.
    objects
        Per-object metadata, ``object_id`` first (catalog period, amplitude, position, points dropped,
        ...). For evaluation and drift reports only, never a model input: catalog periods and
        classifier scores come from the surveys' own analyses of the same light curves.
    rejected
        Inputs that could not be ingested at all: ``object_id`` (``None`` when unknown), ``source``
        (file and/or row) and ``reason``.
    conversion
        How ``flux``/``flux_err`` were derived; goes into the release manifest.
    folded
        ``True`` for pre-folded curves, whose ``time`` holds phase in [0, 1).
    source
        Human-readable origin.
    """

    lightcurves: pa.Table
    objects: pd.DataFrame | None
    rejected: pd.DataFrame
    conversion: str
    folded: bool = False
    source: str = ""

    def __post_init__(self) -> None:
        names = set(self.lightcurves.column_names)
        if names != set(LIGHTCURVE_SCHEMA.names):
            raise LcmlError(
                f"ingested light curves must have exactly {LIGHTCURVE_SCHEMA.names}, got {self.lightcurves.column_names}"
            )
        self.lightcurves = self.lightcurves.select(LIGHTCURVE_SCHEMA.names).cast(LIGHTCURVE_SCHEMA)
        if self.rejected is None or self.rejected.empty:
            self.rejected = empty_rejected()
        else:
            self.rejected = self.rejected.loc[:, list(REJECTED_COLUMNS)].reset_index(drop=True)
        if self.objects is not None and list(self.objects.columns[:1]) != ["object_id"]:
            raise LcmlError("ingested objects must have object_id as their first column")


def empty_rejected() -> pd.DataFrame:
    """A ``rejected`` frame without rows."""
    return pd.DataFrame({c: pd.Series(dtype=object) for c in REJECTED_COLUMNS})


def rejected_frame(rows: list[dict]) -> pd.DataFrame:
    """``rejected`` frame from dicts with ``object_id``, ``source``, ``reason``."""
    if not rows:
        return empty_rejected()
    return pd.DataFrame(rows, columns=list(REJECTED_COLUMNS)).astype(object)


def check_accounted(n_input: int, ingested: Ingested) -> Ingested:
    """Raise unless every one of ``n_input`` input objects was either ingested or rejected.

    Returns ``ingested`` so a reader can end with ``return check_accounted(n, Ingested(...))``.

    Raises
    ------
    LcmlError
        ``len(lightcurves) + len(rejected) != n_input`` (something was dropped or counted twice).
    """
    n_ok, n_bad = ingested.lightcurves.num_rows, len(ingested.rejected)
    if n_ok + n_bad != n_input:
        raise LcmlError(
            f"{ingested.source or 'ingest'}: {n_input} input objects but {n_ok} ingested + {n_bad} rejected "
            f"= {n_ok + n_bad}; objects were dropped or counted twice"
        )
    return ingested


def segment_medians(values: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Median of each consecutive segment of ``values`` (segment ``i`` has ``lengths[i]`` items).

    Vectorised (one sort for all segments); empty segments give NaN.
    """
    values = np.asarray(values, dtype=np.float64)
    lengths = np.asarray(lengths, dtype=np.int64)
    out = np.full(len(lengths), np.nan)
    if values.size == 0:
        return out
    seg = np.repeat(np.arange(len(lengths)), lengths)
    ordered = values[np.lexsort((values, seg))]
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    has = lengths > 0
    lo = starts[has] + (lengths[has] - 1) // 2
    hi = starts[has] + lengths[has] // 2
    out[has] = 0.5 * (ordered[lo] + ordered[hi])
    return out


def mags_to_flux(mag: np.ndarray, mag_err: np.ndarray, reference: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """Relative flux and its error from magnitudes (see :data:`MAG_CONVERSION`).

    ``reference`` is the object's median magnitude (scalar, or one value per point).
    """
    mag = np.asarray(mag, dtype=np.float64)
    flux = 10.0 ** (-0.4 * (mag - reference))
    flux_err = 0.4 * np.log(10.0) * flux * np.asarray(mag_err, dtype=np.float64)
    return flux, flux_err


def list_array(values: np.ndarray, lengths: np.ndarray, value_type: pa.DataType) -> pa.ListArray:
    """Arrow list array of consecutive segments of ``values``."""
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), pa.array(values, value_type))


def lightcurve_table(
    object_ids: list[str],
    labels: list[str | None],
    times: list[np.ndarray],
    fluxes: list[np.ndarray],
    flux_errs: list[np.ndarray],
) -> pa.Table:
    """Canonical light-curve table from per-object arrays."""
    lengths = np.array([len(t) for t in times], dtype=np.int64)

    def flat(parts: list[np.ndarray], dtype) -> np.ndarray:
        return np.concatenate(parts).astype(dtype) if parts else np.array([], dtype=dtype)

    return pa.table(
        {
            "object_id": pa.array(object_ids, pa.string()),
            "label": pa.array(labels, pa.string()),
            "time": list_array(flat(times, np.float64), lengths, pa.float64()),
            "flux": list_array(flat(fluxes, np.float32), lengths, pa.float32()),
            "flux_err": list_array(flat(flux_errs, np.float32), lengths, pa.float32()),
        },
        schema=LIGHTCURVE_SCHEMA,
    )


__all__ = [
    "Ingested",
    "InputError",
    "MAG_CONVERSION",
    "check_accounted",
    "empty_rejected",
    "lightcurve_table",
    "list_array",
    "mags_to_flux",
    "rejected_frame",
    "segment_medians",
]

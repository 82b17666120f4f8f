"""Expectation suites of a release, one per modality, and the per-row facts they check.

GX column expectations cannot look inside list cells, so each modality's list columns are first
reduced with NumPy to one row of facts per table row (point counts, monotonic axes, finiteness);
the suites then check those facts together with the plain columns. Each :class:`Check` pairs an
expectation with the reason written into ``quarantine.parquet`` when a row fails it.

Modalities and their suites:

``lightcurves`` (``lcml_lightcurves``)
    ``lightcurves.parquet``; reasons are unprefixed (they predate the other modalities and are
    matched by callers and tests as they are).
``spectra`` (``lcml_spectra``)
    ``spectra.parquet`` when present; reasons start with ``"spectra: "``.
``metadata`` (``lcml_metadata``)
    ``objects.parquet`` when present; reasons start with ``"metadata: "``
    (:mod:`lcml.data.validation.metadata`).
``release`` (``lcml_release``)
    One row per class label: taxonomy and per-class minimum counts. Never quarantines; its
    failures are flags in the summary (see :func:`lcml.data.validation.validate.validate_release`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

LIGHTCURVES = "lightcurves"
SPECTRA = "spectra"
METADATA = "metadata"
RELEASE = "release"
#: Modalities whose failures quarantine objects, in the order reasons are listed.
MODALITIES: tuple[str, ...] = (LIGHTCURVES, SPECTRA, METADATA)
#: GX suite name of each modality (they name the pages of the Data Docs).
SUITE_NAMES: dict[str, str] = {
    LIGHTCURVES: "lcml_lightcurves",
    SPECTRA: "lcml_spectra",
    METADATA: "lcml_metadata",
    RELEASE: "lcml_release",
}
#: Columns of ``spectra.parquet`` (as written from :class:`lcml.data.sources.astrom3.MultimodalIngested`).
SPECTRA_COLUMNS: tuple[str, ...] = ("object_id", "wavelength", "flux", "ivar")


@dataclass(frozen=True)
class Check:
    """One expectation of a suite and what it means for the rows that fail it.

    Attributes
    ----------
    expectation
        A GX 1.x expectation over the facts frame of the modality.
    reason
        Written into ``quarantine.parquet`` (and counted in the summary) for every failing row.
    table_level
        ``True`` for expectations about the table as a whole (e.g. a required column exists): GX gives
        no failing rows for them, so a failure applies to every row of the table.
    """

    expectation: Any
    reason: str
    table_level: bool = False


def _gx() -> Any:
    import great_expectations as gx

    return gx.expectations


def _note(e: Any, reason: str) -> Any:
    # The reason shows under the expectation in the Data Docs, so the HTML says what quarantine means.
    e.notes = f"quarantine reason: {reason}"
    return e


def _checks(pairs: Iterable[tuple[Any, str]]) -> list[Check]:
    return [Check(_note(e, r), r) for e, r in pairs]


# ---------------------------------------------------------------- light curves


def lightcurve_suite(min_points: int, classes: tuple[str, ...], *, folded: bool = False) -> list[Check]:
    """Checks of ``lightcurves.parquet`` (facts from :func:`lightcurve_facts`).

    Parameters
    ----------
    min_points
        Minimum number of points; for a folded release, of phase bins.
    classes
        The survey's taxonomy; unlabelled rows (null label) pass: pretraining and scoring use them, and
        training leaves them out (the release summary counts them).
    folded
        Pre-folded curves: ``time`` is phase and must lie in [0, 1].
    """
    e = _gx()
    unit = "bins" if folded else "points"
    pairs = [
        (e.ExpectColumnValuesToNotBeNull(column="object_id"), "missing object_id"),
        (e.ExpectColumnValuesToBeUnique(column="object_id"), "duplicate object_id"),
        (e.ExpectColumnValuesToBeInSet(column="lengths_match", value_set=[True]),
         "time, flux and flux_err differ in length"),
        (e.ExpectColumnValuesToBeBetween(column="n_points", min_value=min_points), f"fewer than {min_points} {unit}"),
        (e.ExpectColumnValuesToBeInSet(column="values_finite", value_set=[True]), "non-finite time, flux or flux_err"),
        (e.ExpectColumnValuesToBeInSet(column="time_increasing", value_set=[True]), "time not strictly increasing"),
        (e.ExpectColumnValuesToBeInSet(column="flux_err_positive", value_set=[True]), "flux_err not positive"),
        (e.ExpectColumnValuesToBeInSet(column="label", value_set=list(classes)),
         f"label not one of {', '.join(classes)}"),
    ]
    if folded:
        pairs.append((e.ExpectColumnValuesToBeInSet(column="phase_in_range", value_set=[True]),
                      "phase (time of a folded curve) outside 0..1"))
    return _checks(pairs)


def merge_duplicate_times(time: Any, flux: Any, flux_err: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Merge points that share a timestamp into their inverse-variance weighted mean.

    Points with identical finite ``time`` become one point at their first position, with
    ``flux = sum(w f) / sum(w)`` and ``flux_err = 1 / sqrt(sum(w))``, ``w = 1 / flux_err**2``. Exact
    copies (same time, flux and error) are one measurement listed twice, as in Catalina files: they
    count once, so they do not shrink the error. A group with a non-finite flux or a non-finite or
    non-positive error cannot be weighted and is left as it is (validation then rejects the curve for
    that value). The order of the points is kept otherwise, so a curve that is unsorted apart from its
    repeats still fails "time not strictly increasing".

    Parameters
    ----------
    time, flux, flux_err
        One curve; equal lengths.

    Returns
    -------
    time, flux, flux_err : numpy.ndarray
        float64 arrays, the merged curve.
    n_merged : int
        How many points were removed (a group of k repeats removes k - 1, copies included).

    Raises
    ------
    ValueError
        The three arrays differ in length.
    """
    t, f, e = (np.asarray(x if x is not None else [], dtype=np.float64) for x in (time, flux, flux_err))
    if not t.size == f.size == e.size:
        raise ValueError(f"time, flux and flux_err differ in length ({t.size}/{f.size}/{e.size})")
    finite = np.isfinite(t)
    if finite.sum() < 2:
        return t, f, e, 0
    positions = np.flatnonzero(finite)
    _, first, group, counts = np.unique(t[finite], return_index=True, return_inverse=True, return_counts=True)
    if counts.max() == 1:
        return t, f, e, 0
    fv, ev = f[positions], e[positions]
    unusable = ~(np.isfinite(fv) & np.isfinite(ev) & (ev > 0))
    mergeable = (counts > 1) & (np.bincount(group, weights=unusable, minlength=counts.size) == 0)
    # a later point equal in time, flux and error to an earlier one is a copy: weight 0
    _, original, copy_of = np.unique(np.stack([t[positions], fv, ev], axis=1), axis=0, return_index=True,
                                     return_inverse=True)
    is_copy = np.arange(positions.size) != original[copy_of.reshape(-1)]
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where(unusable | is_copy, 0.0, 1.0 / ev**2)
    sum_w = np.bincount(group, weights=w, minlength=counts.size)
    sum_wf = np.bincount(group, weights=np.where(unusable, 0.0, w * fv), minlength=counts.size)
    keep = np.ones(t.size, dtype=bool)
    is_first = np.zeros(positions.size, dtype=bool)
    is_first[first] = True
    keep[positions[mergeable[group] & ~is_first]] = False
    f_out, e_out = f.copy(), e.copy()
    heads = positions[first[mergeable]]
    f_out[heads] = sum_wf[mergeable] / sum_w[mergeable]
    e_out[heads] = 1.0 / np.sqrt(sum_w[mergeable])
    return t[keep], f_out[keep], e_out[keep], int((~keep).sum())


def lightcurve_facts(frame: pd.DataFrame, *, merge_duplicates: bool = False) -> pd.DataFrame:
    """Per-row facts about the list columns that :func:`lightcurve_suite` checks.

    Columns: ``n_points``, ``lengths_match``, ``values_finite``, ``time_increasing``,
    ``flux_err_positive``, ``phase_in_range`` (all times within [0, 1]; checked for folded releases
    only), ``n_duplicate_times`` (points repeating an earlier timestamp of the curve) and
    ``n_merged`` (points removed by :func:`merge_duplicate_times`; 0 unless ``merge_duplicates``).
    With ``merge_duplicates`` the other facts describe the merged curve.
    """

    def facts(t: Any, f: Any, e: Any) -> tuple[int, bool, bool, bool, bool, bool, int, int]:
        t, f, e = (np.asarray(x if x is not None else [], dtype=float) for x in (t, f, e))
        if not len(t) == len(f) == len(e):  # the other checks are meaningless on ragged rows: report only this
            return len(f), False, True, True, True, True, 0, 0
        finite_t = t[np.isfinite(t)]
        n_dup = int(finite_t.size - np.unique(finite_t).size)
        n_merged = 0
        if merge_duplicates and n_dup:
            t, f, e, n_merged = merge_duplicate_times(t, f, e)
        finite = bool(np.isfinite(t).all() and np.isfinite(f).all() and np.isfinite(e).all())
        increasing = bool(np.all(np.diff(t) > 0)) if np.isfinite(t).all() else False
        in_unit = bool(np.all((t >= 0.0) & (t <= 1.0)))
        return len(t), True, finite, increasing, bool(np.all(e > 0)), in_unit, n_dup, n_merged

    rows = [facts(t, f, e) for t, f, e in zip(frame["time"], frame["flux"], frame["flux_err"])]
    return pd.DataFrame(
        rows,
        columns=["n_points", "lengths_match", "values_finite", "time_increasing", "flux_err_positive",
                 "phase_in_range", "n_duplicate_times", "n_merged"],
        index=frame.index,
    )


# ---------------------------------------------------------------- spectra


def spectra_suite(wavelength_range: tuple[float, float] | None) -> list[Check]:
    """Checks of ``spectra.parquet`` (facts from :func:`spectra_facts`); one spectrum per object.

    Parameters
    ----------
    wavelength_range
        Allowed wavelengths (Angstrom, inclusive); ``None`` checks no range.
    """
    e = _gx()
    pairs = [
        (e.ExpectColumnValuesToNotBeNull(column="object_id"), "spectra: missing object_id"),
        (e.ExpectColumnValuesToBeUnique(column="object_id"), "spectra: more than one spectrum for the object"),
        (e.ExpectColumnValuesToBeInSet(column="object_known", value_set=[True]),
         "spectra: object_id has no light curve in the release"),
        (e.ExpectColumnValuesToBeBetween(column="n_points", min_value=1), "spectra: empty spectrum"),
        (e.ExpectColumnValuesToBeInSet(column="lengths_match", value_set=[True]),
         "spectra: wavelength, flux and ivar differ in length"),
        (e.ExpectColumnValuesToBeInSet(column="wavelength_finite", value_set=[True]), "spectra: non-finite wavelength"),
        (e.ExpectColumnValuesToBeInSet(column="wavelength_increasing", value_set=[True]),
         "spectra: wavelength not strictly increasing"),
    ]
    if wavelength_range is not None:
        lo, hi = wavelength_range
        # min and max as separate facts, so the Data Docs show the range and the offending values
        pairs += [
            (e.ExpectColumnValuesToBeBetween(column="wavelength_min", min_value=lo),
             f"spectra: wavelength below {lo:g} Angstrom"),
            (e.ExpectColumnValuesToBeBetween(column="wavelength_max", max_value=hi),
             f"spectra: wavelength above {hi:g} Angstrom"),
        ]
    pairs += [
        (e.ExpectColumnValuesToBeInSet(column="flux_finite", value_set=[True]), "spectra: non-finite flux"),
        (e.ExpectColumnValuesToBeInSet(column="ivar_nonnegative", value_set=[True]),
         "spectra: ivar negative or non-finite"),
        (e.ExpectColumnValuesToBeInSet(column="ivar_any_positive", value_set=[True]), "spectra: ivar all zero"),
    ]
    return _checks(pairs)


def spectra_facts(frame: pd.DataFrame, known_ids: set[str]) -> pd.DataFrame:
    """Per-spectrum facts for :func:`spectra_suite`; ``known_ids`` are the light curves' object ids.

    Each fact looks at one array only, so a ragged row still reports e.g. a decreasing wavelength.
    An empty spectrum reports only that it is empty.
    """

    def facts(w: Any, f: Any, iv: Any) -> tuple[int, bool, bool, bool, float, float, bool, bool, bool]:
        w, f, iv = (np.asarray(x if x is not None else [], dtype=float) for x in (w, f, iv))
        if w.size == 0:
            return 0, True, True, True, np.nan, np.nan, True, True, True
        w_ok = np.isfinite(w)
        return (
            int(w.size),
            w.size == f.size == iv.size,
            bool(w_ok.all()),
            bool(np.all(np.diff(w) > 0)) if w_ok.all() else False,
            float(w[w_ok].min()) if w_ok.any() else np.nan,  # NaN is null to GX: the finite check reports it
            float(w[w_ok].max()) if w_ok.any() else np.nan,
            bool(np.isfinite(f).all()),
            bool(np.isfinite(iv).all() and (iv >= 0).all()),
            bool((iv > 0).any()),
        )

    rows = [facts(w, f, iv) for w, f, iv in zip(frame["wavelength"], frame["flux"], frame["ivar"])]
    out = pd.DataFrame(
        rows,
        columns=["n_points", "lengths_match", "wavelength_finite", "wavelength_increasing", "wavelength_min",
                 "wavelength_max", "flux_finite", "ivar_nonnegative", "ivar_any_positive"],
        index=frame.index,
    )
    out.insert(0, "object_id", frame["object_id"])
    out.insert(1, "object_known", frame["object_id"].map(lambda oid: oid in known_ids))
    return out


# ---------------------------------------------------------------- release


def release_suite(classes: tuple[str, ...], min_per_class: int) -> list[Check]:
    """Release-level checks over one row per label (facts from :func:`release_facts`).

    Failing rows are classes, not objects: they are reported as flags and never quarantine anything.
    """
    e = _gx()
    pairs = [(e.ExpectColumnValuesToBeInSet(column="label", value_set=list(classes)),
              "release: label outside the taxonomy")]
    if min_per_class > 0:
        pairs.append((e.ExpectColumnValuesToBeBetween(column="n_accepted", min_value=min_per_class),
                      f"release: fewer than {min_per_class} accepted objects in the class"))
    return _checks(pairs)


def release_facts(ingested: pd.Series, accepted: pd.Series, classes: tuple[str, ...]) -> pd.DataFrame:
    """One row per taxonomy class (present or not) and per unknown label.

    ``ingested`` and ``accepted`` are the labels of the ingested and accepted objects (unlabelled
    ones left out). ``n_accepted`` is null for unknown labels: their objects are quarantined anyway
    and a minimum count means nothing for them.
    """
    n_in = ingested.value_counts()
    n_ok = accepted.value_counts()
    unknown = sorted(set(n_in.index) - set(classes))
    labels = list(classes) + unknown
    return pd.DataFrame({
        "label": labels,
        "in_taxonomy": [c in classes for c in labels],
        "n_ingested": [int(n_in.get(c, 0)) for c in labels],
        "n_accepted": [float(n_ok.get(c, 0)) if c in classes else np.nan for c in labels],
    })

"""How much of a light curve a registered classifier needs: the StarWhisper LightCurve paper's two studies.

The paper (Li et al. 2024, arXiv:2404.10757) publishes two per-star catalogs for its Kepler sample,
kept in ``../shared/data/kepler_starwhisper/``:

``phase_importance_catalog.csv``
    ``Star`` (``<CLASS>_<KIC zero-padded to 9 digits>``, e.g. ``DSCT_001026294``) and 20 columns
    ``-1, -0.9, ..., 0, ..., 0.9``: the start of a 0.1-wide window on the phase axis ``[-1, 1)``,
    one value per window (min-max normalised per star in the published file, NaN for the 169 stars
    whose values are all equal). 6,851 rows, one per star.
``sampling_catalog.csv``
    ``Star`` and 10 columns ``0.02, 0.04, ..., 0.2``: the sampling interval in days (0.02 d is
    Kepler's 29.4-min long cadence), one value per interval: the probability of the star's true
    class. 6,851 rows, one per star.

Here the same two studies run on a registered pyfunc (raw light curves in, probabilities out), and
their catalogs keep the paper's layout: ``Star`` then the paper's window / interval columns, in its
order and with its names; the columns lcml adds (predicted labels, point counts, the sweep below)
come only after them.

Phase study (:func:`phase_study`)
    Each star is folded on its own Lomb-Scargle period (the model's own period search settings,
    on the whole curve) with minimum light at phase -1; one cycle maps onto ``[-1, 1)``. For a
    window that keeps a fraction ``w`` of the cycle starting at phase ``s`` (wrapping at 1), only the
    raw points inside it are scored. Observing a periodic star only during that part of each cycle
    takes ``w`` of the observing time, so ``1 - w`` is the observation time cut. The paper-shaped
    columns hold the probability of the true class for ``w = catalog_window`` (default 0.05: the
    paper's 0.1-wide windows on the two-unit axis) at each start; the sweep over ``windows``
    (averaged over the same starts) gives accuracy against the observation time kept.
Sampling study (:func:`sampling_study`)
    Each curve is decimated to a coarser sampling interval ``dt``: walking forward in time, a point is
    kept when it is at least ``dt`` after the last kept one (0.02 d keeps every Kepler long-cadence
    point, 0.04 d every second one, ..., 0.2 d every tenth). The paper-shaped columns hold the
    probability of the true class at each interval; ``n_<dt>`` the points kept, from which the
    sampling points cut ``1 - n_dt / n_points`` is measured.

:func:`summarise` turns a catalog into accuracy per window / interval (overall and per class, a star
counting as right when the model's most probable class is its true class) and the paper's headline:
the largest cut of observation time (phase) or of sampling points (sampling) whose accuracy is within
``max_loss`` (10%, relative) of the full curve's. :func:`write_catalog` writes the CSV and the summary
JSON next to it; :func:`run_study` does all of it for a split of a release (what ``lcml study`` calls).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from lcml.errors import InputError

#: the paper's phase windows: starts on the phase axis [-1, 1), 0.1 apart
PAPER_PHASE_STARTS: tuple[float, ...] = tuple(float(np.round(-1.0 + 0.1 * i, 1)) + 0.0 for i in range(20))
#: the paper's sampling intervals in days (0.02 d is Kepler long cadence)
PAPER_INTERVALS: tuple[float, ...] = tuple(float(np.round(0.02 * i, 2)) for i in range(1, 11))
#: fraction of each cycle kept by one paper-shaped phase window (0.1 of the two-unit axis)
PAPER_WINDOW: float = 0.05
#: kept fractions of the cycle swept for the observation-time summary
DEFAULT_WINDOWS: tuple[float, ...] = (0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.8, 0.9, 1.0)
#: the paper's criterion: at most this relative accuracy loss against the full curve
MAX_RELATIVE_LOSS: float = 0.10

STAR = "Star"
FULL = "full"
#: fewer finite points than this cannot be scored (lcml.features.extract.featurize needs 3)
MIN_POINTS = 3
#: light-curve variants per pyfunc call: large enough to batch the network, small enough for memory
_BATCH = 2048

StudyKind = Literal["phase", "sampling"]


def column_name(value: float) -> str:
    """Column label of a window start or interval as the paper writes it (``-1``, ``0``, ``0.02``, ``0.1``)."""
    return f"{float(value) + 0.0:g}"  # + 0.0 turns -0.0 into 0.0, so no "-0" column


PHASE_COLUMNS: list[str] = [STAR, *map(column_name, PAPER_PHASE_STARTS)]
SAMPLING_COLUMNS: list[str] = [STAR, *map(column_name, PAPER_INTERVALS)]


# ---------------------------------------------------------------- arguments and inputs


def _fractions(values: Iterable[float], what: str) -> list[float]:
    out = sorted({float(v) for v in values})
    if not out:
        raise InputError(f"{what}: give at least one value")
    bad = [v for v in out if not (math.isfinite(v) and 0.0 < v <= 1.0)]
    if bad:
        raise InputError(f"{what} must be fractions of the cycle in (0, 1], got {bad}")
    return out


def _starts(values: Iterable[float]) -> list[float]:
    out = sorted({float(v) + 0.0 for v in values})
    if not out:
        raise InputError("phase window starts: give at least one value")
    bad = [v for v in out if not (math.isfinite(v) and -1.0 <= v < 1.0)]
    if bad:
        raise InputError(f"phase window starts must lie in [-1, 1), got {bad}")
    if len({column_name(v) for v in out}) != len(out):
        raise InputError(f"phase window starts {out} collide once written as column names")
    return out


def _intervals(values: Iterable[float]) -> list[float]:
    out = sorted({float(v) for v in values})
    if not out:
        raise InputError("sampling intervals: give at least one value")
    bad = [v for v in out if not (math.isfinite(v) and v > 0.0)]
    if bad:
        raise InputError(f"sampling intervals must be positive numbers of days, got {bad}")
    if len({column_name(v) for v in out}) != len(out):
        raise InputError(f"sampling intervals {out} collide once written as column names")
    return out


def _check_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The raw light curves, one labelled row per star, or one clear error."""
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"expected a DataFrame of light curves, got {type(frame).__name__}")
    if frame.empty:
        raise InputError("no light curves to study: the frame is empty")
    missing = [c for c in ("object_id", "label", "time", "flux") if c not in frame]
    if missing:
        raise InputError(f"light curves lack columns {missing} (need object_id, label, time, flux[, flux_err])")
    unlabelled = int(frame["label"].isna().sum())
    if unlabelled:
        raise InputError(f"{unlabelled} light curves have no label; a study needs each star's true class")
    dup = frame["object_id"][frame["object_id"].duplicated()].astype(str).unique()
    if len(dup):
        raise InputError(f"object_id must be unique (one row per star); repeated: {list(dup[:5])}")
    return frame.reset_index(drop=True)


def star_name(label: str, object_id: Any) -> str:
    """The paper's star name ``<CLASS>_<id>``; an all-digit id (a KIC number) is zero-padded to 9 digits."""
    oid = str(object_id)
    return f"{label}_{oid.zfill(9) if oid.isdigit() else oid}"


# ---------------------------------------------------------------- model


class _Model:
    """A registered pyfunc loaded once, scoring many variants of many curves in batches."""

    def __init__(self, model_uri: str) -> None:
        import mlflow
        from mlflow.exceptions import MlflowException

        from lcml.config import Paths
        from lcml.pipeline import use_tracking_uri
        from lcml.scoring import resolve

        if not isinstance(model_uri, str) or not model_uri.strip():
            raise InputError(f"model URI must be a non-empty string, got {model_uri!r}")
        use_tracking_uri(Paths.from_env())
        name, version = resolve(model_uri)  # an unknown registered name or alias: InputError naming it
        try:
            self.pyfunc = mlflow.pyfunc.load_model(model_uri, model_config={"model_name": name,
                                                                            "model_version": version})
        except (MlflowException, OSError) as exc:
            first = (getattr(exc, "message", None) or str(exc)).splitlines()[0]
            raise InputError(f"cannot load model {model_uri}: {first}") from None
        self.uri = model_uri
        self.classes = [c.removeprefix("p_") for c in self._output_columns() if c.startswith("p_")]
        self.features = self._feature_params()

    def _output_columns(self) -> list[str]:
        outputs = self.pyfunc.metadata.get_output_schema()
        if outputs is None:
            raise InputError(f"model {self.uri} declares no output schema; lcml studies need its p_<class> columns")
        return list(outputs.input_names())

    def _feature_params(self):
        """The period search settings the model itself uses, so windows follow the period it would find."""
        from lcml.config import load_params

        try:
            found = getattr(self.pyfunc.unwrap_python_model(), "features", None)
        except Exception:  # noqa: BLE001 - not an lcml pyfunc: fall back to the project's settings
            found = None
        return found if found is not None else load_params().features

    def score(self, variants: list[dict[str, Any]]) -> pd.DataFrame:
        """Probabilities for ``variants`` (dicts with key, time, flux, flux_err); indexed by key."""
        if not variants:
            return pd.DataFrame(columns=["label_pred", *[f"p_{c}" for c in self.classes]])
        parts = []
        for start in range(0, len(variants), _BATCH):
            chunk = pd.DataFrame(variants[start : start + _BATCH])
            batch = chunk.rename(columns={"key": "object_id"})
            if batch["flux_err"].isna().all():
                batch = batch.drop(columns="flux_err")
            out = self.pyfunc.predict(batch)
            out.index = chunk["key"].to_numpy()
            parts.append(out)
        return pd.concat(parts)


def _valid(time: np.ndarray, flux: np.ndarray, err: np.ndarray | None) -> np.ndarray:
    """Points the model keeps (lcml.features.extract.clean): finite, and a positive finite error if given."""
    ok = np.isfinite(time) & np.isfinite(flux)
    if err is not None:
        ok &= np.isfinite(err) & (err > 0)
    return ok


def _curves(frame: pd.DataFrame) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray | None]]:
    has_err = "flux_err" in frame
    for i, row in enumerate(frame.itertuples(index=False)):
        err = getattr(row, "flux_err") if has_err else None
        yield (i, np.asarray(row.time, float), np.asarray(row.flux),
               None if err is None else np.asarray(err))


def _variant(key: str, time: np.ndarray, flux: np.ndarray, err: np.ndarray | None,
             keep: np.ndarray | None) -> dict[str, Any] | None:
    """One curve to score, or None when too few points are left to classify at all."""
    if keep is not None:
        time, flux, err = time[keep], flux[keep], (None if err is None else err[keep])
    ok = _valid(time, flux, err)
    if ok.sum() < MIN_POINTS or np.ptp(time[ok]) <= 0:
        return None
    return {"key": key, "time": time, "flux": flux, "flux_err": err}


def _chunks(n: int, per_star: int) -> Iterator[range]:
    step = max(1, _BATCH // max(per_star, 1))
    for start in range(0, n, step):
        yield range(start, min(n, start + step))


def _check_labels(frame: pd.DataFrame, model: _Model) -> None:
    unknown = sorted(set(frame["label"].astype(str)) - set(model.classes))
    if unknown:
        raise InputError(f"labels {unknown} are not classes of {model.uri} ({model.classes}); "
                         "the probability of the true class is undefined for them")


def _p_true(scores: pd.DataFrame, key: str, label: str) -> tuple[float, Any]:
    if key not in scores.index:
        return float("nan"), None  # not scorable: no prediction, counted as a miss by summarise
    row = scores.loc[key]
    return float(row[f"p_{label}"]), row["label_pred"]


def _head(frame: pd.DataFrame) -> dict[str, list]:
    labels = frame["label"].astype(str).tolist()
    return {STAR: [star_name(lab, oid) for lab, oid in zip(labels, frame["object_id"])]}


# ---------------------------------------------------------------- phase


def phase_of(time: np.ndarray, flux: np.ndarray, flux_err: np.ndarray | None, period: float,
             bins: int = 100) -> np.ndarray:
    """Phase in ``[-1, 1)`` of each point: one cycle of ``period`` with minimum light at -1.

    The epoch is the faintest of ``bins`` phase bins of the curve's own fold, so an eclipse or a
    pulsation minimum sits at the same phase for every star (as in lcml's folded model input).
    Non-finite points get NaN.
    """
    time = np.asarray(time, float)
    ok = _valid(time, np.asarray(flux, float), None if flux_err is None else np.asarray(flux_err, float))
    cycles = time / period
    frac = np.mod(cycles[ok], 1.0)
    idx = np.minimum((frac * bins).astype(int), bins - 1)
    sums = np.bincount(idx, weights=np.asarray(flux, float)[ok], minlength=bins)
    counts = np.bincount(idx, minlength=bins)
    means = np.where(counts > 0, sums / np.maximum(counts, 1), np.inf)
    epoch = float(np.argmin(means)) / bins
    phase = np.full(time.shape, np.nan)
    phase[ok] = 2.0 * np.mod(cycles[ok] - epoch, 1.0) - 1.0
    return phase


def phase_window(phase: np.ndarray, start: float, fraction: float) -> np.ndarray:
    """Mask of points in the window that keeps ``fraction`` of the cycle from ``start`` (wrapping at 1)."""
    if fraction >= 1.0:
        return np.isfinite(phase)
    offset = np.mod(phase - start, 2.0)  # NaN stays NaN and compares False
    return offset < 2.0 * fraction


def _period(time: np.ndarray, flux: np.ndarray, err: np.ndarray | None, features) -> float:
    from lcml.features.extract import clean
    from lcml.features.period import lomb_scargle_period

    t, f, e = clean(time, flux, err)
    p = features.period
    return lomb_scargle_period(t, f, e, min_period=p.min_period_days, max_period=p.max_period_days,
                               oversample=p.oversample).period


def phase_study(
    model_uri: str,
    frame: pd.DataFrame,
    *,
    windows: Sequence[float] = DEFAULT_WINDOWS,
    starts: Sequence[float] = PAPER_PHASE_STARTS,
    catalog_window: float = PAPER_WINDOW,
    progress: bool = False,
) -> pd.DataFrame:
    """Score each star keeping only one phase window of its light curve at a time.

    Parameters
    ----------
    model_uri : str
        A registered lcml pyfunc (``models:/NAME@ALIAS``, ``models:/NAME/VERSION``, ``runs:/...``).
    frame : pandas.DataFrame
        Raw light curves, one row per star: ``object_id``, ``label`` (true class), ``time`` (days),
        ``flux``, optional ``flux_err`` (what :func:`lcml.data.release.load_release` returns).
    windows : sequence of float, default :data:`DEFAULT_WINDOWS`
        Fractions of the cycle kept, in (0, 1], swept for the observation-time summary; each one
        is scored at every start and averaged. 1 is the whole curve.
    starts : sequence of float, default the paper's ``-1, -0.9, ..., 0.9``
        Window starts on the phase axis [-1, 1) (minimum light at -1); one catalog column each.
    catalog_window : float, default 0.05
        Fraction of the cycle kept by the windows in the paper-shaped columns (the paper's 0.1-wide
        windows on the two-unit axis keep 5%).
    progress : bool, default False
        Show a progress bar.

    Returns
    -------
    pandas.DataFrame
        One row per star. ``Star``, then one column per start (the paper's layout): probability of
        the true class with only that window kept. Then lcml's columns: ``object_id``, ``label``,
        ``n_points``, ``period_days`` (the fold period), ``full`` and ``pred_full`` (whole curve),
        ``pred_<start>`` (predicted class per window), and per swept fraction ``w``: ``keep_<w>``
        (mean probability of the true class over the starts) and ``acc_keep_<w>`` (share of starts
        where the prediction is the true class). A window with fewer than 3 points gives NaN and no
        prediction.

    Raises
    ------
    lcml.errors.InputError
        A window outside (0, 1], a start outside [-1, 1), an empty or unlabelled frame, labels the
        model does not know, or a model that cannot be found or loaded.
    """
    windows = _fractions(windows, "phase windows")
    starts = _starts(starts)
    (catalog_window,) = _fractions([catalog_window], "catalog_window")
    frame = _check_frame(frame)
    model = _Model(model_uri)
    _check_labels(frame, model)
    cols = [column_name(s) for s in starts]
    # the catalog's window and every swept fraction below 1 are scored at each start; 1 is the full curve
    fractions = sorted({catalog_window, *windows} - {1.0})

    from tqdm import tqdm

    rows: list[dict[str, Any]] = []
    bar = tqdm(total=len(frame), desc="phase study", unit="star", disable=not progress)
    curves = list(_curves(frame))
    for chunk in _chunks(len(frame), 1 + len(fractions) * len(starts)):
        variants, periods, counts = [], {}, {}
        for i in chunk:
            _, t, f, e = curves[i]
            counts[i] = int(_valid(t, np.asarray(f, float), None if e is None else np.asarray(e, float)).sum())
            full = _variant(f"{i}|full", t, f, e, None)
            variants.append(full)
            if full is None:  # too few points even for the whole curve: no period, no windows
                periods[i] = float("nan")
                continue
            periods[i] = _period(t, f, e, model.features)
            phase = phase_of(t, f, e, periods[i])
            for w in fractions:
                for s in starts:
                    variants.append(_variant(f"{i}|{w:g}|{s:g}", t, f, e, phase_window(phase, s, w)))
        scores = model.score([v for v in variants if v is not None])
        for i in chunk:
            label = str(frame.at[i, "label"])
            row: dict[str, Any] = {"object_id": frame.at[i, "object_id"], "label": label,
                                   "n_points": counts[i], "period_days": periods[i]}
            p_full, pred_full = _p_true(scores, f"{i}|full", label)
            row[FULL], row[f"pred_{FULL}"] = p_full, pred_full
            per: dict[float, list[tuple[float, Any]]] = {
                w: [_p_true(scores, f"{i}|{w:g}|{s:g}", label) for s in starts] for w in fractions}
            for col, (p, _) in zip(cols, per[catalog_window]):
                row[col] = p
            for col, (_, pred) in zip(cols, per[catalog_window]):
                row[f"pred_{col}"] = pred
            for w in windows:
                got = per.get(w, [(p_full, pred_full)])  # w == 1: every start keeps the whole curve
                row[f"keep_{w:g}"] = float(np.nanmean([p for p, _ in got])) if any(
                    np.isfinite(p) for p, _ in got) else float("nan")
                row[f"acc_keep_{w:g}"] = float(np.mean([pred == label for _, pred in got]))
            rows.append(row)
        bar.update(len(chunk))
    bar.close()
    body = pd.DataFrame(rows)
    extras = ["object_id", "label", "n_points", "period_days", FULL, f"pred_{FULL}",
              *[f"pred_{c}" for c in cols], *[f"keep_{w:g}" for w in windows],
              *[f"acc_keep_{w:g}" for w in windows]]
    return pd.concat([pd.DataFrame(_head(frame)), body[cols + extras]], axis=1)


# ---------------------------------------------------------------- sampling


def decimate(time: np.ndarray, interval: float) -> np.ndarray:
    """Indices of the points kept at sampling ``interval``: each at least ``interval`` after the last kept.

    Walks the finite times in increasing order from the first point. On Kepler long cadence
    (0.02043 d) an interval of 0.02 d keeps every point and 0.04 d every second one; across a gap the
    next point after it is kept. Indices refer to ``time`` as given (any order).
    """
    time = np.asarray(time, float)
    finite = np.flatnonzero(np.isfinite(time))
    order = finite[np.argsort(time[finite], kind="stable")]
    ts = time[order]
    if ts.size == 0:
        return order
    # a relative tolerance so that an interval equal to the cadence is not lost to rounding
    step = interval * (1.0 - 1e-9)
    kept, i = [0], 0
    while True:
        j = int(np.searchsorted(ts, ts[i] + step, side="left"))
        if j >= ts.size:
            break
        kept.append(j)
        i = j
    return order[np.asarray(kept)]


def sampling_study(
    model_uri: str,
    frame: pd.DataFrame,
    *,
    intervals: Sequence[float] = PAPER_INTERVALS,
    progress: bool = False,
) -> pd.DataFrame:
    """Score each star with its light curve decimated to coarser sampling intervals.

    Parameters
    ----------
    model_uri : str
        A registered lcml pyfunc.
    frame : pandas.DataFrame
        Raw light curves, one row per star: ``object_id``, ``label``, ``time`` (days), ``flux``,
        optional ``flux_err``.
    intervals : sequence of float, default the paper's ``0.02, 0.04, ..., 0.2`` days
        Sampling intervals in days (see :func:`decimate`); one catalog column each.
    progress : bool, default False
        Show a progress bar.

    Returns
    -------
    pandas.DataFrame
        One row per star. ``Star``, then one column per interval (the paper's layout): probability
        of the true class at that sampling. Then lcml's columns: ``object_id``, ``label``,
        ``n_points`` (finite points of the full curve), ``full`` and ``pred_full`` (whole curve),
        ``pred_<dt>`` (predicted class) and ``n_<dt>`` (points kept) per interval. A curve left with
        fewer than 3 points gives NaN and no prediction.

    Raises
    ------
    lcml.errors.InputError
        A non-positive interval, an empty or unlabelled frame, labels the model does not know, or a
        model that cannot be found or loaded.
    """
    intervals = _intervals(intervals)
    frame = _check_frame(frame)
    model = _Model(model_uri)
    _check_labels(frame, model)
    cols = [column_name(dt) for dt in intervals]

    from tqdm import tqdm

    rows: list[dict[str, Any]] = []
    bar = tqdm(total=len(frame), desc="sampling study", unit="star", disable=not progress)
    curves = list(_curves(frame))
    for chunk in _chunks(len(frame), 1 + len(intervals)):
        variants, kept = [], {}
        for i in chunk:
            _, t, f, e = curves[i]
            ok = _valid(t, np.asarray(f, float), None if e is None else np.asarray(e, float))
            variants.append(_variant(f"{i}|full", t, f, e, None))
            usable = np.flatnonzero(ok)
            for dt, col in zip(intervals, cols):
                # decimate the points the model would use, so a flagged point never takes a slot
                idx = usable[decimate(t[usable], dt)]
                mask = np.zeros(t.size, bool)
                mask[idx] = True
                kept[(i, col)] = int(idx.size)
                variants.append(_variant(f"{i}|{col}", t, f, e, mask))
        scores = model.score([v for v in variants if v is not None])
        for i in chunk:
            _, t, f, e = curves[i]
            label = str(frame.at[i, "label"])
            row: dict[str, Any] = {"object_id": frame.at[i, "object_id"], "label": label,
                                   "n_points": int(_valid(t, np.asarray(f, float),
                                                          None if e is None else np.asarray(e, float)).sum())}
            row[FULL], row[f"pred_{FULL}"] = _p_true(scores, f"{i}|full", label)
            for col in cols:
                row[col], row[f"pred_{col}"] = _p_true(scores, f"{i}|{col}", label)
                row[f"n_{col}"] = kept[(i, col)]
            rows.append(row)
        bar.update(len(chunk))
    bar.close()
    body = pd.DataFrame(rows)
    extras = ["object_id", "label", "n_points", FULL, f"pred_{FULL}", *[f"pred_{c}" for c in cols],
              *[f"n_{c}" for c in cols]]
    return pd.concat([pd.DataFrame(_head(frame)), body[cols + extras]], axis=1)


# ---------------------------------------------------------------- summary


def _is_number(name: str) -> bool:
    try:
        float(name)
    except ValueError:
        return False
    return True


def grid_columns(catalog: pd.DataFrame) -> list[str]:
    """The paper-shaped columns: the numeric column names right after ``Star``."""
    cols = list(map(str, catalog.columns))
    if not cols or cols[0] != STAR:
        raise InputError(f"a study catalog starts with a {STAR!r} column, got {cols[:3]}")
    out = []
    for name in cols[1:]:
        if not _is_number(name):
            break
        out.append(name)
    if not out:
        raise InputError("the catalog has no window or interval columns after 'Star'")
    return out


def infer_kind(catalog: pd.DataFrame) -> StudyKind:
    """``phase`` or ``sampling``, from lcml's extra columns or, for the paper's own files, the column names."""
    names = set(map(str, catalog.columns))
    if "period_days" in names or any(n.startswith("acc_keep_") for n in names):
        return "phase"
    grid = grid_columns(catalog)
    if any(n.startswith("n_") and n[2:] in grid for n in names):
        return "sampling"
    # the paper's files: phase starts run from -1, intervals are positive
    return "phase" if min(float(c) for c in grid) < 0 else "sampling"


def _labels(catalog: pd.DataFrame, labels: Sequence[str] | Mapping[str, str] | pd.Series | None) -> pd.Series:
    if labels is None:
        if "label" in catalog:
            out = catalog["label"]
        else:  # the paper's files: the class is the Star name's prefix (DSCT_001026294)
            out = catalog[STAR].astype(str).str.split("_", n=1).str[0]
    elif isinstance(labels, Mapping) or (isinstance(labels, pd.Series) and not labels.index.equals(catalog.index)):
        keys = catalog["object_id"] if "object_id" in catalog else catalog[STAR]
        lookup = dict(labels.items())
        out = keys.map(lambda k: lookup.get(k, lookup.get(str(k))))
    else:
        out = pd.Series(list(labels), index=catalog.index)
    if len(out) != len(catalog) or out.isna().any():
        raise InputError(f"labels: {int(out.isna().sum())} of {len(catalog)} stars have no label")
    return out.astype(str)


def _correct(catalog: pd.DataFrame, col: str, labels: pd.Series) -> tuple[pd.Series, str]:
    """Whether each star is classified right at ``col`` and the rule used."""
    pred = f"pred_{col}"
    if pred in catalog:
        return catalog[pred].astype(object).eq(labels) & catalog[pred].notna(), "argmax"
    # the paper's catalogs give only the true class's probability: above 0.5 it is surely the argmax
    return catalog[col].astype(float).gt(0.5), "p_true>0.5"


def _accuracy(correct: pd.Series, labels: pd.Series, classes: list[str]) -> tuple[float, dict[str, float]]:
    by_class = {c: float(correct[labels == c].mean()) for c in classes}
    return float(correct.mean()), by_class


def _max_cut(curve: list[dict[str, Any]], reference: float, max_loss: float, key: str,
             setting: str, by: str | None = None) -> dict[str, Any] | None:
    """Largest measured cut with every smaller cut also within ``max_loss`` of ``reference``.

    Walking up from the smallest cut and stopping at the first failure keeps a lucky large cut after
    a failing smaller one from being reported. ``interpolated_cut`` is where accuracy, linear between
    the last passing and the first failing setting, crosses the threshold: a coarse grid (0.02 d to
    0.04 d already halves the points) hides how far one can go, which is how a figure such as the
    paper's 21% falls between grid points. None when the reference accuracy is 0 (nothing to lose).
    """
    if not math.isfinite(reference) or reference <= 0:
        return None
    threshold = (1.0 - max_loss) * reference
    best: dict[str, Any] = {key: 0.0, setting: None, "accuracy": reference, "relative_loss": 0.0}
    last_cut, last_acc = 0.0, reference
    for point in sorted(curve, key=lambda p: p["cut"]):
        acc = point["accuracy"] if by is None else point["accuracy_by_class"][by]
        if not math.isfinite(acc):
            continue  # a class with no star in it has no accuracy anywhere
        loss = 1.0 - acc / reference
        if loss > max_loss + 1e-12:
            share = (last_acc - threshold) / (last_acc - acc)  # last_acc >= threshold > acc
            best["interpolated_cut"] = last_cut + share * (point["cut"] - last_cut)
            return best
        best = {key: point["cut"], setting: point["setting"], "accuracy": acc, "relative_loss": loss}
        last_cut, last_acc = point["cut"], acc
    best["interpolated_cut"] = best[key]  # nothing failed: no point beyond the grid to interpolate to
    return best


def summarise(
    catalog: pd.DataFrame,
    labels: Sequence[str] | Mapping[str, str] | pd.Series | None = None,
    *,
    kind: StudyKind | None = None,
    max_loss: float = MAX_RELATIVE_LOSS,
) -> dict[str, Any]:
    """Accuracy per window / interval, overall and per class, and the largest cut within ``max_loss``.

    Parameters
    ----------
    catalog : pandas.DataFrame
        A catalog from :func:`phase_study` or :func:`sampling_study` (or read back from its CSV).
        The paper's own catalogs work too for sampling (only the probability of the true class is
        known there, so a star counts as right when it exceeds 0.5 and the 0.02 d column is the
        reference).
    labels : sequence, mapping or Series, optional
        True classes: aligned with the rows, or keyed by ``object_id`` / ``Star``. Default: the
        catalog's ``label`` column, else the prefix of ``Star``.
    kind : {"phase", "sampling"}, optional
        Default: inferred from the columns (:func:`infer_kind`).
    max_loss : float, default 0.10
        Largest relative accuracy loss against the full curve, ``1 - acc / acc_full``.

    Returns
    -------
    dict
        ``study``, ``n_stars``, ``class_counts``, ``correct_if`` (``argmax`` or ``p_true>0.5``),
        ``reference`` (``full``), ``accuracy`` and ``accuracy_by_class`` (per paper-shaped column and
        ``full``), ``mean_p_true``, ``max_relative_loss``, ``curve`` (per setting: ``setting``
        — the kept fraction of the cycle or the interval in days —, ``cut``, ``accuracy``,
        ``accuracy_by_class``, ``relative_loss``) and ``max_cut`` (``overall`` and ``by_class``: the
        largest ``observation_time_cut`` with its ``window``, or ``sampling_points_cut`` with its
        ``interval_days``, with the accuracy and relative loss there and ``interpolated_cut``
        between grid points; None where the reference accuracy is 0). An empty catalog raises
        :class:`~lcml.errors.InputError`.
    """
    if not isinstance(catalog, pd.DataFrame) or catalog.empty:
        raise InputError("the catalog is empty: nothing to summarise")
    if not (math.isfinite(max_loss) and 0.0 <= max_loss < 1.0):
        raise InputError(f"max_loss must be a fraction in [0, 1), got {max_loss}")
    kind = kind or infer_kind(catalog)
    if kind not in ("phase", "sampling"):
        raise InputError(f"kind must be 'phase' or 'sampling', got {kind!r}")
    grid = grid_columns(catalog)
    truth = _labels(catalog, labels)
    classes = sorted(truth.unique())
    accuracy: dict[str, float] = {}
    by_class: dict[str, dict[str, float]] = {c: {} for c in classes}
    rule = "argmax"
    for col in [*grid, *([FULL] if FULL in catalog else [])]:
        ok, rule_col = _correct(catalog, col, truth)
        rule = rule_col if col != FULL else rule
        accuracy[col], per = _accuracy(ok, truth, classes)
        for c in classes:
            by_class[c][col] = per[c]
    reference_col = FULL if FULL in catalog else (grid[0] if kind == "sampling" else None)
    ref = accuracy.get(reference_col, float("nan")) if reference_col else float("nan")
    ref_by = {c: (by_class[c].get(reference_col, float("nan")) if reference_col else float("nan")) for c in classes}

    curve: list[dict[str, Any]] = []
    if kind == "phase":
        key, setting = "observation_time_cut", "window"
        for name in catalog.columns:
            if str(name).startswith("acc_keep_"):
                w = float(str(name).removeprefix("acc_keep_"))
                acc, per = _accuracy(catalog[name].astype(float), truth, classes)
                curve.append({"setting": w, "cut": 1.0 - w, "accuracy": acc, "accuracy_by_class": per})
    else:
        key, setting = "sampling_points_cut", "interval_days"
        for col in grid:
            counts = f"n_{col}"
            if counts in catalog and "n_points" in catalog:
                share = catalog[counts].astype(float) / catalog["n_points"].astype(float).where(catalog["n_points"] > 0)
                cut = float(1.0 - share.mean())
            else:  # the paper's files carry no point counts: regular sampling from the finest interval
                cut = 1.0 - float(grid[0]) / float(col)
            curve.append({"setting": float(col), "cut": cut, "accuracy": accuracy[col],
                          "accuracy_by_class": {c: by_class[c][col] for c in classes}})
    for point in curve:
        point["relative_loss"] = (1.0 - point["accuracy"] / ref) if math.isfinite(ref) and ref > 0 else None
    return {
        "study": kind,
        "n_stars": int(len(catalog)),
        "class_counts": {c: int((truth == c).sum()) for c in classes},
        "correct_if": rule,
        "reference": reference_col,
        "max_relative_loss": max_loss,
        "accuracy": accuracy,
        "accuracy_by_class": by_class,
        "mean_p_true": {col: float(catalog[col].astype(float).mean()) for col in accuracy},
        "curve": curve,
        "max_cut": {
            "overall": _max_cut(curve, ref, max_loss, key, setting),
            "by_class": {c: _max_cut(curve, ref_by[c], max_loss, key, setting, by=c) for c in classes},
        },
    }


def paper_importance(catalog: pd.DataFrame) -> pd.DataFrame:
    """``Star`` and the phase columns min-max normalised per star, as the paper publishes them.

    The published phase catalog scales each star's values to [0, 1]; a star whose values are all
    equal (or all NaN) gets NaN, as the paper's 169 such stars do.
    """
    grid = grid_columns(catalog)
    values = catalog[grid].astype(float)
    low, high = values.min(axis=1), values.max(axis=1)
    span = (high - low).where(high > low)
    out = values.sub(low, axis=0).div(span, axis=0)
    return pd.concat([catalog[[STAR]], out], axis=1)


# ---------------------------------------------------------------- files


def summary_path(path: str | Path) -> Path:
    """Where the summary JSON of catalog ``path`` goes: ``<stem>.summary.json`` beside it."""
    path = Path(path)
    return path.with_name(f"{path.stem}.summary.json")


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None  # JSON has no NaN
    if isinstance(value, np.integer):
        return int(value)
    return value


def _replace(path: Path, write) -> None:
    """Write via a temporary file and rename, so a reader never sees half a catalog."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_catalog(
    catalog: pd.DataFrame,
    path: str | Path,
    *,
    summary: dict[str, Any] | None = None,
    labels: Sequence[str] | Mapping[str, str] | pd.Series | None = None,
) -> tuple[Path, Path]:
    """Write the catalog CSV (the paper's columns first) and its summary JSON beside it.

    Parameters
    ----------
    catalog : pandas.DataFrame
        From :func:`phase_study` or :func:`sampling_study`.
    path : str or Path
        The CSV; the summary goes to :func:`summary_path` (``<stem>.summary.json``).
    summary : dict, optional
        Default: :func:`summarise` of the catalog (with ``labels``).

    Returns
    -------
    tuple of Path
        The CSV and the JSON.
    """
    path = Path(path)
    grid_columns(catalog)  # refuses anything that is not a study catalog before writing
    summary = summary if summary is not None else summarise(catalog, labels)
    path.parent.mkdir(parents=True, exist_ok=True)
    # floats as repr (17 significant digits) and NaN as an empty field, as in the paper's files
    _replace(path, lambda tmp: catalog.to_csv(tmp, index=False))
    target = summary_path(path)
    _replace(target, lambda tmp: tmp.write_text(json.dumps(_json_safe(summary), indent=2) + "\n"))
    return path, target


def read_catalog(path: str | Path) -> pd.DataFrame:
    """Read a catalog CSV (lcml's or the paper's) with its column names kept as written."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such catalog")
    # round_trip: the repr floats written by write_catalog come back bit for bit
    frame = pd.read_csv(path, dtype={STAR: str, "object_id": str, "label": str}, float_precision="round_trip")
    for col in frame.columns:
        if str(col).startswith("pred_"):
            frame[col] = frame[col].astype(object).where(frame[col].notna(), None)
    return frame


# ---------------------------------------------------------------- what `lcml study` calls


def run_study(
    kind: StudyKind,
    model_uri: str,
    output: str | Path,
    *,
    release: str | None = None,
    split: str | None = "test",
    profile: str | None = None,
    windows: Sequence[float] | None = None,
    starts: Sequence[float] | None = None,
    intervals: Sequence[float] | None = None,
    max_loss: float = MAX_RELATIVE_LOSS,
    progress: bool = False,
) -> dict[str, Any]:
    """Run one study on a split of a release and write its catalog and summary.

    Parameters
    ----------
    kind : {"phase", "sampling"}
    model_uri : str
        e.g. ``models:/kepler-variable-star-classifier@champion``.
    output : str or Path
        Catalog CSV; the summary JSON goes beside it.
    release : str, optional
        ``<survey>/<version>``; default the one in params.yaml.
    split : {"train", "val", "test"} or None, default "test"
        None studies every labelled star of the release.

    Returns
    -------
    dict
        ``catalog`` and ``summary_path`` (str), ``release``, ``split``, and the ``summary``.
    """
    from lcml.data import release as rel
    from lcml.pipeline import context

    if kind not in ("phase", "sampling"):
        raise InputError(f"study must be 'phase' or 'sampling', got {kind!r}")
    params, paths = context(profile)
    rid = release or rel.release_id(params.data.survey, params.data.release)
    folder = rel.release_dir(paths, rid)
    if not folder.is_dir():
        raise InputError(f"release {rid} not found at {folder} (build it with `lcml data build`)")
    if rel.read_manifest(folder).get("folded"):
        raise InputError(f"release {rid} holds phase-folded curves; the studies need raw light curves in time")
    try:
        frame = rel.load_release(folder, split, params.data.split)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    if frame.empty:
        raise InputError(f"release {rid} has no labelled light curves in split {split!r}")
    if kind == "phase":
        catalog = phase_study(model_uri, frame, windows=windows or DEFAULT_WINDOWS,
                              starts=starts or PAPER_PHASE_STARTS, progress=progress)
    else:
        catalog = sampling_study(model_uri, frame, intervals=intervals or PAPER_INTERVALS, progress=progress)
    summary = summarise(catalog, kind=kind, max_loss=max_loss)
    summary.update({"model": model_uri, "release": rid, "split": split})
    csv, js = write_catalog(catalog, output, summary=summary)
    return {"catalog": str(csv), "summary_path": str(js), "release": rid, "split": split, "summary": summary}


def format_summary(summary: dict[str, Any]) -> str:
    """A few lines for the terminal: accuracy along the curve and the largest cut within the loss."""
    kind = summary["study"]
    what = "observation time" if kind == "phase" else "sampling points"
    name = "kept" if kind == "phase" else "dt (d)"
    ref = summary["reference"]
    ref_acc = summary["accuracy"].get(ref, float("nan")) if ref else float("nan")
    lines = [f"{kind} study: {summary['n_stars']} stars, accuracy on the reference ({ref or 'none'}) "
             f"{ref_acc:.3f} (correct = {summary['correct_if']})"]
    for p in summary["curve"]:
        lines.append(f"  {name} {p['setting']:<6g} cut {p['cut']:6.1%}  accuracy {p['accuracy']:.3f}")
    loss = summary["max_relative_loss"]

    def cut(entry: dict[str, Any] | None) -> str:
        if entry is None:
            return "n/a (no star right on the reference)"
        key = "observation_time_cut" if kind == "phase" else "sampling_points_cut"
        return (f"{entry[key]:.0%} measured, {entry['interpolated_cut']:.0%} interpolated "
                f"(accuracy {entry['accuracy']:.3f}, loss {entry['relative_loss']:.1%})")

    lines.append(f"largest {what} cut with <= {loss:.0%} accuracy loss: {cut(summary['max_cut']['overall'])}")
    for c, entry in summary["max_cut"]["by_class"].items():
        lines.append(f"  {c:<6} {cut(entry)}")
    return "\n".join(lines)

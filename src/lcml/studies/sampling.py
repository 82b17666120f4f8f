"""The sampling study: accuracy as the sampling interval grows (see :mod:`lcml.studies.catalogs`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from lcml.studies.common import FULL, PAPER_INTERVALS, _Model, _check_frame, _check_labels, _chunks, _curves, _head, _intervals, _p_true, _valid, _variant, column_name


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

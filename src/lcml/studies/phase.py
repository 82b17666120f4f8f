"""The phase study: accuracy as a function of which window of each cycle is observed (see :mod:`lcml.studies.catalogs`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from lcml.studies.common import DEFAULT_WINDOWS, FULL, PAPER_PHASE_STARTS, PAPER_WINDOW, _Model, _check_frame, _check_labels, _chunks, _curves, _fractions, _head, _p_true, _starts, _valid, _variant, column_name


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
        rows += [_row(frame, i, scores, counts[i], periods[i], cols, starts, fractions, windows, catalog_window)
                 for i in chunk]
        bar.update(len(chunk))
    bar.close()
    body = pd.DataFrame(rows)
    extras = ["object_id", "label", "n_points", "period_days", FULL, f"pred_{FULL}",
              *[f"pred_{c}" for c in cols], *[f"keep_{w:g}" for w in windows],
              *[f"acc_keep_{w:g}" for w in windows]]
    return pd.concat([pd.DataFrame(_head(frame)), body[cols + extras]], axis=1)


def _row(frame: pd.DataFrame, i: int, scores: pd.DataFrame, n_points: int, period: float, cols: list[str],
         starts: list[float], fractions: list[float], windows: list[float], catalog_window: float) -> dict[str, Any]:
    """One star's catalog row: the paper's window columns, predictions, and the kept-fraction sweep."""
    label = str(frame.at[i, "label"])
    row: dict[str, Any] = {"object_id": frame.at[i, "object_id"], "label": label, "n_points": n_points,
                           "period_days": period}
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
    return row

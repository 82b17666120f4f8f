"""A study's catalog turned into the paper's summary, and catalogs written and read (see :mod:`lcml.studies.catalogs`)."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lcml.errors import InputError
from lcml.studies.common import FULL, MAX_RELATIVE_LOSS, STAR, StudyKind


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

    curve, key, setting = _curve(catalog, kind, grid, accuracy, by_class, truth, classes)
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


def _curve(catalog: pd.DataFrame, kind: StudyKind, grid: list[str], accuracy: dict[str, float],
           by_class: dict[str, dict[str, float]], truth: pd.Series, classes: list[str]
           ) -> tuple[list[dict[str, Any]], str, str]:
    """Accuracy against the cut (observation time kept, or sampling points dropped); the cut's and setting's names."""
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
    return curve, key, setting


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

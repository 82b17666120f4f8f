"""Drift between two releases: per-object light-curve statistics, catalog columns and class mix.

The one drift computation of lcml: validation compares a release with the survey's previous one, and
training compares it with the champion's training release, both with :func:`release_drift` and one
KS test (:func:`ks_compare`).

Cheap statistics on purpose (no period search): they run on every retrain and flag the changes that
matter to a classifier — cadence and coverage, amplitude, noise level, and class proportions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

#: A statistic drifts when the two-sample KS test rejects at this level AND the effect is this large.
P_VALUE = 0.01
MIN_KS = 0.1
MIN_CLASS_SHIFT = 0.05
#: Metadata columns compared besides the magnitudes (see :func:`release_drift`).
DRIFT_METADATA_COLUMNS = ("period", "amplitude")


def ks_compare(reference: np.ndarray, current: np.ndarray) -> dict[str, Any]:
    """Two-sample KS test of one statistic; it drifts when p < :data:`P_VALUE` and KS >= :data:`MIN_KS`."""
    from scipy.stats import ks_2samp

    reference, current = np.asarray(reference, float), np.asarray(current, float)
    test = ks_2samp(reference, current)
    return {
        "reference_median": float(np.median(reference)),
        "current_median": float(np.median(current)),
        "ks_statistic": float(test.statistic),
        "p_value": float(test.pvalue),
        "drifted": bool(test.pvalue < P_VALUE and test.statistic >= MIN_KS),
    }


def curve_stats(frame: pd.DataFrame) -> pd.DataFrame:
    """Per-object n_points, baseline_days, amplitude (2.5–97.5 % range of flux), median flux_err, and the
    label; on ``frame``'s index. A missing list counts as empty."""
    rows = []
    for t, f, e in zip(frame["time"], frame["flux"], frame["flux_err"]):
        t, f, e = (np.asarray(x if x is not None else [], float) for x in (t, f, e))
        rows.append({
            "n_points": float(t.size),
            "baseline_days": float(t[-1] - t[0]) if t.size else 0.0,
            "amplitude": float(np.percentile(f, 97.5) - np.percentile(f, 2.5)) if f.size else 0.0,
            "median_flux_err": float(np.median(e)) if e.size else 0.0,
        })
    stats = pd.DataFrame(rows, columns=list(STAT_COLUMNS), index=frame.index, dtype=float)
    return stats.assign(label=frame["label"].astype(object))


#: the light-curve statistics compared (:func:`curve_stats`)
STAT_COLUMNS = ("n_points", "baseline_days", "amplitude", "median_flux_err")


def release_stats(folder: Path) -> pd.DataFrame:
    """:func:`curve_stats` of a release's usable rows, read a batch at a time (a release of any size)."""
    from lcml.data import release as rel

    parts = [curve_stats(frame) for frame in rel.scan_release(folder, ["object_id", "label", "time", "flux", "flux_err"],
                                                               usable_only=True)]
    return pd.concat(parts) if parts else pd.DataFrame(columns=[*STAT_COLUMNS, "label"])


def drift_report(reference: pd.DataFrame, current: pd.DataFrame, *, reference_id: str, current_id: str) -> dict[str, Any]:
    """Compare ``current`` with ``reference`` (both release frames); ``drifted`` lists what moved."""
    return stats_drift(curve_stats(reference), curve_stats(current), reference_id=reference_id, current_id=current_id)


def stats_drift(ref: pd.DataFrame, cur: pd.DataFrame, *, reference_id: str, current_id: str) -> dict[str, Any]:
    """:func:`drift_report` from the releases' :func:`curve_stats` (what a streaming reader keeps)."""
    features = {col: ks_compare(ref[col].to_numpy(), cur[col].to_numpy()) for col in STAT_COLUMNS}
    ref_mix = ref["label"].value_counts(normalize=True)
    cur_mix = cur["label"].value_counts(normalize=True)
    classes = sorted(set(ref_mix.index) | set(cur_mix.index))
    mix = {c: {"reference": float(ref_mix.get(c, 0.0)), "current": float(cur_mix.get(c, 0.0))} for c in classes}
    shifted = [c for c, v in mix.items() if abs(v["current"] - v["reference"]) >= MIN_CLASS_SHIFT]
    return {
        "reference_release": reference_id,
        "current_release": current_id,
        "n_reference": int(len(ref)),
        "n_current": int(len(cur)),
        "features": features,
        "class_mix": mix,
        "drifted": [k for k, v in features.items() if v["drifted"]] + [f"class:{c}" for c in shifted],
    }


def release_drift(
    previous: Path,
    current: pd.DataFrame,
    current_objects: pd.DataFrame | None,
    *,
    current_id: str,
) -> dict[str, Any]:
    """Drift of the accepted objects against the previous release's accepted objects.

    Light-curve statistics (points, baseline, flux amplitude, noise) and the class mix come from
    :func:`drift_report`. Catalog period, amplitude and magnitudes (columns
    :data:`DRIFT_METADATA_COLUMNS` and names ending in ``mag``) are compared the same way (KS test,
    :data:`P_VALUE` and :data:`MIN_KS`) when both releases have them
    in ``objects.parquet``, as ``metadata.<column>``. No period search runs here: it is too slow for
    every validation, so a release without a catalog period reports period as not available.

    Parameters
    ----------
    previous
        Folder of the previous release (validated: its quarantine is left out).
    current, current_objects
        :func:`curve_stats` of this release's accepted light-curve rows, and its accepted metadata rows.
    """
    from lcml.data import release as rel
    from lcml.data.validation.metadata import magnitude_column

    reference_id = f"{previous.parent.name}/{previous.name}"
    reference = release_stats(previous)
    if reference.empty or current.empty:
        return {"reference_release": reference_id, "current_release": current_id, "features": {}, "drifted": [],
                "skipped": "no accepted objects in " + (reference_id if reference.empty else current_id)}
    report = stats_drift(reference, current, reference_id=reference_id, current_id=current_id)
    ref_objects_path = previous / rel.OBJECTS
    ref_objects = pd.read_parquet(ref_objects_path) if ref_objects_path.is_file() else None
    if ref_objects is not None:
        ref_objects = ref_objects[~ref_objects["object_id"].isin(rel.quarantined_ids(previous))]
    wanted = list(DRIFT_METADATA_COLUMNS)
    for objects in (ref_objects, current_objects):
        if objects is not None:
            wanted += [c for c in objects.columns if magnitude_column(c) and c not in wanted]
    unavailable = []
    for name in wanted:
        values = []
        for objects in (ref_objects, current_objects):
            column = objects[name] if objects is not None and name in objects.columns else None
            numbers = pd.to_numeric(column, errors="coerce").to_numpy(float) if column is not None else np.array([])
            values.append(numbers[np.isfinite(numbers)])
        if min(v.size for v in values) < 2:
            unavailable.append(name)
            continue
        report["features"][f"metadata.{name}"] = ks_compare(*values)
    # same order as drift_report: features, then class shifts
    report["drifted"] = ([k for k, v in report["features"].items() if v["drifted"]]
                         + [d for d in report["drifted"] if d.startswith("class:")])
    report["not_available"] = unavailable
    return report

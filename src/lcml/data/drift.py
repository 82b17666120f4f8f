"""Drift between two releases: per-object light-curve statistics and class mix.

Cheap statistics on purpose (no period search): they run on every retrain and flag the changes that
matter to a classifier — cadence and coverage, amplitude, noise level, and class proportions.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

#: A statistic drifts when the two-sample KS test rejects at this level AND the effect is this large.
P_VALUE = 0.01
MIN_KS = 0.1
MIN_CLASS_SHIFT = 0.05


def curve_stats(frame: pd.DataFrame) -> pd.DataFrame:
    """Per-object n_points, baseline_days, amplitude (2.5–97.5 % range of flux), median flux_err."""
    rows = []
    for t, f, e in zip(frame["time"], frame["flux"], frame["flux_err"]):
        t, f, e = np.asarray(t, float), np.asarray(f, float), np.asarray(e, float)
        rows.append({
            "n_points": float(t.size),
            "baseline_days": float(t[-1] - t[0]) if t.size else 0.0,
            "amplitude": float(np.percentile(f, 97.5) - np.percentile(f, 2.5)) if f.size else 0.0,
            "median_flux_err": float(np.median(e)) if e.size else 0.0,
        })
    return pd.DataFrame(rows)


def drift_report(reference: pd.DataFrame, current: pd.DataFrame, *, reference_id: str, current_id: str) -> dict[str, Any]:
    """Compare ``current`` with ``reference`` (both release frames); ``drifted`` lists what moved."""
    from scipy.stats import ks_2samp

    ref, cur = curve_stats(reference), curve_stats(current)
    features = {}
    for col in ref.columns:
        test = ks_2samp(ref[col], cur[col])
        features[col] = {
            "reference_median": float(ref[col].median()),
            "current_median": float(cur[col].median()),
            "ks_statistic": float(test.statistic),
            "p_value": float(test.pvalue),
            "drifted": bool(test.pvalue < P_VALUE and test.statistic >= MIN_KS),
        }
    ref_mix = reference["label"].value_counts(normalize=True)
    cur_mix = current["label"].value_counts(normalize=True)
    classes = sorted(set(ref_mix.index) | set(cur_mix.index))
    mix = {c: {"reference": float(ref_mix.get(c, 0.0)), "current": float(cur_mix.get(c, 0.0))} for c in classes}
    shifted = [c for c, v in mix.items() if abs(v["current"] - v["reference"]) >= MIN_CLASS_SHIFT]
    return {
        "reference_release": reference_id,
        "current_release": current_id,
        "n_reference": int(len(reference)),
        "n_current": int(len(current)),
        "features": features,
        "class_mix": mix,
        "drifted": [k for k, v in features.items() if v["drifted"]] + [f"class:{c}" for c in shifted],
    }

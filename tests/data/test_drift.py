import numpy as np
import pandas as pd

from lcml.data.drift import drift_report


def frame(n, days, noise, seed, labels=("RR", "EB")):
    rng = np.random.default_rng(seed)
    t = np.arange(0, days, 0.02)
    return pd.DataFrame({
        "object_id": [f"o{i}" for i in range(n)],
        "label": [labels[i % len(labels)] for i in range(n)],
        "time": [t] * n,
        "flux": [1 + rng.normal(0, noise, t.size) for _ in range(n)],
        "flux_err": [np.full(t.size, noise)] * n,
    })


def test_same_distribution_does_not_drift():
    report = drift_report(frame(80, 10, 0.01, 0), frame(80, 10, 0.01, 1), reference_id="a", current_id="b")
    assert report["drifted"] == []
    assert report["n_reference"] == report["n_current"] == 80


def test_longer_noisier_release_and_new_class_mix_drift():
    ref = frame(80, 10, 0.01, 0)
    cur = frame(80, 14, 0.03, 1, labels=("RR", "RR", "EB"))
    report = drift_report(ref, cur, reference_id="kepler/v1", current_id="kepler/v2")
    assert {"n_points", "baseline_days", "amplitude", "median_flux_err"} <= set(report["drifted"])
    assert "class:RR" in report["drifted"]
    assert report["class_mix"]["RR"]["current"] > report["class_mix"]["RR"]["reference"]

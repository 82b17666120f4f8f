"""K2SC phase-folded curves and K2VARCAT labels, on the real files."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest

from lcml.data.schema import LIGHTCURVE_SCHEMA
from lcml.surveys import classes_for
from lcml.data.sources.k2 import FLUX_ERR_FLOOR, estimate_flux_err, read_k2_folded, read_k2varcat_labels
from lcml.errors import InputError

README_COUNTS = {"Noise": 125, "OTHPER": 91, "EA": 67, "EB": 56, "DSCUT": 38, "RRab": 37, "GDOR": 31}


@pytest.fixture(scope="module")
def k2(real_data):
    return read_k2_folded(real_data / "k2" / "k2sc_phasefolded_64bin.parquet")


def test_folded_release_from_the_real_file(k2, real_data):
    raw = pd.read_parquet(real_data / "k2" / "k2sc_phasefolded_64bin.parquet")
    assert k2.folded and k2.lightcurves.schema.equals(LIGHTCURVE_SCHEMA)
    assert k2.lightcurves.num_rows + len(k2.rejected) == len(raw) == 445
    assert Counter(k2.lightcurves.column("label").to_pylist()) == README_COUNTS
    assert set(classes_for("k2")) == set(README_COUNTS)
    n_nan = int(sum(np.isnan(f).sum() for f in raw["flux"]))
    assert n_nan > 0 and k2.objects["n_dropped_points"].sum() == n_nan
    for row in k2.lightcurves.to_pylist():
        phase, err = np.asarray(row["time"]), np.asarray(row["flux_err"])
        assert (phase >= 0).all() and (phase < 1).all() and (np.diff(phase) > 0).all()
        assert (err > 0).all()


def test_flux_is_the_file_flux_at_bin_centres(k2, real_data):
    raw = pd.read_parquet(real_data / "k2" / "k2sc_phasefolded_64bin.parquet")
    first = k2.lightcurves.to_pylist()[0]
    assert first["object_id"] == f"EPIC {raw['epic'].iloc[0]}"
    np.testing.assert_allclose(first["flux"], raw["flux"].iloc[0][np.isfinite(raw["flux"].iloc[0])])
    assert first["time"][:2] == [0.5 / 64, 1.5 / 64]
    assert k2.objects["campaign"].isin([1, 2]).all()


def test_flux_err_estimate_tracks_the_noise():
    rng = np.random.default_rng(3)
    phase = (np.arange(64) + 0.5) / 64
    noisy = 0.5 + 0.4 * np.sin(2 * np.pi * phase) + rng.normal(0, 0.05, 64)
    assert 0.03 < estimate_flux_err(noisy) < 0.08
    assert estimate_flux_err(np.full(64, 0.3)) == FLUX_ERR_FLOOR


def test_k2varcat_labels(real_data, tmp_path):
    labels = read_k2varcat_labels(real_data / "k2" / "k2varcat_labels.csv")
    assert list(labels.columns) == ["epic", "campaign", "label"] and len(labels) == 68910
    assert labels["epic"].dtype == "int64" and set(labels["label"]) == set(classes_for("k2"))
    (tmp_path / "bad.csv").write_text("epic,label\n1,EA\n")
    with pytest.raises(InputError, match="bad.csv: missing column\\(s\\) campaign"):
        read_k2varcat_labels(tmp_path / "bad.csv")
    (tmp_path / "text.csv").write_text("epic,campaign,label\n201,1,EA\nEPIC x,1,EB\n")
    with pytest.raises(InputError, match="text.csv: line 3: epic 'EPIC x' is not an integer"):
        read_k2varcat_labels(tmp_path / "text.csv")


def test_rows_without_finite_bins_are_rejected(tmp_path):
    frame = pd.DataFrame({"epic": [1, 2], "campaign": [1, 1], "label": ["EA", None],
                          "flux": [np.linspace(0, 1, 8), np.full(8, np.nan)]})
    frame.to_parquet(tmp_path / "folded.parquet")
    result = read_k2_folded(tmp_path / "folded.parquet")
    assert result.lightcurves.column("object_id").to_pylist() == ["EPIC 1"]
    assert result.rejected.to_dict("records") == [
        {"object_id": "EPIC 2", "source": f"{tmp_path / 'folded.parquet'} row 1", "reason": "no finite flux bin (of 8)"}
    ]
    frame.drop(columns="label").to_parquet(tmp_path / "nolabel.parquet")
    with pytest.raises(InputError, match="missing column\\(s\\) label"):
        read_k2_folded(tmp_path / "nolabel.parquet")

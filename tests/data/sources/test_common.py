"""The shared result type and helpers of the survey readers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from lcml.data.schema import LIGHTCURVE_SCHEMA
from lcml.data.sources import (
    Ingested,
    check_accounted,
    lightcurve_table,
    mags_to_flux,
    rejected_frame,
    segment_medians,
)
from lcml.errors import LcmlError


def _one_curve() -> pa.Table:
    return lightcurve_table(["a"], ["EW"], [np.array([1.0, 2.0])], [np.array([1.0, 1.1])], [np.array([0.1, 0.1])])


def test_check_accounted_raises_when_an_object_is_missing():
    ingested = Ingested(_one_curve(), None, rejected_frame([{"object_id": "b", "source": "f", "reason": "bad"}]), "x")
    assert check_accounted(2, ingested) is ingested
    with pytest.raises(LcmlError, match="3 input objects but 1 ingested \\+ 1 rejected"):
        check_accounted(3, ingested)


def test_ingested_casts_to_the_schema_and_refuses_extra_columns():
    table = pa.table({"object_id": ["a"], "label": [None], "time": [[1, 2]], "flux": [[1.0, 1.0]],
                      "flux_err": [[0.1, 0.1]]})
    ingested = Ingested(table, None, None, "x")
    assert ingested.lightcurves.schema.equals(LIGHTCURVE_SCHEMA)
    assert list(ingested.rejected.columns) == ["object_id", "source", "reason"]
    with pytest.raises(LcmlError, match="exactly"):
        Ingested(table.append_column("band", pa.array([["V", "V"]])), None, None, "x")
    with pytest.raises(LcmlError, match="object_id"):
        Ingested(table, pd.DataFrame({"period": [1.0], "object_id": ["a"]}), None, "x")


def test_segment_medians_match_numpy_including_empty_segments():
    rng = np.random.default_rng(1)
    lengths = np.array([5, 0, 1, 2, 8, 0])
    values = rng.normal(size=lengths.sum())
    got = segment_medians(values, lengths)
    parts = np.split(values, np.cumsum(lengths)[:-1])
    expected = [np.median(p) if len(p) else np.nan for p in parts]
    np.testing.assert_allclose(got, expected)


def test_mags_to_flux_reference_magnitude_is_unit_flux():
    flux, err = mags_to_flux(np.array([15.0, 16.0, 14.0]), np.array([0.1, 0.1, 0.1]), 15.0)
    np.testing.assert_allclose(flux, [1.0, 10 ** -0.4, 10 ** 0.4])
    np.testing.assert_allclose(err, 0.4 * np.log(10) * flux * 0.1)


def test_counted_yields_everything_and_reports_at_most_every_so_often(caplog):
    from lcml.data.sources import counted

    with caplog.at_level("INFO", logger="lcml.data"):
        assert list(counted(range(4), 4, "files", every=0.0)) == [0, 1, 2, 3]
    assert [r.getMessage() for r in caplog.records] == [
        "read 1 of 4 files (25%)", "read 2 of 4 files (50%)", "read 3 of 4 files (75%)", "read 4 of 4 files (100%)"]
    caplog.clear()
    with caplog.at_level("INFO", logger="lcml.data"):
        assert list(counted(range(1000), 1000, "files", every=3600.0)) == list(range(1000))
    assert caplog.records == []  # fast work says nothing

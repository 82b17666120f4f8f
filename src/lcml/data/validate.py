"""Great Expectations validation of a release; rejected rows go to quarantine with their reasons.

Per-row properties of the list columns (point counts, monotonic time, finiteness) are computed with
NumPy, then checked by a GX expectation suite together with the plain columns (unique ids, known
labels). Every row that fails any expectation is written to ``quarantine.parquet`` with all its
reasons; nothing is dropped silently. Above ``validation.max_bad_fraction`` the release is rejected.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from lcml.data import release as rel
from lcml.errors import InputError, ValidationFailed

VALIDATION_REPORT = "validation.json"


@dataclass
class ValidationSummary:
    """What validation found; also written into the release manifest under ``validation``."""

    passed: bool
    n_rows: int
    n_quarantined: int
    bad_fraction: float
    max_bad_fraction: float
    reasons: dict[str, int] = field(default_factory=dict)
    failed_expectations: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def row_checks(frame: pd.DataFrame) -> pd.DataFrame:
    """Per-row facts about the list columns that the expectation suite checks."""

    def facts(t: Any, f: Any, e: Any) -> tuple[int, bool, bool, bool, bool]:
        t, f, e = (np.asarray(x if x is not None else [], dtype=float) for x in (t, f, e))
        same = len(t) == len(f) == len(e)
        if not same:  # the other checks are meaningless on ragged rows: report only this
            return len(f), False, True, True, True
        finite = bool(np.isfinite(t).all() and np.isfinite(f).all() and np.isfinite(e).all())
        increasing = bool(np.all(np.diff(t) > 0)) if np.isfinite(t).all() else False
        return len(t), same, finite, increasing, bool(np.all(e > 0))

    rows = [facts(t, f, e) for t, f, e in zip(frame["time"], frame["flux"], frame["flux_err"])]
    return pd.DataFrame(
        rows,
        columns=["n_points", "lengths_match", "values_finite", "time_increasing", "flux_err_positive"],
        index=frame.index,
    )


def _suite(min_points: int, classes: tuple[str, ...]) -> list[tuple[Any, str]]:
    import great_expectations as gx

    e = gx.expectations
    return [
        (e.ExpectColumnValuesToNotBeNull(column="object_id"), "missing object_id"),
        (e.ExpectColumnValuesToBeUnique(column="object_id"), "duplicate object_id"),
        (e.ExpectColumnValuesToBeInSet(column="lengths_match", value_set=[True]),
         "time, flux and flux_err differ in length"),
        (e.ExpectColumnValuesToBeBetween(column="n_points", min_value=min_points),
         f"fewer than {min_points} points"),
        (e.ExpectColumnValuesToBeInSet(column="values_finite", value_set=[True]), "non-finite time, flux or flux_err"),
        (e.ExpectColumnValuesToBeInSet(column="time_increasing", value_set=[True]), "time not strictly increasing"),
        (e.ExpectColumnValuesToBeInSet(column="flux_err_positive", value_set=[True]), "flux_err not positive"),
        (e.ExpectColumnValuesToBeInSet(column="label", value_set=list(classes)),
         f"label not one of {', '.join(classes)}"),
    ]


def run_expectations(table: pd.DataFrame, min_points: int, classes: tuple[str, ...]) -> tuple[dict[int, list[str]], dict]:
    """Validate ``table`` (plain columns + :func:`row_checks`) with GX; return reasons per row index."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch = (
        context.data_sources.add_pandas("lcml")
        .add_dataframe_asset("release")
        .add_batch_definition_whole_dataframe("all")
        .get_batch(batch_parameters={"dataframe": table.reset_index(drop=True)})
    )
    suite = gx.ExpectationSuite(name="lcml_release")
    reasons_by_type: list[str] = []
    for expectation, reason in _suite(min_points, classes):
        suite.add_expectation(expectation)
        reasons_by_type.append(reason)
    result = batch.validate(suite, result_format={"result_format": "COMPLETE"})
    bad: dict[int, list[str]] = {}
    report = {"success": bool(result.success), "great_expectations": gx.__version__, "expectations": []}
    for outcome, reason in zip(result.results, reasons_by_type):
        unexpected = outcome.result.get("unexpected_index_list") or []
        for idx in unexpected:
            bad.setdefault(int(idx), []).append(reason)
        # only deterministic fields: the report is part of the DVC-tracked release
        report["expectations"].append({
            "type": outcome.expectation_config.type,
            "kwargs": {k: v for k, v in outcome.expectation_config.kwargs.items() if k != "batch_id"},
            "success": bool(outcome.success),
            "unexpected_count": len(unexpected),
            "reason": reason,
        })
    return bad, report


def validate_release(
    folder: Path,
    *,
    min_points: int,
    classes: tuple[str, ...],
    max_bad_fraction: float,
) -> ValidationSummary:
    """Validate a release in place: write ``quarantine.parquet``, ``validation.json`` and the manifest.

    Raises
    ------
    ValidationFailed
        When the share of quarantined rows exceeds ``max_bad_fraction`` or no usable row is left.
        The quarantine and the report are written first, so the reasons can be inspected.
    """
    path = folder / rel.LIGHTCURVES
    if not path.is_file():
        raise InputError(f"{folder}: release has no {rel.LIGHTCURVES}")
    table = pq.read_table(path)
    frame = table.to_pandas()
    checks = row_checks(frame)
    view = pd.concat([frame[["object_id", "label"]], checks], axis=1)
    bad, report = run_expectations(view, min_points, classes)

    bad_idx = sorted(bad)
    quarantine = table.take(pa.array(bad_idx, type=pa.int64())).append_column(
        "reasons", pa.array([bad[i] for i in bad_idx], type=pa.list_(pa.string()))
    )
    pq.write_table(quarantine, folder / rel.QUARANTINE, compression="zstd")
    (folder / VALIDATION_REPORT).write_text(json.dumps(report, indent=1, default=str) + "\n")

    counts: dict[str, int] = {}
    for reasons in bad.values():
        for reason in reasons:
            counts[reason] = counts.get(reason, 0) + 1
    n_rows = len(frame)
    fraction = len(bad) / n_rows if n_rows else 1.0
    summary = ValidationSummary(
        passed=n_rows > len(bad) and fraction <= max_bad_fraction,
        n_rows=n_rows,
        n_quarantined=len(bad),
        bad_fraction=round(fraction, 6),
        max_bad_fraction=max_bad_fraction,
        reasons=dict(sorted(counts.items(), key=lambda kv: -kv[1])),
        failed_expectations=sorted({r for rs in bad.values() for r in rs}),
    )
    rel.update_manifest(folder, validation=summary.as_dict())
    if not summary.passed:
        top = "; ".join(f"{k}: {v}" for k, v in list(summary.reasons.items())[:3]) or "no rows"
        raise ValidationFailed(
            f"release {folder.parent.name}/{folder.name} failed validation: {len(bad)}/{n_rows} rows "
            f"quarantined ({fraction:.1%} > {max_bad_fraction:.1%} allowed) — {top}; see {folder / rel.QUARANTINE}"
        )
    return summary

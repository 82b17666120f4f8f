"""Great Expectations validation of a release; rejected objects go to quarantine with their reasons.

Each modality of a release has its own GX expectation suite (definitions in :mod:`lcml.data.validation.suites`):
light curves (``lightcurves.parquet``), spectra (``spectra.parquet``, when present) and per-object
metadata (``objects.parquet``, when present). Per-row properties of list columns (point counts,
monotonic axes, finiteness) are computed with NumPy first, then checked by the suites together with
the plain columns.

The unit of quarantine is the *object*: an object fails when any row of any modality about it fails,
and then every light-curve row of it goes to ``quarantine.parquet`` with all its reasons (reasons of
the spectra and metadata suites start with ``"spectra: "`` / ``"metadata: "``). A spectrum or
metadata row whose object has no light curve is an object of its own, quarantined with null
light-curve columns. So ``n_objects == n_accepted + n_objects_quarantined`` always holds; the summary
states it. Above ``max_bad_fraction`` of the objects quarantined the release is rejected.

Release-level checks (label taxonomy, per-class minimum counts, drift against a previous release)
are reported as flags; only ``min_per_class_required`` turns a thin class into a failure.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from lcml.data import release as rel
from lcml.data.sources.astrom3 import ASTROM3_WAVELENGTH_RANGE
from lcml.data.validation import metadata, suites
from lcml.data.validation.gx import SuiteOutcome, _Gx
from lcml.data.validation.quarantine import sort_objects
from lcml.data.validation.rows import (  # noqa: F401 - ingest and the tests read them here too
    merge_duplicate_times, merge_duplicate_times_table, row_checks,
)
from lcml.data.validation.summary import LOCAL_FIELDS, ValidationSummary, accounting  # noqa: F401
from lcml.errors import InputError, ValidationFailed

VALIDATION_REPORT = "validation.json"
#: Optional per-object spectra of a release (AstroM3): ``object_id``, ``wavelength``, ``flux``, ``ivar``.
SPECTRA = "spectra.parquet"
DUPLICATE_TIME_MODES = ("reject", "merge")


# ---------------------------------------------------------------- modalities


def _string_ids(values: pd.Series) -> pd.Series:
    # Side tables may carry ids as numbers; the light curves' ids are strings.
    return values.map(lambda v: None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))


def _read_spectra(folder: Path) -> pd.DataFrame | None:
    path = folder / SPECTRA
    if not path.is_file():
        return None
    frame = pd.read_parquet(path)
    missing = [c for c in suites.SPECTRA_COLUMNS if c not in frame.columns]
    if missing:  # nothing can be checked or attributed without them: the release is malformed
        expected = ", ".join(suites.SPECTRA_COLUMNS)
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}; expected {expected}")
    return frame.assign(object_id=_string_ids(frame["object_id"])).reset_index(drop=True)


def _read_objects(folder: Path) -> pd.DataFrame | None:
    path = folder / rel.OBJECTS
    if not path.is_file():
        return None
    frame = pd.read_parquet(path)
    if "object_id" not in frame.columns:
        raise InputError(f"{path}: no object_id column")
    return frame.assign(object_id=_string_ids(frame["object_id"])).reset_index(drop=True)


def _resolve_folded(folder: Path, manifest: dict[str, Any], folded: bool | None) -> bool:
    declared = manifest.get("folded")
    if folded is None:
        return bool(declared)
    if declared is not None and bool(declared) != folded:
        raise InputError(f"{folder}: manifest says folded={str(bool(declared)).lower()} but folded={folded} was passed")
    return folded


# ---------------------------------------------------------------- release


def validate_release(
    folder: Path,
    *,
    min_points: int,
    classes: tuple[str, ...],
    max_bad_fraction: float,
    folded: bool | None = None,
    duplicate_times: Literal["reject", "merge"] = "reject",
    wavelength_range: tuple[float, float] | None = ASTROM3_WAVELENGTH_RANGE,
    metadata_required: tuple[str, ...] = (),
    metadata_ranges: Mapping[str, tuple[float | None, float | None] | None] | None = None,
    min_per_class: int = 0,
    min_per_class_required: bool = False,
    previous: Path | None = None,
    previous_reason: str = "the survey's previous release",
    docs_dir: Path | None = None,
) -> ValidationSummary:
    """Validate a release in place: write ``quarantine.parquet``, ``validation.json`` and the manifest.

    Parameters
    ----------
    folder
        The release folder.
    min_points
        Minimum points per light curve; for a folded release, minimum phase bins.
    classes
        The survey's taxonomy.
    max_bad_fraction
        Largest tolerated share of quarantined objects.
    folded
        Pre-folded curves (e.g. K2 64-bin): ``time`` is phase and must lie in [0, 1]. ``None`` reads
        ``"folded"`` from the manifest (default ``False``); a value contradicting the manifest raises.
    duplicate_times
        ``"reject"``: a repeated timestamp fails "time not strictly increasing". ``"merge"``: the
        curves are judged as :func:`merge_duplicate_times` would leave them, and the merged points
        are counted in ``n_merged_points``. Validation never rewrites the light curves, so the
        release's data keeps its repeats unless the ingest merged them with
        :func:`merge_duplicate_times_table` (the place for it).
    wavelength_range
        Allowed spectrum wavelengths in Angstrom (``None``: no range check).
    metadata_required
        Columns of ``objects.parquet`` that must exist and be non-null for every object.
    metadata_ranges
        ``{column: (min, max)}`` added to / replacing :data:`lcml.data.validation.metadata.DEFAULT_METADATA_RANGES`
        and the magnitude range; ``None`` as a value drops a default.
    min_per_class
        Classes with fewer accepted objects are flagged (0: no check).
    min_per_class_required
        Make a class below ``min_per_class`` fail the release instead of only flagging it.
    previous
        Folder of the release to compare with: drift is reported (flagged, never a failure).
    previous_reason
        Why that one (the champion's training release, or the survey's previous release), for the report.
    docs_dir
        Folder for the HTML Data Docs (e.g. ``<state>/data_docs/<survey>/<version>``); built only
        when given. Earlier runs' pages in the folder stay listed in its index.

    Returns
    -------
    ValidationSummary

    Raises
    ------
    ValidationFailed
        When the share of quarantined objects exceeds ``max_bad_fraction``, no usable object is left,
        or (with ``min_per_class_required``) a class has fewer than ``min_per_class`` objects.
        The quarantine, the report and the manifest are written first, so the reasons can be inspected.
    InputError
        No light curves, a malformed ``spectra.parquet`` / ``objects.parquet``, bad arguments.
    """
    if duplicate_times not in DUPLICATE_TIME_MODES:
        raise InputError(f"duplicate_times must be one of {', '.join(DUPLICATE_TIME_MODES)}, got {duplicate_times!r}")
    if not (folder / rel.LIGHTCURVES).is_file():
        raise InputError(f"{folder}: release has no {rel.LIGHTCURVES}")
    folded = _resolve_folded(folder, rel.read_manifest(folder), folded)
    rid = f"{folder.parent.name}/{folder.name}"
    light, facts, stats = _scan(folder, merge=duplicate_times == "merge", with_stats=previous is not None)
    lc_ids = light["object_id"].where(light["object_id"].notna(), None)
    spectra, objects = _read_spectra(folder), _read_objects(folder)
    gx = _Gx(rid)
    outcomes = _run_suites(gx, light, facts, spectra, objects, known={oid for oid in lc_ids if oid is not None},
                           min_points=min_points, classes=classes, folded=folded, wavelength_range=wavelength_range,
                           metadata_required=metadata_required, metadata_ranges=metadata_ranges)
    partial = folder / f"{rel.QUARANTINE}.partial"
    try:
        sorted_out = sort_objects(lambda rows: rel.take_rows(folder, rows),
                                  pq.ParquetFile(folder / rel.LIGHTCURVES).schema_arrow, partial,
                                  lc_ids, spectra, objects, outcomes)
        summary = _summarise(folder, rid, gx, light, lc_ids, facts, stats, sorted_out, outcomes, objects,
                             previous=previous, previous_reason=previous_reason, classes=classes,
                             min_per_class=min_per_class, min_per_class_required=min_per_class_required,
                             max_bad_fraction=max_bad_fraction, folded=folded, min_points=min_points,
                             duplicate_times=duplicate_times)
        _write(folder, sorted_out.quarantine, outcomes, summary, gx, docs_dir)
    finally:
        partial.unlink(missing_ok=True)  # written and renamed, or left half-way: never left behind
    if summary.failures:
        raise ValidationFailed(_failure_message(rid, folder, summary))
    return summary


def _scan(folder: Path, *, merge: bool, with_stats: bool) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None]:
    """One pass over the light curves, a batch at a time: ``object_id`` and ``label`` of every row, its
    facts for the suites and (for drift) its :func:`lcml.data.drift.curve_stats`; the curves themselves are
    not kept, so a release of any size validates in the memory of one batch."""
    from lcml.data.drift import curve_stats

    light, facts, stats = [], [], []
    columns = ["object_id", "label", "time", "flux", "flux_err"]
    for frame in rel.scan_release(folder, columns):
        light.append(frame[["object_id", "label"]])
        facts.append(row_checks(frame, merge_duplicates=merge))
        if with_stats:
            stats.append(curve_stats(frame))
    if not light:  # an empty release: the suites still run (and fail it) on empty tables
        empty = pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
        light, facts, stats = [empty[["object_id", "label"]]], [row_checks(empty)], [curve_stats(empty)]
    return (pd.concat(light), pd.concat(facts), pd.concat(stats) if with_stats else None)


def _summarise(folder: Path, rid: str, gx: "_Gx", light: pd.DataFrame, lc_ids: pd.Series, facts: pd.DataFrame,
               stats: pd.DataFrame | None, sorted_out, outcomes: dict[str, SuiteOutcome],
               objects: pd.DataFrame | None, *, previous: Path | None, previous_reason: str,
               classes: tuple[str, ...], min_per_class: int, min_per_class_required: bool, max_bad_fraction: float,
               folded: bool, min_points: int, duplicate_times: str) -> ValidationSummary:
    """The release checks (taxonomy, class counts, drift) and the verdict, as the summary."""
    bad_rows, failed, invariant = sorted_out.bad_rows, sorted_out.failed, sorted_out.invariant(rid)
    accepted_ids = {lc_ids.iloc[i] for i in sorted_out.accepted_rows}
    n_objects, n_accepted, n_bad_objects = sorted_out.n_objects, len(accepted_ids), len(failed)
    accepted = light.iloc[sorted_out.accepted_rows]
    first_label = light.assign(_key=sorted_out.lc_keys).drop_duplicates("_key")["label"]
    checks = _release_checks(gx, outcomes, first_label, accepted, classes, min_per_class)
    if previous is not None:
        _add_drift(checks, previous, stats.iloc[sorted_out.accepted_rows], objects, accepted_ids, rid, previous_reason)
    n_rejected = int((rel.read_manifest(folder).get("ingest") or {}).get("n_rejected", 0))
    counts, fraction, failures = _verdict(outcomes, n_bad_objects, n_objects, n_accepted, n_rejected,
                                          max_bad_fraction, min_per_class_required, min_per_class, checks["below"])
    return ValidationSummary(
        passed=not failures, n_rows=len(light), n_quarantined=len(bad_rows), bad_fraction=round(fraction, 6),
        max_bad_fraction=max_bad_fraction, reasons=dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))),
        failed_expectations=sorted(counts), n_objects=n_objects, n_accepted=n_accepted,
        n_objects_quarantined=n_bad_objects, invariant=invariant, n_rejected_at_ingest=n_rejected, folded=folded,
        min_points=min_points, duplicate_times=duplicate_times, n_duplicate_times=int(facts["n_duplicate_times"].sum()),
        n_merged_points=int(facts["n_merged"].sum()), modalities=_modalities(outcomes, failed),
        suites={o.suite: o.success for o in outcomes.values()}, class_counts=checks["class_counts"],
        unknown_labels=checks["unknown"], min_per_class=min_per_class, min_per_class_required=min_per_class_required,
        classes_below_min=checks["below"], drift=checks["drift"], flags=checks["flags"], failures=failures,
    )


def _failure_message(rid: str, folder: Path, summary: ValidationSummary) -> str:
    # where validation itself quarantined nothing, the share comes from inputs rejected at ingest
    top = ("; ".join(f"{k}: {v}" for k, v in list(summary.reasons.items())[:3])
           or f"none in validation; the inputs rejected at ingest are listed in {folder / rel.REJECTED}")
    n_rejected = summary.n_rejected_at_ingest
    return (f"release {rid} failed validation: {summary.n_quarantined}/{summary.n_rows} rows quarantined "
            f"({summary.n_objects_quarantined}/{summary.n_objects} objects"
            + (f"; {n_rejected} more inputs rejected at ingest, see {folder / rel.REJECTED}" if n_rejected else "")
            + f") — {'; '.join(summary.failures)}; top reasons: {top}; see {folder / rel.QUARANTINE}")


def _run_suites(gx: "_Gx", light: pd.DataFrame, facts: pd.DataFrame, spectra: pd.DataFrame | None,
                objects: pd.DataFrame | None, *, known: set, min_points: int, classes: tuple[str, ...], folded: bool,
                wavelength_range, metadata_required, metadata_ranges) -> dict[str, SuiteOutcome]:
    """The light-curve suite, and the spectra and metadata suites of the tables the release has."""
    outcomes: dict[str, SuiteOutcome] = {}
    view = pd.concat([light[["object_id", "label"]], facts], axis=1)
    outcomes[suites.LIGHTCURVES] = gx.run(
        suites.LIGHTCURVES, view, suites.lightcurve_suite(min_points, classes, folded=folded)
    )
    if spectra is not None:
        outcomes[suites.SPECTRA] = gx.run(
            suites.SPECTRA, suites.spectra_facts(spectra, known), suites.spectra_suite(wavelength_range)
        )
    if objects is not None:
        numeric = metadata.numeric_columns(objects)
        checks = metadata.metadata_suite(objects.columns, numeric, required=metadata_required,
                                       ranges=metadata.metadata_ranges(numeric, metadata_ranges))
        facts_view = metadata.metadata_facts(objects, known, numeric, metadata_required)
        outcomes[suites.METADATA] = gx.run(suites.METADATA, facts_view, checks)
    return outcomes


def _release_checks(gx: "_Gx", outcomes: dict[str, SuiteOutcome], first_label: pd.Series,
                    accepted_frame: pd.DataFrame, classes: tuple[str, ...], min_per_class: int) -> dict[str, Any]:
    """The release suite (taxonomy, per-class counts): class counts, unknown labels, thin classes, flags."""
    release_view = suites.release_facts(first_label.dropna(), accepted_frame["label"].dropna(), classes)
    outcomes[suites.RELEASE] = gx.run(suites.RELEASE, release_view, suites.release_suite(classes, min_per_class))
    class_counts = {c: int(n) for c, n in zip(release_view["label"], release_view["n_accepted"]) if c in classes}
    unknown = {c: int(n) for c, n, ok in zip(release_view["label"], release_view["n_ingested"],
                                             release_view["in_taxonomy"]) if not ok}
    # an unlabelled release (e.g. FITS fetched for prediction) has no classes to count
    labelled = accepted_frame["label"].notna().any()
    below = {c: n for c, n in class_counts.items() if labelled and min_per_class > 0 and n < min_per_class}
    flags = [f"label {c!r} outside the taxonomy: {n} object(s), quarantined" for c, n in unknown.items()]
    flags += [f"class {c}: {n} accepted object(s) < min_per_class {min_per_class}" for c, n in below.items()]
    # unlabelled objects stay (pretraining and scoring use them) but are never trained on: said, not silent
    n_unlabelled = int(first_label.isna().sum())
    if len(first_label) and n_unlabelled == len(first_label):
        flags.append("unlabelled release: no object has a label (curves to score or pretrain on; nothing to train on)")
    elif n_unlabelled:
        flags.append(f"{n_unlabelled} object(s) without a label: kept for pretraining and scoring, not trained on")
    return {"class_counts": class_counts, "unknown": unknown, "below": below, "flags": flags, "drift": None}


def _add_drift(checks: dict[str, Any], previous: Path, accepted_stats: pd.DataFrame, objects: pd.DataFrame | None,
              accepted_ids: set, rid: str, reason: str) -> None:
    """Drift of the accepted objects against the reference release: a report (saying which release and
    why) and a flag per drifted statistic."""
    from lcml.data.drift import release_drift

    current_objects = objects[objects["object_id"].isin(accepted_ids)] if objects is not None else None
    checks["drift"] = release_drift(Path(previous), accepted_stats.reset_index(drop=True), current_objects,
                                    current_id=rid)
    checks["drift"]["reference_reason"] = reason
    checks["flags"] += [f"drift against {checks['drift']['reference_release']} ({reason}): {name}"
                        for name in checks["drift"]["drifted"]]


def _verdict(outcomes: dict[str, SuiteOutcome], n_bad_objects: int, n_objects: int, n_accepted: int,
             n_rejected: int, max_bad_fraction: float, min_per_class_required: bool, min_per_class: int,
             below: dict[str, int]) -> tuple[dict[str, int], float, list[str]]:
    """Reason counts, the bad fraction and the failures that fail the release."""
    counts: dict[str, int] = {}
    for outcome in (outcomes[m] for m in suites.MODALITIES if m in outcomes):
        for reasons in outcome.bad.values():
            for reason in reasons:
                counts[reason] = counts.get(reason, 0) + 1
    # inputs the reader could not read at all are bad inputs too: six empty files beside one good one
    # must not pass as "1/1 accepted"
    fraction = (n_bad_objects + n_rejected) / (n_objects + n_rejected) if n_objects + n_rejected else 1.0
    failures = []
    if n_accepted == 0:
        failures.append("no usable object left")
    if n_objects and fraction > max_bad_fraction:
        failures.append(f"{fraction:.1%} of objects quarantined > {max_bad_fraction:.1%} allowed")
    if min_per_class_required and below:
        failures.append(f"classes below min_per_class {min_per_class}: "
                        + ", ".join(f"{c} {n}" for c, n in below.items()))
    return counts, fraction, failures


def _modalities(outcomes: dict[str, SuiteOutcome], failed: dict) -> dict[str, dict[str, Any]]:
    files = {suites.LIGHTCURVES: rel.LIGHTCURVES, suites.SPECTRA: SPECTRA, suites.METADATA: rel.OBJECTS}
    modalities = {}
    for modality, file in files.items():
        outcome = outcomes.get(modality)
        modalities[modality] = {
            "file": file,
            "present": outcome is not None,
            "suite": suites.SUITE_NAMES[modality],
            "n_rows": outcome.n_rows if outcome else 0,
            "n_failed_rows": len(outcome.bad) if outcome else 0,
            "n_objects_quarantined": sum(1 for f in failed.values() if modality in f),
        }
    return modalities


def _write(folder: Path, quarantine: Path, outcomes: dict[str, SuiteOutcome], summary: ValidationSummary,
           gx: "_Gx", docs_dir: Path | None) -> None:
    """Data Docs (when asked for), ``quarantine.parquet``, ``validation.json`` and the manifest's
    ``validation`` and ``accounting``."""
    if docs_dir is not None:
        summary.data_docs_index = str(gx.build_docs(Path(docs_dir)))
    os.replace(quarantine, folder / rel.QUARANTINE)
    report = {
        "success": all(outcomes[m].success for m in suites.MODALITIES if m in outcomes),
        "great_expectations": gx.gx.__version__,
        "expectations": [entry for outcome in outcomes.values() for entry in outcome.entries],
        "summary": summary.as_dict(local=False),
    }
    (folder / VALIDATION_REPORT).write_text(json.dumps(report, indent=1, default=str) + "\n")
    rel.update_manifest(folder, validation=summary.as_dict(local=False),
                        accounting=accounting(rel.read_manifest(folder), summary))

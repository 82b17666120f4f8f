"""Great Expectations validation of a release; rejected objects go to quarantine with their reasons.

Each modality of a release has its own GX expectation suite (definitions in :mod:`lcml.data.suites`):
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
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from lcml.data import release as rel
from lcml.data import suites
from lcml.data.sources.astrom3 import ASTROM3_WAVELENGTH_RANGE
from lcml.errors import InputError, LcmlError, ValidationFailed

VALIDATION_REPORT = "validation.json"
#: Optional per-object spectra of a release (AstroM3): ``object_id``, ``wavelength``, ``flux``, ``ivar``.
SPECTRA = "spectra.parquet"
DUPLICATE_TIME_MODES = ("reject", "merge")
#: Metadata columns compared with the previous release besides the magnitudes (see :func:`release_drift`).
DRIFT_METADATA_COLUMNS = ("period", "amplitude")
#: Data Docs site name inside the GX context.
DOCS_SITE = "lcml"
#: Summary fields that depend on where this machine keeps its state: never written into the release.
LOCAL_FIELDS = ("data_docs_index",)


@dataclass
class ValidationSummary:
    """What validation found; also written into the release manifest under ``validation``.

    Attributes
    ----------
    passed
        ``False`` when ``failures`` is not empty (then :func:`validate_release` raised).
    n_rows, n_quarantined
        Rows of ``lightcurves.parquet``, and those of quarantined objects.
    bad_fraction
        ``n_objects_quarantined / n_objects``: the share that ``max_bad_fraction`` limits.
    reasons
        Failing rows per reason: light-curve rows for light-curve reasons, spectra / metadata rows
        for theirs.
    failed_expectations
        The distinct quarantine reasons.
    n_objects, n_accepted, n_objects_quarantined, invariant
        Objects ingested (light curves plus spectra / metadata rows without one), accepted and
        quarantined; ``invariant`` states ``n_objects == n_accepted + n_objects_quarantined`` with the
        numbers (it is checked; a mismatch is a bug and raises).
    folded, min_points, duplicate_times, n_duplicate_times, n_merged_points
        Settings used; points repeating an earlier timestamp of their curve, and how many of them a
        ``"merge"`` removed from the curves as validated (see :func:`merge_duplicate_times`).
    modalities
        Per modality: ``file``, ``present``, ``suite``, ``n_rows``, ``n_failed_rows``,
        ``n_objects_quarantined``.
    suites
        GX success of each suite that ran.
    class_counts, unknown_labels
        Accepted objects per taxonomy class (zeros included); ingested objects per unknown label.
    min_per_class, min_per_class_required, classes_below_min
        The per-class minimum, whether it is a failure, and the classes below it with their counts.
    drift
        Report against the previous release (:func:`release_drift`), or ``None``.
    flags
        Release-level findings that do not fail the release (thin classes, unknown labels, drift).
    failures
        Why the release failed (empty when it passed).
    data_docs_index
        Path of the Data Docs ``index.html`` when they were built. Machine-specific: left out of the
        manifest and ``validation.json``.
    """

    passed: bool
    n_rows: int
    n_quarantined: int
    bad_fraction: float
    max_bad_fraction: float
    reasons: dict[str, int] = field(default_factory=dict)
    failed_expectations: list[str] = field(default_factory=list)
    n_objects: int = 0
    n_accepted: int = 0
    n_objects_quarantined: int = 0
    n_rejected_at_ingest: int = 0
    invariant: str = ""
    folded: bool = False
    min_points: int = 0
    duplicate_times: str = "reject"
    n_duplicate_times: int = 0
    n_merged_points: int = 0
    modalities: dict[str, dict[str, Any]] = field(default_factory=dict)
    suites: dict[str, bool] = field(default_factory=dict)
    class_counts: dict[str, int] = field(default_factory=dict)
    unknown_labels: dict[str, int] = field(default_factory=dict)
    min_per_class: int = 0
    min_per_class_required: bool = False
    classes_below_min: dict[str, int] = field(default_factory=dict)
    drift: dict[str, Any] | None = None
    flags: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    data_docs_index: str | None = None

    def as_dict(self, *, local: bool = True) -> dict[str, Any]:
        """All fields; ``local=False`` leaves out the machine-specific ones (:data:`LOCAL_FIELDS`)."""
        out = dict(self.__dict__)
        if not local:
            for name in LOCAL_FIELDS:
                out.pop(name, None)
        return out


# ---------------------------------------------------------------- duplicate timestamps


# The pure function lives with the light-curve facts that use it; ingest code imports it from here.
merge_duplicate_times = suites.merge_duplicate_times


def merge_duplicate_times_table(table: pa.Table) -> tuple[pa.Table, list[int]]:
    """Apply :func:`merge_duplicate_times` to every curve of a light-curve table.

    Merging changes the data, so it belongs at ingest, before :func:`lcml.data.release.write_release`
    (releases are immutable and validation never rewrites ``lightcurves.parquet``). Rows whose
    lengths differ or that have no repeated time are returned unchanged.

    Returns
    -------
    table : pyarrow.Table
        Same schema as ``table``.
    n_merged : list of int
        Points removed per row (record them, e.g. as ``objects.n_merged_points``).
    """
    times, fluxes, errors, n_merged = [], [], [], []
    for t, f, e in zip(*(table.column(c).to_pylist() for c in ("time", "flux", "flux_err"))):
        try:
            t2, f2, e2, n = merge_duplicate_times(t, f, e)
        except ValueError:  # ragged: validation reports it; nothing to merge
            t2, f2, e2, n = t, f, e, 0
        times.append(t2 if n else t)
        fluxes.append(f2 if n else f)
        errors.append(e2 if n else e)
        n_merged.append(n)
    if not any(n_merged):
        return table, n_merged
    schema = table.schema
    columns = {name: table.column(name) for name in table.column_names}
    for name, values in (("time", times), ("flux", fluxes), ("flux_err", errors)):
        kind = schema.field(name).type
        columns[name] = pa.array([None if v is None else np.asarray(v).tolist() for v in values], type=kind)
    return pa.table(columns, schema=schema), n_merged


def row_checks(frame: pd.DataFrame, *, merge_duplicates: bool = False) -> pd.DataFrame:
    """Per-row facts about the light-curve list columns (see :func:`lcml.data.suites.lightcurve_facts`)."""
    return suites.lightcurve_facts(frame, merge_duplicates=merge_duplicates)


# ---------------------------------------------------------------- GX


@dataclass
class SuiteOutcome:
    """Result of one suite: failing rows with their reasons and the deterministic report entries."""

    modality: str
    suite: str
    success: bool
    n_rows: int
    bad: dict[int, list[str]]
    entries: list[dict[str, Any]]


class _Gx:
    """One ephemeral GX context for a release: suites, validation definitions, results, Data Docs."""

    def __init__(self, run_name: str):
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
        import great_expectations as gx
        from great_expectations.core.run_identifier import RunIdentifier
        from great_expectations.data_context.types.base import ProgressBarsConfig

        logging.getLogger("great_expectations").setLevel(logging.WARNING)
        self.gx = gx
        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
        # The ephemeral context comes with a docs site in a temporary folder; only ours is wanted.
        self.context.variables.data_docs_sites = {}
        self.source = self.context.data_sources.add_pandas("lcml")
        # Data Docs keys may not contain "/", so the run is named <survey>-<version>.
        self.run_id = RunIdentifier(run_name=re.sub(r"[\\/]", "-", run_name))

    def run(self, modality: str, frame: pd.DataFrame, checks: list[suites.Check]) -> SuiteOutcome:
        gx = self.gx
        name = suites.SUITE_NAMES[modality]
        suite = self.context.suites.add(gx.ExpectationSuite(name=name))
        for check in checks:
            suite.add_expectation(check.expectation)
        batch_definition = self.source.add_dataframe_asset(modality).add_batch_definition_whole_dataframe("all")
        definition = self.context.validation_definitions.add(
            gx.ValidationDefinition(name=name, data=batch_definition, suite=suite)
        )
        frame = frame.reset_index(drop=True)
        result = definition.run(
            batch_parameters={"dataframe": frame}, result_format={"result_format": "COMPLETE"}, run_id=self.run_id
        )
        by_id = {check.expectation.id: check for check in checks}
        bad: dict[int, list[str]] = {}
        entries = []
        for outcome in result.results:
            config = outcome.expectation_config
            check = by_id[config.id]
            info = outcome.exception_info or {}
            if info.get("raised_exception"):  # a broken check must not pass as "no failing row"
                raise LcmlError(f"GX suite {name}: {config.type} raised {info.get('exception_message')}")
            if check.table_level:
                unexpected = [] if outcome.success else list(range(len(frame)))
            else:
                unexpected = [int(i) for i in outcome.result.get("unexpected_index_list") or []]
            for idx in unexpected:
                reasons = bad.setdefault(idx, [])
                if check.reason not in reasons:
                    reasons.append(check.reason)
            # only deterministic fields: the report is part of the DVC-tracked release
            entries.append({
                "suite": name,
                "modality": modality,
                "type": config.type,
                "kwargs": {k: v for k, v in config.kwargs.items() if k != "batch_id"},
                "success": bool(outcome.success),
                "unexpected_count": len(unexpected),
                "reason": check.reason,
            })
        return SuiteOutcome(modality, name, bool(result.success), len(frame), bad, entries)

    def build_docs(self, docs_dir: Path) -> Path:
        """Write the HTML Data Docs (suites and this run's results) into ``docs_dir``; return index.html."""
        docs_dir = Path(docs_dir).resolve()
        docs_dir.mkdir(parents=True, exist_ok=True)
        self.context.variables.data_docs_sites = {
            DOCS_SITE: {
                "class_name": "SiteBuilder",
                "show_how_to_buttons": False,
                "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            }
        }
        self.context.build_data_docs(site_names=[DOCS_SITE])
        index = docs_dir / "index.html"
        if not index.is_file():
            raise LcmlError(f"Great Expectations built no Data Docs index at {index}")
        return index


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


# ---------------------------------------------------------------- drift


def _ks(reference: np.ndarray, current: np.ndarray) -> dict[str, Any]:
    from scipy.stats import ks_2samp

    from lcml.data.drift import MIN_KS, P_VALUE

    test = ks_2samp(reference, current)
    return {
        "reference_median": float(np.median(reference)),
        "current_median": float(np.median(current)),
        "ks_statistic": float(test.statistic),
        "p_value": float(test.pvalue),
        "drifted": bool(test.pvalue < P_VALUE and test.statistic >= MIN_KS),
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
    :func:`lcml.data.drift.drift_report`. Catalog period, amplitude and magnitudes (columns
    :data:`DRIFT_METADATA_COLUMNS` and names ending in ``mag``) are compared the same way (KS test,
    :data:`lcml.data.drift.P_VALUE` and :data:`~lcml.data.drift.MIN_KS`) when both releases have them
    in ``objects.parquet``, as ``metadata.<column>``. No period search runs here: it is too slow for
    every validation, so a release without a catalog period reports period as not available.

    Parameters
    ----------
    previous
        Folder of the previous release (validated: its quarantine is left out).
    current, current_objects
        Accepted light-curve rows and metadata rows of this release.
    """
    from lcml.data.drift import drift_report

    reference_id = f"{previous.parent.name}/{previous.name}"
    reference = rel.load_release(previous, labelled_only=False)
    if reference.empty or current.empty:
        return {"reference_release": reference_id, "current_release": current_id, "features": {}, "drifted": [],
                "skipped": "no accepted objects in " + (reference_id if reference.empty else current_id)}
    report = drift_report(reference, current, reference_id=reference_id, current_id=current_id)
    ref_objects_path = previous / rel.OBJECTS
    ref_objects = pd.read_parquet(ref_objects_path) if ref_objects_path.is_file() else None
    if ref_objects is not None:
        ref_objects = ref_objects[~ref_objects["object_id"].isin(rel.quarantined_ids(previous))]
    wanted = list(DRIFT_METADATA_COLUMNS)
    for objects in (ref_objects, current_objects):
        if objects is not None:
            wanted += [c for c in objects.columns if suites._magnitude_column(c) and c not in wanted]
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
        report["features"][f"metadata.{name}"] = _ks(*values)
    # same order as drift_report: features, then class shifts
    report["drifted"] = ([k for k, v in report["features"].items() if v["drifted"]]
                         + [d for d in report["drifted"] if d.startswith("class:")])
    report["not_available"] = unavailable
    return report


# ---------------------------------------------------------------- release


def _key(oid: Any, table: str, row: int) -> tuple[str, Any]:
    # An object is its id; a row without one is an object of its own (it cannot be matched to anything).
    return ("id", oid) if oid is not None else (table, row)


def accounting(manifest: dict[str, Any], summary: ValidationSummary) -> dict[str, Any]:
    """Every input row of the release, once: ``n_input == accepted + quarantined + rejected at ingest``.

    Rows, not objects: two rows claiming one object id are both quarantined and both counted.

    Raises
    ------
    LcmlError
        The counts do not add up (a row was lost or counted twice).
    """
    ingest = manifest.get("ingest") or {}
    n_rejected = int(ingest.get("n_rejected", 0))
    n_input = int(ingest.get("n_input", summary.n_rows + n_rejected))
    counts = {"n_input": n_input, "n_accepted": summary.n_rows - summary.n_quarantined,
              "n_quarantined": summary.n_quarantined, "n_rejected_at_ingest": n_rejected}
    if n_input != counts["n_accepted"] + counts["n_quarantined"] + n_rejected:
        raise LcmlError(f"{manifest.get('release_id')}: {counts} do not add up; an input row was lost")
    return {**counts, "holds": "n_input == n_accepted + n_quarantined + n_rejected_at_ingest"}


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
        ``{column: (min, max)}`` added to / replacing :data:`lcml.data.suites.DEFAULT_METADATA_RANGES`
        and the magnitude range; ``None`` as a value drops a default.
    min_per_class
        Classes with fewer accepted objects are flagged (0: no check).
    min_per_class_required
        Make a class below ``min_per_class`` fail the release instead of only flagging it.
    previous
        Folder of the previous release of the survey: drift is reported (flagged, never a failure).
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
    path = folder / rel.LIGHTCURVES
    if not path.is_file():
        raise InputError(f"{folder}: release has no {rel.LIGHTCURVES}")
    manifest = rel.read_manifest(folder)
    folded = _resolve_folded(folder, manifest, folded)
    rid = f"{folder.parent.name}/{folder.name}"

    table = pq.read_table(path)
    frame = table.to_pandas()
    lc_ids = frame["object_id"].where(frame["object_id"].notna(), None)
    known = {oid for oid in lc_ids if oid is not None}
    facts = row_checks(frame, merge_duplicates=duplicate_times == "merge")
    spectra = _read_spectra(folder)
    objects = _read_objects(folder)

    gx = _Gx(rid)
    outcomes: dict[str, SuiteOutcome] = {}
    view = pd.concat([frame[["object_id", "label"]], facts], axis=1)
    outcomes[suites.LIGHTCURVES] = gx.run(
        suites.LIGHTCURVES, view, suites.lightcurve_suite(min_points, classes, folded=folded)
    )
    if spectra is not None:
        outcomes[suites.SPECTRA] = gx.run(
            suites.SPECTRA, suites.spectra_facts(spectra, known), suites.spectra_suite(wavelength_range)
        )
    if objects is not None:
        numeric = suites.numeric_columns(objects)
        checks = suites.metadata_suite(objects.columns, numeric, required=metadata_required,
                                       ranges=suites.metadata_ranges(numeric, metadata_ranges))
        facts_view = suites.metadata_facts(objects, known, numeric, metadata_required)
        outcomes[suites.METADATA] = gx.run(suites.METADATA, facts_view, checks)

    # ---- objects: every row of every table belongs to one; an object fails when any of its rows fails
    tables = {suites.LIGHTCURVES: lc_ids, suites.SPECTRA: spectra["object_id"] if spectra is not None else None,
              suites.METADATA: objects["object_id"] if objects is not None else None}
    ingested: set[tuple[str, Any]] = set()
    failed: dict[tuple[str, Any], dict[str, list[str]]] = {}
    for modality, ids in tables.items():
        if ids is None:
            continue
        keys = [_key(oid, modality, i) for i, oid in enumerate(ids)]
        ingested.update(keys)
        for idx, reasons in outcomes[modality].bad.items():
            bucket = failed.setdefault(keys[idx], {}).setdefault(modality, [])
            bucket += [r for r in reasons if r not in bucket]
    lc_keys = [_key(oid, suites.LIGHTCURVES, i) for i, oid in enumerate(lc_ids)]
    bad_rows = [i for i, k in enumerate(lc_keys) if k in failed]
    quarantine = _quarantine_table(table, bad_rows, lc_keys, outcomes[suites.LIGHTCURVES].bad, failed)
    # Accepted objects are counted the way the loader finds them (light-curve ids absent from the
    # quarantine file), not from the bookkeeping above, so a slip in either shows up here.
    quarantined = {oid for oid in quarantine.column("object_id").to_pylist() if oid is not None}
    accepted_rows = [i for i, oid in enumerate(lc_ids) if oid is not None and oid not in quarantined]
    accepted_ids = {lc_ids[i] for i in accepted_rows}
    n_accepted = len(accepted_ids)
    n_objects, n_bad_objects = len(ingested), len(failed)
    invariant = f"n_objects {n_objects} == n_accepted {n_accepted} + n_objects_quarantined {n_bad_objects}"
    if n_objects != n_accepted + n_bad_objects:
        raise LcmlError(f"validation of {rid} lost track of objects: {invariant} does not hold")

    # ---- release-level checks
    first_label = frame.assign(_key=lc_keys).drop_duplicates("_key")["label"]
    accepted_frame = frame.iloc[accepted_rows]
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
    drift = None
    if previous is not None:
        current_objects = None
        if objects is not None:
            current_objects = objects[objects["object_id"].isin(accepted_ids)]
        drift = release_drift(Path(previous), accepted_frame.reset_index(drop=True), current_objects, current_id=rid)
        flags += [f"drift against {drift['reference_release']}: {name}" for name in drift["drifted"]]

    # ---- verdict
    counts: dict[str, int] = {}
    for outcome in (outcomes[m] for m in suites.MODALITIES if m in outcomes):
        for reasons in outcome.bad.values():
            for reason in reasons:
                counts[reason] = counts.get(reason, 0) + 1
    # inputs the reader could not read at all are bad inputs too: six empty files beside one good one
    # must not pass as "1/1 accepted"
    n_rejected = int((rel.read_manifest(folder).get("ingest") or {}).get("n_rejected", 0))
    fraction = (n_bad_objects + n_rejected) / (n_objects + n_rejected) if n_objects + n_rejected else 1.0
    failures = []
    if n_accepted == 0:
        failures.append("no usable object left")
    if n_objects and fraction > max_bad_fraction:
        failures.append(f"{fraction:.1%} of objects quarantined > {max_bad_fraction:.1%} allowed")
    if min_per_class_required and below:
        failures.append(f"classes below min_per_class {min_per_class}: "
                        + ", ".join(f"{c} {n}" for c, n in below.items()))
    modalities = {}
    files = {suites.LIGHTCURVES: rel.LIGHTCURVES, suites.SPECTRA: SPECTRA, suites.METADATA: rel.OBJECTS}
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
    summary = ValidationSummary(
        passed=not failures,
        n_rows=len(frame),
        n_quarantined=len(bad_rows),
        bad_fraction=round(fraction, 6),
        max_bad_fraction=max_bad_fraction,
        reasons=dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))),
        failed_expectations=sorted(counts),
        n_objects=n_objects,
        n_accepted=n_accepted,
        n_objects_quarantined=n_bad_objects,
        invariant=invariant,
        n_rejected_at_ingest=n_rejected,
        folded=folded,
        min_points=min_points,
        duplicate_times=duplicate_times,
        n_duplicate_times=int(facts["n_duplicate_times"].sum()),
        n_merged_points=int(facts["n_merged"].sum()),
        modalities=modalities,
        suites={o.suite: o.success for o in outcomes.values()},
        class_counts=class_counts,
        unknown_labels=unknown,
        min_per_class=min_per_class,
        min_per_class_required=min_per_class_required,
        classes_below_min=below,
        drift=drift,
        flags=flags,
        failures=failures,
    )
    if docs_dir is not None:
        summary.data_docs_index = str(gx.build_docs(Path(docs_dir)))

    pq.write_table(quarantine, folder / rel.QUARANTINE, compression="zstd")
    report = {
        "success": all(outcomes[m].success for m in suites.MODALITIES if m in outcomes),
        "great_expectations": gx.gx.__version__,
        "expectations": [entry for outcome in outcomes.values() for entry in outcome.entries],
        "summary": summary.as_dict(local=False),
    }
    (folder / VALIDATION_REPORT).write_text(json.dumps(report, indent=1, default=str) + "\n")
    rel.update_manifest(folder, validation=summary.as_dict(local=False),
                        accounting=accounting(rel.read_manifest(folder), summary))
    if failures:
        top = "; ".join(f"{k}: {v}" for k, v in list(summary.reasons.items())[:3]) or "no failing rows"
        raise ValidationFailed(
            f"release {rid} failed validation: {len(bad_rows)}/{len(frame)} rows quarantined "
            f"({n_bad_objects}/{n_objects} objects"
            + (f"; {n_rejected} more inputs rejected at ingest, see {folder / rel.REJECTED}" if n_rejected else "")
            + f") — {'; '.join(failures)}; top reasons: {top}; see {folder / rel.QUARANTINE}"
        )
    return summary


def _quarantine_table(
    table: pa.Table,
    bad_rows: list[int],
    lc_keys: list[tuple[str, Any]],
    lc_bad: dict[int, list[str]],
    failed: dict[tuple[str, Any], dict[str, list[str]]],
) -> pa.Table:
    """Light-curve rows of failed objects, then objects without a light curve (null light-curve columns).

    Each row has ``reasons`` (its own light-curve reasons, then its object's spectra and metadata
    reasons) and ``modalities`` (which suites failed the object).
    """
    others = [m for m in suites.MODALITIES if m != suites.LIGHTCURVES]

    def row_reasons(own: list[str], key: tuple[str, Any]) -> tuple[list[str], list[str]]:
        found = failed[key]
        reasons = list(own) + [r for m in others for r in found.get(m, [])]
        modalities = [m for m in suites.MODALITIES
                      if (own if m == suites.LIGHTCURVES else m in found)]
        return reasons, modalities

    rows = [row_reasons(lc_bad.get(i, []), lc_keys[i]) for i in bad_rows]
    lc_part = table.take(pa.array(bad_rows, type=pa.int64()))
    lc_set = set(lc_keys)
    orphans = sorted((k for k in failed if k not in lc_set), key=lambda k: (k[0], str(k[1])))
    orphan_rows = [row_reasons([], k) for k in orphans]
    if orphans:
        nulls = {name: pa.nulls(len(orphans), lc_part.schema.field(name).type) for name in lc_part.column_names}
        nulls["object_id"] = pa.array([k[1] if k[0] == "id" else None for k in orphans], type=pa.string())
        # the release schema marks object_id non-nullable; quarantine keeps id-less rows too
        schema = pa.schema([f.with_nullable(True) for f in lc_part.schema])
        lc_part = pa.concat_tables([lc_part.cast(schema), pa.table(nulls, schema=schema)])
    everything = rows + orphan_rows
    return lc_part.append_column("reasons", pa.array([r for r, _ in everything], type=pa.list_(pa.string()))) \
                  .append_column("modalities", pa.array([m for _, m in everything], type=pa.list_(pa.string())))

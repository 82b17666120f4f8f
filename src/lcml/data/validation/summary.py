"""What validation found (:class:`ValidationSummary`, also the manifest's ``validation`` section) and the
accounting of every input row."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lcml.errors import LcmlError

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
        Report against the previous release (:func:`lcml.data.drift.release_drift`), or ``None``.
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

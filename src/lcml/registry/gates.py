"""Metric gates: absolute floors and a minimum improvement over the champion on the same test split."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from lcml.config import GateParams


@dataclass
class GateResult:
    passed: bool
    checks: list[dict] = field(default_factory=list)
    champion_version: str | None = None

    @property
    def reasons(self) -> list[str]:
        """Why the candidate failed (empty when it passed)."""
        return [c["detail"] for c in self.checks if not c["passed"]]

    @property
    def verdict(self) -> str:
        return "passed" if self.passed else "failed"

    def as_dict(self) -> dict:
        return {**asdict(self), "verdict": self.verdict, "reasons": self.reasons}


def _check(name: str, value: float | None, threshold: float, failed: str, passed: str) -> dict:
    """An at-least check; ``detail`` says what happened (gates.json keeps the passed checks too)."""
    ok = value is not None and value >= threshold - 1e-12
    return {"name": name, "value": value, "threshold": threshold, "passed": ok, "detail": passed if ok else failed}


def evaluate_gates(
    candidate: dict[str, float],
    champion: dict[str, float] | None,
    gates: GateParams,
    champion_version: str | None = None,
) -> GateResult:
    """Judge a candidate's test metrics; ``champion`` holds the champion's metrics on the SAME objects."""
    from lcml.evaluation import wilson_interval  # scikit-learn behind it: not at import time

    checks = []
    for metric, floor in gates.floors.items():
        value = candidate.get(metric)
        checks.append(_check(f"floor:{metric}", value, floor, f"{metric} {_fmt(value)} below floor {floor:.3f}",
                             f"{metric} {_fmt(value)} meets floor {floor:.3f}"))
    for cls, floor in gates.class_recall_floors.items():
        value = candidate.get(f"recall_{cls}")
        failed = (f"class {cls} absent from the test split, its recall floor cannot be checked"
                  if value is None else f"recall of {cls} {value:.3f} below floor {floor:.3f}")
        passed = f"recall of {cls} {_fmt(value)} meets floor {floor:.3f}"
        support = candidate.get(f"support_{cls}")
        extra = {}
        if value is not None and support:
            # The point estimate decides; the interval tells a reader how close the call was.
            low, high = wilson_interval(round(value * support), support)
            extra = {"support": int(support), "interval_95": [round(low, 3), round(high, 3)]}
            note = f" ({round(value * support)} of {int(support)} test objects; 95% interval {low:.2f}-{high:.2f})"
            failed, passed = failed + note, passed + note
        checks.append({**_check(f"recall:{cls}", value, floor, failed, passed), **extra})
    if gates.max_latency_ms is not None:
        latency = candidate.get("latency_ms_per_curve")
        fast = latency is not None and latency <= gates.max_latency_ms
        checks.append({
            "name": "latency_ms_per_curve", "value": latency, "threshold": gates.max_latency_ms, "passed": fast,
            "detail": f"scoring latency {_fmt(latency)} ms per curve "
                      f"{'within' if fast else 'above'} the ceiling {gates.max_latency_ms:.1f} ms",
        })
    if champion is not None:
        metric = gates.metric
        ours, theirs = candidate.get(metric), champion.get(metric)
        needed = (theirs or 0.0) + gates.min_improvement
        checks.append(_check(
            f"improvement:{metric}", ours, needed,
            f"{metric} {_fmt(ours)} does not beat champion v{champion_version} ({_fmt(theirs)}) "
            f"by the required {gates.min_improvement:.3f}",
            f"{metric} {_fmt(ours)} beats champion v{champion_version} ({_fmt(theirs)}) "
            f"by at least {gates.min_improvement:.3f}",
        ))
    return GateResult(passed=all(c["passed"] for c in checks), checks=checks, champion_version=champion_version)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"

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
    def warnings(self) -> list[str]:
        """Checks that passed on weak evidence: a rare class below its floor on too few test objects."""
        return [c["warning"] for c in self.checks if c.get("warning")]

    @property
    def verdict(self) -> str:
        return "passed" if self.passed else "failed"

    def as_dict(self) -> dict:
        return {**asdict(self), "verdict": self.verdict, "reasons": self.reasons, "warnings": self.warnings}


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
    checks = []
    for metric, floor in gates.floors.items():
        value = candidate.get(metric)
        checks.append(_check(f"floor:{metric}", value, floor, f"{metric} {_fmt(value)} below floor {floor:.3f}",
                             f"{metric} {_fmt(value)} meets floor {floor:.3f}"))
    for cls, floor in gates.class_recall_floors.items():
        checks.append(_recall_check(cls, candidate.get(f"recall_{cls}"), candidate.get(f"support_{cls}"), floor,
                                    gates.recall_min_support))
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


def _recall_check(cls: str, value: float | None, support: float | None, floor: float, min_support: int) -> dict:
    """A class's recall against its floor, judged by how much evidence the test split holds.

    With at least ``min_support`` test objects of the class the point estimate decides. With fewer,
    one object more or less moves the recall by 1/n (0.07 for 15 objects) and the point estimate
    would pass or fail a good model by chance; the floor then fails only when the whole 95% Wilson
    interval lies below it, i.e. when the test split shows the class was given up, or when not one
    test object of the class is recognised (a low floor, 0.1 on 16 objects, would otherwise forgive a
    recall of 0). Passing below the floor on such evidence is recorded as a warning, never silently.
    """
    from lcml.evaluation import wilson_interval  # scikit-learn behind it: not at DAG parse time

    name = f"recall:{cls}"
    if value is None:
        return {"name": name, "value": None, "threshold": floor, "passed": False,
                "detail": f"class {cls} absent from the test split, its recall floor cannot be checked"}
    if not support:  # metrics logged before supports were: the point estimate is all there is
        return _check(name, value, floor, f"recall of {cls} {value:.3f} below floor {floor:.3f}",
                      f"recall of {cls} {value:.3f} meets floor {floor:.3f}")
    n = int(support)
    hits = round(value * n)
    low, high = wilson_interval(hits, n)
    counted = f"{hits} of {n} test objects; 95% interval {low:.2f}-{high:.2f}"
    check = {"name": name, "value": value, "threshold": floor, "support": n,
             "interval_95": [round(low, 3), round(high, 3)], "evidence": "point" if n >= min_support else "interval"}
    if value >= floor - 1e-12:
        return {**check, "passed": True, "detail": f"recall of {cls} {value:.3f} meets floor {floor:.3f} ({counted})"}
    if n >= min_support:
        return {**check, "passed": False, "detail": f"recall of {cls} {value:.3f} below floor {floor:.3f} ({counted})"}
    if high < floor:
        return {**check, "passed": False,
                "detail": f"recall of {cls} {value:.3f} below floor {floor:.3f}: {counted}, wholly below the floor"}
    if hits == 0:
        return {**check, "passed": False,
                "detail": f"recall of {cls} 0.000 below floor {floor:.3f}: not one of {n} test objects recognised"}
    detail = (f"recall of {cls} {value:.3f} below floor {floor:.3f} on weak evidence: {counted} reaches the floor "
              f"(under {min_support} test objects, the floor fails only when the interval lies below it)")
    return {**check, "passed": True, "detail": detail, "warning": detail}


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"

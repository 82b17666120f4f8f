import pytest

from lcml.config import GateParams
from lcml.registry.gates import evaluate_gates

GATES = GateParams(floors={"balanced_accuracy": 0.6, "macro_f1": 0.5}, class_recall_floors={"T2CEP": 0.5},
                   min_improvement=0.01)
GOOD = {"balanced_accuracy": 0.8, "macro_f1": 0.7, "recall_T2CEP": 0.6}


def test_first_model_needs_only_the_floors():
    result = evaluate_gates(GOOD, None, GATES)
    assert result.passed and result.verdict == "passed" and result.reasons == []
    assert {c["name"] for c in result.checks} == {"floor:balanced_accuracy", "floor:macro_f1", "recall:T2CEP"}


def test_each_floor_can_fail_with_a_reason():
    result = evaluate_gates({**GOOD, "macro_f1": 0.4, "recall_T2CEP": 0.2}, None, GATES)
    assert not result.passed
    assert result.reasons == ["macro_f1 0.400 below floor 0.500", "recall of T2CEP 0.200 below floor 0.500"]


def test_missing_rare_class_fails_instead_of_passing_silently():
    result = evaluate_gates({"balanced_accuracy": 0.8, "macro_f1": 0.7}, None, GATES)
    assert not result.passed and "absent from the test split" in result.reasons[0]


def test_must_beat_champion_by_margin():
    assert not evaluate_gates(GOOD, {"balanced_accuracy": 0.795}, GATES, "3").passed
    assert not evaluate_gates(GOOD, dict(GOOD), GATES, "3").passed  # a retrain of the same model: no churn
    result = evaluate_gates(GOOD, {"balanced_accuracy": 0.79}, GATES, "3")
    assert result.passed and result.champion_version == "3"
    failed = evaluate_gates(GOOD, {"balanced_accuracy": 0.85}, GATES, "3")
    assert "does not beat champion v3 (0.850)" in failed.reasons[0]


def test_latency_ceiling():
    gates = GATES.model_copy(update={"max_latency_ms": 50.0})
    assert evaluate_gates({**GOOD, "latency_ms_per_curve": 20.0}, None, gates).passed
    slow = evaluate_gates({**GOOD, "latency_ms_per_curve": 80.0}, None, gates)
    assert not slow.passed and "above the ceiling 50.0 ms" in slow.reasons[0]
    assert not evaluate_gates(GOOD, None, gates).passed  # not measured: cannot pass a ceiling


def test_per_model_gates_and_nan_metrics():
    gates = GATES.model_copy(update={"models": {"rare-first": {"class_recall_floors": {"T2CEP": 0.9}}}})
    assert gates.for_model("other").class_recall_floors == {"T2CEP": 0.5}
    strict = gates.for_model("rare-first")
    assert strict.class_recall_floors == {"T2CEP": 0.9} and strict.floors == GATES.floors
    assert not evaluate_gates(GOOD, None, strict).passed
    # a broken model (NaN metrics) never passes
    assert not evaluate_gates({**GOOD, "balanced_accuracy": float("nan")}, None, GATES).passed


def test_passed_checks_say_they_passed():
    """gates.json keeps every check: a passing one must not read like a failure."""
    gates = GATES.model_copy(update={"max_latency_ms": 50.0})
    result = evaluate_gates({**GOOD, "latency_ms_per_curve": 20.0}, {"balanced_accuracy": 0.7}, gates, "2")
    details = {c["name"]: c["detail"] for c in result.checks}
    assert result.passed
    assert details["floor:balanced_accuracy"] == "balanced_accuracy 0.800 meets floor 0.600"
    assert details["recall:T2CEP"] == "recall of T2CEP 0.600 meets floor 0.500"
    assert details["latency_ms_per_curve"] == "scoring latency 20.000 ms per curve within the ceiling 50.0 ms"
    assert details["improvement:balanced_accuracy"].startswith("balanced_accuracy 0.800 beats champion v2 (0.700)")
    assert not any("below" in d or "does not" in d for d in details.values())


def test_recall_floor_reports_support_and_interval_but_decides_on_the_point_estimate():
    from lcml.evaluation import classification_metrics, wilson_interval

    truth = ["T2CEP"] * 15 + ["RR"] * 30
    pred = ["T2CEP"] * 5 + ["RR"] * 10 + ["RR"] * 30
    metrics = classification_metrics(truth, pred, ["T2CEP", "RR"])
    assert metrics["support_T2CEP"] == 15 and metrics["support_RR"] == 30
    gates = GateParams(floors={}, class_recall_floors={"T2CEP": 0.4}, min_improvement=0.01)
    result = evaluate_gates(metrics, None, gates)
    check = result.checks[0]
    assert not result.passed and check["support"] == 15
    assert check["interval_95"] == [0.152, 0.583]  # the interval reaches above the floor; the gate still fails
    assert result.reasons == ["recall of T2CEP 0.333 below floor 0.400 (5 of 15 test objects; 95% interval 0.15-0.58)"]
    assert wilson_interval(0, 0) == (0.0, 1.0)
    low, high = wilson_interval(50, 100)
    assert low == pytest.approx(0.404, abs=1e-3) and high == pytest.approx(0.596, abs=1e-3)

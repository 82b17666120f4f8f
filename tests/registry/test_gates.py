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


def _rare_metrics(hits: int, support: int) -> dict:
    from lcml.evaluation import classification_metrics

    truth = ["T2CEP"] * support + ["RR"] * 30
    pred = ["T2CEP"] * hits + ["RR"] * (support - hits) + ["RR"] * 30
    return classification_metrics(truth, pred, ["T2CEP", "RR"])


def test_recall_floor_on_enough_test_objects_decides_on_the_point_estimate():
    metrics = _rare_metrics(10, 30)  # 0.333, interval 0.19-0.51: reaches 0.4, but 30 objects are enough
    assert metrics["support_T2CEP"] == 30 and metrics["support_RR"] == 30
    gates = GateParams(floors={}, class_recall_floors={"T2CEP": 0.4}, min_improvement=0.01)
    assert gates.recall_min_support == 30
    result = evaluate_gates(metrics, None, gates)
    check = result.checks[0]
    assert not result.passed and check["support"] == 30 and check["evidence"] == "point"
    assert result.reasons == ["recall of T2CEP 0.333 below floor 0.400 (10 of 30 test objects; 95% interval 0.19-0.51)"]
    assert result.warnings == []


def test_recall_floor_on_few_test_objects_fails_only_when_the_interval_lies_below_it():
    """5 of 15 cannot be told from 0.45; 1 of 15 shows the class was given up."""
    from lcml.evaluation import wilson_interval

    gates = GateParams(floors={}, class_recall_floors={"T2CEP": 0.4}, min_improvement=0.01)
    weak = evaluate_gates(_rare_metrics(5, 15), None, gates)
    check = weak.checks[0]
    assert weak.passed and check["evidence"] == "interval" and check["interval_95"] == [0.152, 0.583]
    assert weak.reasons == []
    assert weak.warnings == [check["detail"]] and "0.333 below floor 0.400 on weak evidence" in check["detail"]
    assert "5 of 15 test objects" in check["detail"]
    assert weak.as_dict()["warnings"] == weak.warnings

    given_up = evaluate_gates(_rare_metrics(1, 15), None, gates)
    assert not given_up.passed and given_up.checks[0]["interval_95"][1] < 0.4
    assert given_up.reasons == ["recall of T2CEP 0.067 below floor 0.400: 1 of 15 test objects; "
                                "95% interval 0.01-0.30, wholly below the floor"]
    # the boundary: 2 of 15 still lies below 0.4, 3 of 15 reaches it
    assert wilson_interval(2, 15)[1] < 0.4 <= wilson_interval(3, 15)[1]
    assert not evaluate_gates(_rare_metrics(2, 15), None, gates).passed
    assert evaluate_gates(_rare_metrics(3, 15), None, gates).passed

    # a low floor's interval reaches above 0 of 16, but a class never recognised was given up
    low_floor = GateParams(floors={}, class_recall_floors={"T2CEP": 0.1}, min_improvement=0.01)
    assert wilson_interval(0, 16)[1] > 0.1
    never = evaluate_gates(_rare_metrics(0, 16), None, low_floor)
    assert not never.passed
    assert never.reasons == ["recall of T2CEP 0.000 below floor 0.100: not one of 16 test objects recognised"]
    assert evaluate_gates(_rare_metrics(1, 16), None, low_floor).warnings  # 1 of 16: below 0.1, passes, warned

    strict = gates.model_copy(update={"recall_min_support": 0})  # 0: always the point estimate
    assert not evaluate_gates(_rare_metrics(5, 15), None, strict).passed
    above = evaluate_gates(_rare_metrics(8, 15), None, gates)
    assert above.passed and above.warnings == [] and "meets floor" in above.checks[0]["detail"]


def test_wilson_interval():
    from lcml.evaluation import wilson_interval

    assert wilson_interval(0, 0) == (0.0, 1.0)
    low, high = wilson_interval(50, 100)
    assert low == pytest.approx(0.404, abs=1e-3) and high == pytest.approx(0.596, abs=1e-3)


def test_model_card_marks_a_pass_on_weak_evidence():
    from lcml.registry.card import render_card

    gates = GateParams(floors={}, class_recall_floors={"T2CEP": 0.4}, min_improvement=0.01)
    metrics = _rare_metrics(5, 15)
    gate = evaluate_gates(metrics, None, gates)
    trained = {"family": "baseline", "release": "sim/v1", "metrics": metrics, "lineage": {"release": "sim/v1"},
               "study": "s", "n_trials": 1, "n_pruned": 0, "best_trial": 0, "best_params": {},
               "best_val_balanced_accuracy": 0.5, "run_id": "r", "latency_ms_per_curve": 1.0}
    card = render_card(name="m", version="1", trained=trained, gate=gate.as_dict(), manifest={},
                       classes=["T2CEP", "RR"], champion_before=None)
    assert "| recall:T2CEP | 0.333 | 0.400 | pass (weak evidence) |" in card
    assert "Warnings: recall of T2CEP 0.333 below floor 0.400 on weak evidence" in card


def test_model_card_sets_cross_validation_beside_the_test_split():
    from lcml.registry.card import render_card

    metrics = {"accuracy": 0.9, "balanced_accuracy": 0.8, "macro_f1": 0.75, "recall_RR": 0.9, "n_test": 20}
    cv = {"folds": 5, "balanced_accuracy": {"mean": 0.81, "std": 0.02}, "macro_f1": {"mean": 0.77, "std": 0.03},
          "recall": {"RR": 0.88, "T2CEP": 0.6}, "recall_std": {"RR": 0.01, "T2CEP": 0.2}}
    trained = {"family": "baseline", "release": "sim/v1", "metrics": metrics, "lineage": {}, "study": "s",
               "n_trials": 1, "n_pruned": 0, "best_trial": 0, "best_params": {}, "best_val_balanced_accuracy": 0.5,
               "run_id": "r", "cv": cv}
    card = render_card(name="m", version="1", trained=trained, gate={}, manifest={}, classes=["T2CEP", "RR"],
                       champion_before=None)
    assert "balanced accuracy 0.810 ± 0.020 (test split 0.800)" in card
    assert "| T2CEP | 0.600 ± 0.200 | absent |" in card and "| RR | 0.880 ± 0.010 | 0.900 |" in card
    trained.pop("cv")
    assert "Cross-validation: not run" in render_card(name="m", version="1", trained=trained, gate={}, manifest={},
                                                      classes=["RR"], champion_before=None)

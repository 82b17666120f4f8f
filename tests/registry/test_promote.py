"""Gating, promotion, rollback and history on a real (SQLite) MLflow registry."""

import json
import multiprocessing as mp
import os

import pytest
from mlflow import MlflowClient

from lcml import pipeline
from lcml.config import GateParams, Paths
from lcml.errors import LcmlError
from lcml.registry.promote import (
    CHALLENGER, CHAMPION, alias_version, gate_and_promote, history, register_version, registry_lock,
    registry_status, rollback,
)

GATES = GateParams(floors={"balanced_accuracy": 0.5}, min_improvement=0.01)


def new_version(client, name, source, release="r1"):
    """A distinct registered version (its own run) of the session's trained model."""
    exp = client.get_experiment_by_name(name) or client.get_experiment(client.create_experiment(name))
    run = client.create_run(exp.experiment_id)
    client.set_terminated(run.info.run_id)
    return str(register_version(client, name, source, run.info.run_id, {"family": "conv_bilstm", "release": release}).version)


def tag_metrics(client, name):
    return lambda v: {"balanced_accuracy": float(client.get_model_version(name, v).tags["metric.balanced_accuracy"])}


@pytest.fixture
def registry(in_trained):
    pipeline.setup_mlflow(Paths.from_env(), "promote-tests")
    return MlflowClient(), in_trained["trained"]["model_uri"]


def test_pass_moves_aliases_fail_keeps_them_and_history_explains(registry):
    client, source = registry
    name = "promote-basic"
    v1 = new_version(client, name, source)
    assert gate_and_promote(client, name, v1, {"balanced_accuracy": 0.8}, GATES, tag_metrics(client, name)).passed
    assert alias_version(client, name, CHAMPION) == alias_version(client, name, CHALLENGER) == v1

    v2 = new_version(client, name, source, release="r2")
    refused = gate_and_promote(client, name, v2, {"balanced_accuracy": 0.805}, GATES, tag_metrics(client, name))
    assert not refused.passed and f"does not beat champion v{v1}" in refused.reasons[0]
    assert alias_version(client, name, CHAMPION) == alias_version(client, name, CHALLENGER) == v1
    # idempotent: judging the same version again changes nothing and adds no event
    again = gate_and_promote(client, name, v2, {"balanced_accuracy": 0.99}, GATES, tag_metrics(client, name))
    assert not again.passed and alias_version(client, name, CHAMPION) == v1

    events = history(client, name)
    assert [(e["action"], e["version"]) for e in events] == [("promoted", v1), ("refused", v2)]
    assert events[1]["previous"] == v1 and "does not beat" in events[1]["reason"]

    status = registry_status(client, name)
    newest, oldest = status["versions"]
    assert newest["verdict"] == "failed" and newest["aliases"] == [] and newest["release"] == "r2"
    assert oldest["aliases"] == [CHALLENGER, CHAMPION] and oldest["metrics"]["balanced_accuracy"] == 0.8


def test_pass_on_weak_evidence_is_promoted_with_a_warning_on_the_version(registry):
    """A rare class below its floor on 15 test objects: promoted, and the version says so."""
    client, source = registry
    name = "promote-weak-evidence"
    gates = GATES.model_copy(update={"class_recall_floors": {"dSct": 0.4}})
    v1 = new_version(client, name, source)
    metrics = {"balanced_accuracy": 0.8, "recall_dSct": 5 / 15, "support_dSct": 15.0}
    gate = gate_and_promote(client, name, v1, metrics, gates, tag_metrics(client, name))
    assert gate.passed and len(gate.warnings) == 1 and "dSct 0.333 below floor 0.400 on weak evidence" in gate.warnings[0]
    assert alias_version(client, name, CHAMPION) == v1
    assert json.loads(client.get_model_version(name, v1).tags["gate.warnings"]) == gate.warnings
    assert registry_status(client, name)["versions"][0]["warnings"] == gate.warnings


def test_rollback_to_previous_champion_and_back(registry):
    client, source = registry
    name = "promote-rollback"
    v1 = new_version(client, name, source)
    gate_and_promote(client, name, v1, {"balanced_accuracy": 0.7}, GATES, tag_metrics(client, name))
    v2 = new_version(client, name, source)
    gate_and_promote(client, name, v2, {"balanced_accuracy": 0.9}, GATES, tag_metrics(client, name))
    assert alias_version(client, name, CHAMPION) == v2

    assert rollback(client, name, reason="v2 misclassifies real RR Lyrae") == (v2, v1)
    assert alias_version(client, name, CHAMPION) == v1
    assert client.get_model_version(name, v2).tags["rollback.reason"] == "v2 misclassifies real RR Lyrae"
    last = history(client, name)[-1]
    assert (last["action"], last["version"], last["previous"]) == ("rollback", v1, v2)
    assert rollback(client, name, reason="fixed upstream", to=v2) == (v1, v2)
    with pytest.raises(LcmlError, match="needs a --reason"):
        rollback(client, name, reason=" ")
    with pytest.raises(LcmlError, match="no version 99"):
        rollback(client, name, reason="x", to="99")
    with pytest.raises(LcmlError, match="already the champion"):
        rollback(client, name, reason="x", to=v2)


def _promote_in_process(version, score, name, barrier):
    client = MlflowClient(os.environ["LCML_TEST_TRACKING_URI"])
    barrier.wait(timeout=60)
    with registry_lock(Paths.from_env().home, name):
        gate_and_promote(client, name, version, {"balanced_accuracy": score}, GATES, tag_metrics(client, name))


def test_two_processes_promoting_at_once_leave_the_better_champion(registry, monkeypatch):
    client, source = registry
    name = "promote-race"
    worse, better = new_version(client, name, source), new_version(client, name, source)
    monkeypatch.setenv("LCML_TEST_TRACKING_URI", Paths.from_env().mlflow_tracking_uri)
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_promote_in_process, args=(v, s, name, barrier))
             for v, s in ((worse, 0.70), (better, 0.80))]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=180)
        assert p.exitcode == 0
    assert alias_version(client, name, CHAMPION) == better
    events = history(client, name)
    assert sorted(e["version"] for e in events) == sorted([worse, better])
    assert {e["action"] for e in events} <= {"promoted", "refused"}
    assert [e for e in events if e["version"] == better][0]["action"] == "promoted"


def test_status_of_unknown_model(registry):
    client, _ = registry
    assert registry_status(client, "no-such-model") == {
        "name": "no-such-model", "exists": False, "aliases": {}, "versions": []}

"""Alias moves on a real (SQLite) MLflow registry, using the model the session fixture trained."""

from mlflow import MlflowClient

from lcml import pipeline
from lcml.config import Paths
from lcml.registry.gates import GateResult
from lcml.registry.promote import CHALLENGER, CHAMPION, alias_version, apply_gate, register_version, registry_status

NAME = "promote-test-classifier"


def test_gate_pass_moves_aliases_and_fail_keeps_them(in_trained):
    trained = in_trained["trained"]
    pipeline.setup_mlflow(Paths.from_env(), "promote-test")
    client = MlflowClient()
    assert alias_version(client, NAME, CHAMPION) is None

    v1 = register_version(client, NAME, trained["model_uri"], trained["run_id"], {"family": "conv_bilstm", "release": "r1"})
    ok = GateResult(passed=True, checks=[{"name": "floor:x", "passed": True, "detail": ""}])
    assert apply_gate(client, NAME, v1.version, ok, {"balanced_accuracy": 0.9}) == str(v1.version)
    assert alias_version(client, NAME, CHALLENGER) == str(v1.version)

    v2 = register_version(client, NAME, trained["model_uri"], trained["run_id"], {"family": "conv_bilstm", "release": "r2"})
    bad = GateResult(passed=False, checks=[{"name": "improvement", "passed": False, "detail": "does not beat champion"}])
    assert apply_gate(client, NAME, v2.version, bad, {"balanced_accuracy": 0.5}) == str(v1.version)
    assert alias_version(client, NAME, CHALLENGER) == str(v1.version)

    status = registry_status(client, NAME)
    assert status["aliases"] == {CHAMPION: str(v1.version), CHALLENGER: str(v1.version)}
    newest, oldest = status["versions"]
    assert newest["version"] == str(v2.version) and newest["verdict"] == "failed"
    assert newest["reasons"] == ["does not beat champion"] and newest["aliases"] == []
    assert oldest["aliases"] == [CHALLENGER, CHAMPION] and oldest["metrics"]["balanced_accuracy"] == 0.9
    assert oldest["release"] == "r1"


def test_status_of_unknown_model(in_trained):
    pipeline.setup_mlflow(Paths.from_env(), "promote-test")
    assert registry_status(MlflowClient(), "no-such-model") == {
        "name": "no-such-model", "exists": False, "aliases": {}, "versions": []}

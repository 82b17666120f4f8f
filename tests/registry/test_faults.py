"""Faults around registration: a tracking server that goes away, a champion that cannot be scored."""

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from mlflow import MlflowClient

from lcml import pipeline
from lcml.config import Paths
from lcml.errors import LcmlError
from lcml.registry.promote import CHAMPION, alias_version, history

from ..conftest import free_port, wait_for_http

NAME = "kepler-variable-star-classifier"


class TrackingServer:
    """A real `mlflow server` on loopback that the test can stop and start again."""

    def __init__(self, root: Path):
        self.port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.root = root
        self.proc = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [str(Path(sys.executable).with_name("mlflow")), "server", "--host", "127.0.0.1", "--port", str(self.port),
             "--backend-store-uri", f"sqlite:///{self.root / 'mlflow.db'}",
             "--artifacts-destination", str(self.root / "artifacts"), "--workers", "1"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env={**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"},
        )
        wait_for_http(f"{self.uri}/health", self.proc, timeout=120)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


@pytest.fixture
def server(project, tmp_path, monkeypatch):
    srv = TrackingServer(tmp_path)
    srv.start()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", srv.uri)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # exercise lcml's own retries
    yield srv
    if srv.proc.poll() is None:
        srv.stop()


def test_registration_survives_tracking_server_outage(server):
    rid = pipeline.prepare_release()
    pipeline.validate(rid)
    pipeline.publish(rid)
    trained = pipeline.train(rid, run_name="outage")
    server.stop()
    restarter = threading.Timer(5.0, server.start)
    restarter.start()
    try:
        gated = pipeline.register_and_gate(trained)  # the server is down when this starts
    finally:
        restarter.join()
    assert gated["verdict"] == "passed" and gated["champion"] == gated["version"] == "1"
    client = MlflowClient(server.uri)
    assert len(client.search_model_versions(f"name='{NAME}'")) == 1  # no half-registered duplicate
    assert alias_version(client, NAME, CHAMPION) == "1"
    assert [e["action"] for e in history(client, NAME)] == ["promoted"]
    # calling it again (an Airflow retry of the task) changes nothing
    assert pipeline.register_and_gate(trained)["version"] == "1"
    assert len(client.search_model_versions(f"name='{NAME}'")) == 1


def test_unscorable_champion_stops_promotion_without_moving_aliases(project):
    rid = pipeline.prepare_release()
    pipeline.validate(rid)
    first = pipeline.train(rid, run_name="a")
    assert pipeline.register_and_gate(first)["champion"] == "1"
    second = pipeline.train(rid, run_name="b", force=True, overrides={"search": {"conv_bilstm": {"seed": 3}}})
    # the champion's stored weights get corrupted: it cannot be re-scored, so nothing may move
    model_id = first["model_uri"].removeprefix("models:/")
    stored = [p for p in Paths.from_env().mlflow_artifacts.rglob("weights.safetensors") if model_id in str(p)]
    assert stored
    for weights in stored:
        weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(LcmlError, match="champion v1 of kepler-variable-star-classifier could not be re-scored"):
        pipeline.register_and_gate(second)
    client = MlflowClient()
    assert alias_version(client, NAME, CHAMPION) == "1"
    [v2] = [v for v in client.search_model_versions(f"name='{NAME}'") if str(v.version) != "1"]
    assert "gate.verdict" not in (v2.tags or {})  # registered, never judged, no alias
    assert [e["action"] for e in history(client, NAME)] == ["promoted"]

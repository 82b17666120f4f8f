"""Server mode: lcml against a real ``mlflow server --app-name basic-auth`` with proxied artifacts.

The same setup as the ``mlflow`` service of docker-compose.yml, minus PostgreSQL and S3: a SQLite
backend, a temporary artifacts folder behind ``--serve-artifacts``, and an auth config file with the
admin credentials handed over through ``MLFLOW_AUTH_CONFIG_PATH``. lcml talks to it only through
``MLFLOW_TRACKING_URI`` + ``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD``, as the Airflow
workers of the stack do.
"""

from __future__ import annotations

import base64
import importlib.util
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from .conftest import make_project, use_project

MODEL_NAME = "kepler-variable-star-classifier"
ADMIN = "lcml-admin"
STARTUP_TIMEOUT_S = 90

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str, auth: tuple[str, str] | None = None, timeout: float = 10) -> int:
    request = urllib.request.Request(url)
    if auth:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.fixture(scope="module")
def server_process(tmp_path_factory):
    """Start ``mlflow server --app-name basic-auth`` on 127.0.0.1:<free port>; stop it after the module.

    Returns at once; ``info["wait"]()`` blocks until ``/health`` answers, so the pipeline's data steps
    (which do not need MLflow) overlap with the server's start-up.
    """
    if importlib.util.find_spec("flask_wtf") is None:
        pytest.xfail(
            "MLflow's basic-auth app needs Flask-WTF (the mlflow[auth] extra), which is not installed: "
            "pyproject.toml should depend on mlflow[auth]==3.17.2 (see docs/scaling.md)"
        )
    root = tmp_path_factory.mktemp("mlflow-server")
    artifacts = root / "artifacts"
    artifacts.mkdir()
    password = secrets.token_urlsafe(18)
    auth_ini = root / "basic_auth.ini"
    auth_ini.write_text(
        "[mlflow]\n"
        "default_permission = READ\n"
        f"database_uri = sqlite:///{root / 'auth.db'}\n"
        f"admin_username = {ADMIN}\n"
        f"admin_password = {password}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        # cache credential checks (PBKDF2, ~0.1-0.3 s a request here) as mlflow/basic_auth.ini does
        "auth_cache_ttl_seconds = 300\n"
    )
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_TRACKING_", "MLFLOW_AUTH_"))}
    env.update({
        "MLFLOW_AUTH_CONFIG_PATH": str(auth_ini),
        "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_hex(16),
        # no background job runner (GenAI scorers, trace roll-ups): lcml does not use it, and its
        # seven extra Python processes double the start-up time on a small machine
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    })
    cmd = [
        str(Path(sys.executable).with_name("mlflow")), "server", "--app-name", "basic-auth",
        "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
        "--artifacts-destination", str(artifacts), "--serve-artifacts",
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        # do not wait for the test process's pooled keep-alive connections when stopping
        "--uvicorn-opts", "--timeout-graceful-shutdown 1",
    ]
    log = root / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    deadline = time.monotonic() + STARTUP_TIMEOUT_S

    def wait() -> None:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"mlflow server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if _get(f"{url}/health", timeout=2) == 200:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"mlflow server not healthy after {STARTUP_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")
            time.sleep(0.25)

    try:
        yield {"url": url, "username": ADMIN, "password": password, "artifacts": artifacts, "log": log,
               "wait": wait}
    finally:
        if proc.poll() is None:
            # the server, its uvicorn worker and job runner: one session, started by this fixture
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


@pytest.fixture(scope="module")
def server(server_process) -> dict:
    server_process["wait"]()
    return server_process


def _use_server(mp: pytest.MonkeyPatch, server: dict, credentials: bool = True) -> None:
    mp.setenv("MLFLOW_TRACKING_URI", server["url"])
    if credentials:
        mp.setenv("MLFLOW_TRACKING_USERNAME", server["username"])
        mp.setenv("MLFLOW_TRACKING_PASSWORD", server["password"])
    else:
        mp.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
        mp.delenv("MLFLOW_TRACKING_PASSWORD", raising=False)


@pytest.fixture(scope="module")
def pipeline_run(server_process, tmp_path_factory):
    """lcml's pipeline functions, profile ``ci``, logging, registering and promoting through the server.

    A failure of ``register_and_gate`` is kept (``gate_error``) so that what ``train`` logged can still
    be checked; the tests that need the registry re-raise it.
    """
    from mlflow.tracking._tracking_service import utils as tracking_utils

    from lcml import pipeline

    root = make_project(tmp_path_factory.mktemp("server-mode") / "project")
    tracking_before = tracking_utils._tracking_uri
    out: dict = {"root": root, "gated": None, "gate_error": None}
    try:
        with pytest.MonkeyPatch.context() as mp:
            use_project(mp, root)
            _use_server(mp, server_process)
            out["release"] = rid = pipeline.prepare_release()
            pipeline.validate(rid)
            pipeline.publish(rid)
            server_process["wait"]()
            out["trained"] = trained = pipeline.train(rid, run_name="server-mode")
            try:
                out["gated"] = pipeline.register_and_gate(trained)
            except Exception as exc:  # noqa: BLE001 - re-raised by the registry tests
                out["gate_error"] = exc
    finally:
        tracking_utils._tracking_uri = tracking_before  # leave no global MLflow client state behind
    return out


@pytest.fixture(autouse=True)
def _restore_mlflow_tracking_uri():
    """lcml's setup_mlflow sets MLflow's process-wide tracking URI; do not leave this server's behind."""
    from mlflow.tracking._tracking_service import utils as tracking_utils

    before = tracking_utils._tracking_uri
    yield
    tracking_utils._tracking_uri = before


@pytest.fixture
def client(server, monkeypatch):
    from mlflow import MlflowClient

    _use_server(monkeypatch, server)
    return MlflowClient(tracking_uri=server["url"], registry_uri=server["url"])


def _registered(pipeline_run) -> dict:
    """What register_and_gate returned (its error, if it raised)."""
    if pipeline_run["gate_error"] is not None:
        raise pipeline_run["gate_error"]
    return pipeline_run["gated"]


# ---------------------------------------------------------------- lcml's pipeline through the server
# (first in the module, so that the server starts while the data steps run)


def test_training_logs_through_the_server(pipeline_run, client, server):
    trained = pipeline_run["trained"]
    run = client.get_run(trained["run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.tags.get("release") == pipeline_run["release"]
    assert "test_balanced_accuracy" in run.data.metrics
    nested = client.search_runs([run.info.experiment_id], f"tags.mlflow.parentRunId = '{run.info.run_id}'")
    assert len(nested) == trained["n_trials"], "one nested run per Optuna trial"
    # setup_mlflow leaves the artifact location to the server: proxied mlflow-artifacts URIs
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.artifact_location.startswith("mlflow-artifacts:/"), experiment.artifact_location
    assert run.info.artifact_uri.startswith("mlflow-artifacts:/"), run.info.artifact_uri


def test_artifacts_are_stored_by_the_server(pipeline_run, server):
    stored = {p.name for p in server["artifacts"].rglob("*") if p.is_file()}
    for name in ("MLmodel", "weights.safetensors", "model.json", "confusion_matrix.png", "params.json"):
        assert name in stored, f"{name} not under the server's artifacts folder: {sorted(stored)}"
    local = pipeline_run["root"] / ".lcml" / "mlartifacts"
    assert not [p for p in local.rglob("*") if p.is_file()], "artifacts were written locally, not via the server"


def test_pipeline_registers_and_promotes_through_the_server(pipeline_run, client, server):
    gated = _registered(pipeline_run)
    assert gated["model_name"] == MODEL_NAME
    assert gated["verdict"] == "passed", gated["reasons"]
    champion = client.get_model_version_by_alias(MODEL_NAME, "champion")
    assert str(champion.version) == gated["version"]
    assert champion.run_id == pipeline_run["trained"]["run_id"]
    assert champion.tags.get("release") == pipeline_run["release"]
    assert champion.tags.get("gate.verdict") == "passed"
    assert "gates.json" in {p.name for p in server["artifacts"].rglob("*") if p.is_file()}


def test_the_champion_downloads_back_through_the_server(pipeline_run, client, tmp_path, monkeypatch):
    import mlflow
    from mlflow.tracking._model_registry import utils as registry_utils

    _registered(pipeline_run)
    # models:/ URIs resolve through the process-wide registry URI: the server's, for this test only
    monkeypatch.setattr(registry_utils, "_registry_uri", client.tracking_uri)
    local = mlflow.artifacts.download_artifacts(
        artifact_uri=f"models:/{MODEL_NAME}@champion", dst_path=str(tmp_path), tracking_uri=client.tracking_uri
    )
    files = {p.name for p in Path(local).rglob("*") if p.is_file()}
    assert {"MLmodel", "weights.safetensors"} <= files, files


# ---------------------------------------------------------------- authentication


def test_unauthenticated_rest_request_is_refused(server):
    search = f"{server['url']}/api/2.0/mlflow/experiments/search?max_results=1"
    assert _get(search) == 401
    assert _get(search, auth=(server["username"], "not-the-password")) == 401
    assert _get(search, auth=(server["username"], server["password"])) == 200


def test_lcml_without_credentials_is_refused(server, project, monkeypatch):
    from mlflow.exceptions import MlflowException

    from lcml import pipeline
    from lcml.config import Paths

    _use_server(monkeypatch, server, credentials=False)
    with pytest.raises(MlflowException) as refused:
        pipeline.setup_mlflow(Paths.from_env(), "must-not-be-created")
    assert "401" in str(refused.value) or "authenticat" in str(refused.value).lower()

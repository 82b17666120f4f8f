"""The retrain DAG under a real Airflow scheduler (`airflow standalone`, LocalExecutor), triggered
through the REST API, with every store on a PostgreSQL server: Airflow metadata, MLflow tracking and
the Optuna study that two mapped search workers share at the same time."""

import json
import os
import signal
import subprocess
import time
from datetime import datetime

import optuna
import pytest
import requests
import yaml
from mlflow import MlflowClient
from optuna.trial import TrialState

from lcml.config import Paths
from lcml.pipeline.airflow import airflow_bin, airflow_env
from lcml.registry.promote import CHAMPION, alias_version

from ..conftest import free_port, make_project, postgres_database, wait_for_http

pytestmark = pytest.mark.slow
DAG = "retrain_classifiers"
N_TRIALS = 4


@pytest.fixture(scope="module")
def standalone(tmp_path_factory, postgres_url):
    root = make_project(tmp_path_factory.mktemp("standalone") / "project")
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["profiles"]["ci"]["search"]["conv_bilstm"]["n_trials"] = N_TRIALS
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    port = free_port()
    home = root / ".lcml"
    passwords = home / "airflow-passwords.json"
    passwords.parent.mkdir(parents=True)
    passwords.write_text(json.dumps({"lcml": "rest-test-password"}))
    with pytest.MonkeyPatch.context() as mp:
        servers = {
            "LCML_PROJECT_DIR": str(root),
            "LCML_HOME": str(home),
            "LCML_PROFILE": "ci",
            "MLFLOW_TRACKING_URI": postgres_database(postgres_url, "mlflow_rest"),
            "LCML_OPTUNA_STORAGE": postgres_database(postgres_url, "optuna_rest"),
            "AIRFLOW_HOME": str(home / "airflow"),
        }
        for key, value in servers.items():
            mp.setenv(key, value)
        paths = Paths.from_env()
        env = airflow_env(paths, {
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": postgres_database(postgres_url, "airflow_rest"),
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "lcml:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": "standalone-test-secret",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
        })
        log = open(home / "standalone.log", "w")
        proc = subprocess.Popen([airflow_bin(), "standalone"], env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_for_http(f"{base}/api/v2/monitor/health", proc, timeout=300)
            token = requests.post(f"{base}/auth/token", json={"username": "lcml", "password": "rest-test-password"},
                                  timeout=30)
            assert token.status_code == 201, token.text
            session = requests.Session()
            session.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
            yield {"base": base, "session": session, "paths": paths, "log": home / "standalone.log"}
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            log.close()


def _until(what: str, check, timeout: float, log) -> object:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            tail = log.read_text()[-3000:] if log.exists() else ""
            pytest.fail(f"{what} within {timeout:.0f} s; standalone log:\n{tail}")
        time.sleep(2)


def _task_errors(paths: Paths) -> str:
    """The error lines of the task logs, to say why a run failed."""
    lines = []
    for log in sorted((paths.airflow_home / "logs").glob("dag_id=*/run_id=*/task_id=*/**/*.log")):
        lines += [f"{log.parent.name}: {line[:1500]}" for line in log.read_text().splitlines() if '"level":"error"' in line]
    return "\n".join(lines[-10:])


def test_rest_api_refuses_requests_without_a_token(standalone):
    r = requests.get(f"{standalone['base']}/api/v2/dags", timeout=30)
    assert r.status_code == 401


def test_dag_triggered_over_rest_runs_under_the_scheduler_with_parallel_search_workers(standalone):
    base, s, paths = standalone["base"], standalone["session"], standalone["paths"]
    _until("the DAG processor did not register the DAG",
           lambda: s.get(f"{base}/api/v2/dags/{DAG}", timeout=30).status_code == 200, 240, standalone["log"])
    r = s.patch(f"{base}/api/v2/dags/{DAG}", json={"is_paused": False}, timeout=30)
    assert r.status_code == 200 and r.json()["is_paused"] is False, r.text

    r = s.post(f"{base}/api/v2/dags/{DAG}/dagRuns",
               json={"logical_date": None, "conf": {"profile": "ci", "tag": "rest-1"}}, timeout=30)
    assert r.status_code == 200, r.text
    run_id = r.json()["dag_run_id"]

    def finished():
        state = s.get(f"{base}/api/v2/dags/{DAG}/dagRuns/{run_id}", timeout=30).json()["state"]
        return state if state in ("success", "failed") else None

    state = _until("the run did not finish", finished, 900, standalone["log"])
    assert state == "success", _task_errors(paths)

    tis = s.get(f"{base}/api/v2/dags/{DAG}/dagRuns/{run_id}/taskInstances", timeout=30).json()["task_instances"]
    plans = [t for t in tis if t["task_id"] == "plan_search"]
    assert sorted(t["map_index"] for t in plans) == [0, 1] and all(t["state"] == "success" for t in plans)
    workers = sorted((t for t in tis if t["task_id"] == "search_worker"), key=lambda t: t["map_index"])
    assert [w["map_index"] for w in workers] == [0, 1, 2, 3]  # 2 families x search.workers 2
    assert all(w["state"] == "success" for w in workers)
    spans = [(datetime.fromisoformat(w["start_date"]), datetime.fromisoformat(w["end_date"])) for w in workers]
    overlapping = [(i, j) for i in range(4) for j in range(i + 1, 4)
                   if spans[i][0] < spans[j][1] and spans[j][0] < spans[i][1]]
    assert overlapping, spans  # workers ran at the same time, not one after the other
    conv = spans[:2]  # slots 0 and 1 share the conv_bilstm study
    assert conv[0][0] < conv[1][1] and conv[1][0] < conv[0][1], conv

    report = json.loads((paths.reports / "rest-1.json").read_text())
    client = MlflowClient(paths.mlflow_tracking_uri)
    caps = {"conv_bilstm": N_TRIALS, "baseline": 2}
    assert {c["family"] for c in report["candidates"]} == set(caps)
    for candidate in report["candidates"]:
        study = optuna.load_study(study_name=candidate["study"], storage=paths.optuna_storage)
        finished_trials = [t for t in study.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
        assert len(finished_trials) == caps[candidate["family"]] == candidate["n_trials"]  # the global cap held
        numbers = [t.number for t in study.trials]
        assert len(numbers) == len(set(numbers))
        parent = candidate["run_id"]
        nested = client.search_runs([client.get_run(parent).info.experiment_id],
                                    filter_string=f"tags.mlflow.parentRunId = '{parent}'")
        assert len(nested) == len(study.trials)  # one nested MLflow run per trial, from both workers
    name = report["registry"]["model_name"]
    assert alias_version(client, name, CHAMPION) == report["registry"]["champion"]
    assert report["registry"]["champion"] in {c["version"] for c in report["candidates"]}

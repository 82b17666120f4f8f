"""The retrain DAG under real Airflow 3 (`dag.test()`, SQLite metadata DB)."""

import json
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest
from mlflow import MlflowClient

from lcml.config import Paths
from lcml.data import release as rel
from lcml.registry.promote import CHAMPION, alias_version

from ..conftest import REPO, make_project, use_project

NAME = "kepler-variable-star-classifier"
HEAVY = ["torch", "mlflow", "great_expectations", "optuna", "lcml.pipeline", "lightkurve", "dvc"]


def test_dag_file_parses_without_heavy_imports():
    code = (
        "import runpy, sys; ns = runpy.run_path(sys.argv[1]); "
        "from airflow.sdk import DAG; dags = [v for v in ns.values() if isinstance(v, DAG)]; "
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules)); print([d.dag_id for d in dags])"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(REPO / "dags" / "retrain_classifiers.py")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    heavy, dag_ids = proc.stdout.strip().splitlines()[-2:]
    assert heavy == "[]"
    assert dag_ids == "['retrain_classifiers']"


@pytest.fixture(scope="module")
def dag_project(tmp_path_factory, airflow_db):
    root = make_project(tmp_path_factory.mktemp("dag") / "project")
    with pytest.MonkeyPatch.context() as mp:
        use_project(mp, root)
        yield root


@pytest.fixture(scope="module")
def dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}
    return bag.get_dag("retrain_classifiers")


def states(run) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


def test_dag_trains_registers_and_crowns_a_champion(dag_project, dag):
    run = dag.test(run_conf={"profile": "ci", "tag": "dagtest-1"})
    assert str(run.state) == "success", states(run)
    assert set(states(run).values()) == {"success"}
    paths = Paths.from_env()
    report = json.loads((paths.reports / "dagtest-1.json").read_text())
    assert report["release"] == "kepler/sim-v1" and report["validation"]["passed"]
    assert report["search"]["n_trials"] == 2
    version = report["registry"]["version"]
    client = MlflowClient(paths.mlflow_tracking_uri)
    assert alias_version(client, NAME, CHAMPION) == version
    tags = client.get_model_version(NAME, version).tags
    for key in ("release", "data_md5", "git_commit", "params_hash", "manifest_hash", "family"):
        assert tags.get(key), key
    assert tags["data_md5"] == rel.data_md5(paths)
    assert (dag_project / "data.dvc").is_file()


def test_broken_release_stops_before_training_and_keeps_champion(dag_project, dag):
    paths = Paths.from_env()
    client = MlflowClient(paths.mlflow_tracking_uri)
    champion = alias_version(client, NAME, CHAMPION)
    n_versions = len(client.search_model_versions(f"name='{NAME}'"))
    assert champion is not None

    t = np.arange(300) * 0.02
    bad_flux = np.full(t.size, np.nan, np.float32)
    good_flux = np.ones(t.size, np.float32)
    table = pa.table({
        "object_id": [f"b{i}" for i in range(40)],
        "label": ["RR"] * 40,
        "time": [t] * 40,
        "flux": [bad_flux if i % 2 else good_flux for i in range(40)],
        "flux_err": [np.full(t.size, 1e-3, np.float32)] * 40,
    })
    rel.write_release(paths, "kepler/broken-v1", table, source="test: half the rows have NaN flux")

    run = dag.test(run_conf={"profile": "ci", "release": "kepler/broken-v1", "tag": "dagtest-broken"})
    assert str(run.state) == "failed"
    s = states(run)
    assert s["prepare_release"] == "success"
    assert s["validate"] == "failed"
    assert s["train"] == s["register_and_gate"] == "upstream_failed"  # training never started
    assert alias_version(client, NAME, CHAMPION) == champion
    assert len(client.search_model_versions(f"name='{NAME}'")) == n_versions
    manifest = rel.read_manifest(rel.release_dir(paths, "kepler/broken-v1"))
    assert manifest["validation"]["n_quarantined"] == 20
    assert not (paths.reports / "dagtest-broken.json").exists()

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


@pytest.mark.parametrize("dag_id", ["retrain_classifiers", "survey_release"])
def test_dag_file_parses_without_heavy_imports(dag_id):
    code = (
        "import runpy, sys; ns = runpy.run_path(sys.argv[1]); "
        "from airflow.sdk import DAG; dags = [v for v in ns.values() if isinstance(v, DAG)]; "
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules)); print([d.dag_id for d in dags])"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(REPO / "dags" / f"{dag_id}.py")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    heavy, dag_ids = proc.stdout.strip().splitlines()[-2:]
    assert heavy == "[]"
    assert dag_ids == f"['{dag_id}']"


def test_retrain_is_scheduled_on_release_assets(dags):
    from lcml.assets import release_asset

    from lcml.surveys import SURVEYS

    retrain = dags.get_dag("retrain_classifiers")
    outlets = dags.get_dag("survey_release").get_task("announce").outlets
    for survey in SURVEYS:  # every survey of the one table can be announced and retrains
        assert release_asset(survey) in retrain.timetable.asset_condition.objects
        assert release_asset(survey) in outlets


def test_dag_runs_the_steps_lcml_train_runs(dags):
    from lcml.pipeline.retrain import STEPS

    dag = dags.get_dag("retrain_classifiers")
    steps = [t for t in STEPS if t in dag.task_ids]
    assert steps == list(STEPS)  # every step of the in-process flow is a task of the DAG
    order = {t: i for i, t in enumerate(STEPS)}
    for task_id in STEPS[1:]:
        upstream = {u for u in dag.get_task(task_id).get_flat_relative_ids(upstream=True) if u in order}
        assert upstream and max(order[u] for u in upstream) < order[task_id], task_id


def test_release_from_events_picks_newest_announced_release():
    from datetime import datetime, timezone
    from types import SimpleNamespace as Event

    from lcml.assets import release_from_events

    t0, t1 = datetime(2026, 1, 1, tzinfo=timezone.utc), datetime(2026, 2, 1, tzinfo=timezone.utc)
    events = {"lcml-release-kepler": [Event(extra={"release": "kepler/v1"}, timestamp=t0),
                                      Event(extra={"release": "kepler/v2"}, timestamp=t1)]}
    assert release_from_events({"triggering_asset_events": events}) == "kepler/v2"
    assert release_from_events({}) is None


@pytest.fixture(scope="module")
def dag_project(tmp_path_factory, airflow_db):
    root = make_project(tmp_path_factory.mktemp("dag") / "project")
    with pytest.MonkeyPatch.context() as mp:
        use_project(mp, root)
        yield root


@pytest.fixture(scope="module")
def dags(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}
    return bag


@pytest.fixture(scope="module")
def dag(dags):
    return dags.get_dag("retrain_classifiers")


def test_survey_release_publishes_and_announces(dag_project, dags):
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.settings import Session
    from sqlalchemy import select

    run = dags.get_dag("survey_release").test(run_conf={"profile": "ci"})
    assert str(run.state) == "success", states(run)
    session = Session()
    events = session.scalars(select(AssetEvent).join(AssetModel, AssetEvent.asset_id == AssetModel.id)
                             .where(AssetModel.uri == "lcml://releases/kepler")).all()
    assert events and events[-1].extra["release"] == "kepler/sim-v1"
    assert events[-1].extra["data_md5"] == rel.data_md5(Paths.from_env())


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
    assert s["plan_search"] == s["register_and_gate"] == "upstream_failed"  # training never started
    assert alias_version(client, NAME, CHAMPION) == champion
    assert len(client.search_model_versions(f"name='{NAME}'")) == n_versions
    manifest = rel.read_manifest(rel.release_dir(paths, "kepler/broken-v1"))
    assert manifest["validation"]["n_quarantined"] == 20
    assert not (paths.reports / "dagtest-broken.json").exists()


def test_new_release_retrains_with_drift_report_and_gates(dag_project, dag):
    """v2: more stars, longer and noisier curves; promoted only if it passes the gates."""
    from lcml.data.simulate.lightcurves import simulate_kepler

    paths = Paths.from_env()
    client = MlflowClient(paths.mlflow_tracking_uri)
    champion = alias_version(client, NAME, CHAMPION)
    sim = simulate_kepler(400, seed=7, duration_days=40)
    rel.write_release(paths, "kepler/sim-v2", sim.lightcurves, objects=sim.objects, source="test: survey v2")

    run = dag.test(run_conf={"profile": "ci", "release": "kepler/sim-v2", "tag": "dagtest-v2"})
    assert str(run.state) == "success", states(run)
    report = json.loads((paths.reports / "dagtest-v2.json").read_text())
    reg = report["registry"]
    assert reg["champion_before"] == champion
    assert reg["champion"] == (reg["version"] if reg["verdict"] == "passed" else champion)
    drift = json.loads(open(client.download_artifacts(report["run_id"], "drift.json")).read())
    assert drift["reference_release"] == "kepler/sim-v1" and drift["current_release"] == "kepler/sim-v2"
    assert "baseline_days" in drift["drifted"]  # 40-day curves against 30-day ones
    n_versions = len(client.search_model_versions(f"name='{NAME}'"))

    again = dag.test(run_conf={"profile": "ci", "release": "kepler/sim-v2", "tag": "dagtest-v2-again"})
    assert str(again.state) == "success", states(again)
    assert states(again)["search_worker"] == "skipped"  # no worker slots: nothing trains
    repeat = json.loads((paths.reports / "dagtest-v2-again.json").read_text())["registry"]
    assert repeat["skipped"] and repeat["version"] == reg["version"]
    assert len(client.search_model_versions(f"name='{NAME}'")) == n_versions
    assert alias_version(client, NAME, CHAMPION) == reg["champion"]


def test_multimodal_release_pretrains_clip_and_runs_swin_and_astrom3(tmp_path, airflow_db, dag, monkeypatch):
    """The DAG's other two families on a light curve + spectrum + metadata release: the CLIP encoder is
    pretrained and registered first, and the astrom3 family fine-tunes from it."""
    import yaml

    root = make_project(tmp_path / "project")
    use_project(monkeypatch, root)
    params = yaml.safe_load((root / "params.yaml").read_text())
    ci = params["profiles"]["ci"]
    ci["search"]["families"] = ["swin", "astrom3"]
    ci["search"]["swin"] = {"n_trials": 1, "epochs": 1, "patience": 1, "options": {"img_size": 32}}
    ci["search"]["astrom3"]["options"] = {"init": "clip"}
    ci["search"]["astrom3"]["n_trials"] = 1
    ci["data"]["simulate"]["n_objects"] = 200
    (root / "params.yaml").write_text(yaml.safe_dump(params))

    run = dag.test(run_conf={"profile": "ci", "release": "astrom3/sim-v1", "tag": "dag-multimodal"})
    assert str(run.state) == "success", states(run)
    s = {ti.task_id for ti in run.get_task_instances() if str(ti.state) == "success"}
    assert {"pretrain_clip", "plan_search", "search_worker", "finish_search", "register_and_gate"} <= s
    paths = Paths.from_env()
    client = MlflowClient(paths.mlflow_tracking_uri)
    encoders = client.search_model_versions("name='astrom3-clip-encoder'")
    assert len(encoders) == 1 and encoders[0].tags["release"] == "astrom3/sim-v1"
    report = json.loads((paths.reports / "dag-multimodal.json").read_text())
    assert sorted(c["family"] for c in report["candidates"]) == ["astrom3", "swin"]
    astrom3 = next(c for c in report["candidates"] if c["family"] == "astrom3")
    tags = client.get_run(astrom3["run_id"]).data.tags
    assert tags["astrom3.init"] == "clip" and tags["astrom3.encoder"] == "models:/astrom3-clip-encoder/1"
    for c in report["candidates"]:
        version = client.get_model_version("astrom3-variable-star-classifier", c["version"])
        assert version.tags["family"] == c["family"]  # both gated into the survey's one registered model


def test_lc_series_families_run_through_the_dag_and_one_is_crowned(tmp_path, airflow_db, dag, monkeypatch):
    """StarWhisper's LC series (text, picture, sound) searched, gated and registered like every family."""
    import yaml

    root = make_project(tmp_path / "project")
    use_project(monkeypatch, root)
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["profiles"]["ci"]["search"]["families"] = ["lc_text", "lc_image", "lc_audio"]
    params["profiles"]["ci"]["data"]["simulate"]["n_objects"] = 120
    (root / "params.yaml").write_text(yaml.safe_dump(params))

    run = dag.test(run_conf={"profile": "ci", "release": "kepler/sim-v1", "tag": "dag-lc-series"})
    assert str(run.state) == "success", states(run)
    paths = Paths.from_env()
    report = json.loads((paths.reports / "dag-lc-series.json").read_text())
    assert sorted(c["family"] for c in report["candidates"]) == ["lc_audio", "lc_image", "lc_text"]
    client = MlflowClient(paths.mlflow_tracking_uri)
    champion = alias_version(client, NAME, CHAMPION)
    assert champion and client.get_model_version(NAME, champion).tags["family"] in {"lc_text", "lc_image", "lc_audio"}
    for c in report["candidates"]:
        assert client.get_model_version(NAME, c["version"]).tags["family"] == c["family"]
        assert 0.0 <= c["test_metrics"]["balanced_accuracy"] <= 1.0

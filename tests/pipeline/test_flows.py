"""The pipeline functions end to end (in-process, no Airflow), on the session's trained project."""

import json

import mlflow
import pytest
from mlflow import MlflowClient

from lcml import pipeline
from lcml.config import Paths, load_params
from lcml.registry.promote import CHAMPION, alias_version

NAME = "kepler-variable-star-classifier"
LINEAGE = ("release", "manifest_hash", "data_md5", "git_commit", "git_dirty", "params_hash", "family", "study")


def test_first_run_registers_a_champion_with_lineage(in_trained):
    trained, gated = in_trained["trained"], in_trained["gated"]
    assert gated["verdict"] == "passed" and gated["champion"] == gated["version"] == "1"
    client = MlflowClient()
    mv = client.get_model_version(NAME, "1")
    for key in LINEAGE:
        assert mv.tags.get(key), f"version 1 lacks lineage tag {key}"
    assert mv.tags["release"] == in_trained["release"] == "kepler/sim-v1"
    assert mv.tags["data_md5"] == in_trained["published"]["data_md5"]
    assert mv.tags["params_hash"] == load_params().hash()
    assert mv.tags["gate.verdict"] == "passed"
    # the search: one parent run, a nested run per trial
    children = mlflow.search_runs(filter_string=f"tags.mlflow.parentRunId = '{trained['run_id']}'",
                                  search_all_experiments=True)
    assert len(children) == trained["n_trials"] == 2
    parent = client.get_run(trained["run_id"])
    assert parent.data.metrics["test_balanced_accuracy"] == trained["metrics"]["balanced_accuracy"]
    artifacts = {a.path for a in client.list_artifacts(trained["run_id"])}
    assert {"confusion_matrix.png", "per_class.json", "learning_curves.png", "mistakes.png", "gates.json",
            "params.json"} <= artifacts
    table = json.loads(open(client.download_artifacts(trained["run_id"], "per_class.json")).read())
    rows = [dict(zip(table["columns"], row)) for row in table["data"]]
    assert rows and {r["class"] for r in rows} <= {"T2CEP", "RR", "HYB", "GDOR", "EB", "DSCT"}
    for row in rows:  # the UI's table says what the run's metrics say
        assert row["recall"] == pytest.approx(trained["metrics"][f"recall_{row['class']}"], abs=1e-4)
    assert {"optuna_history.png"} <= {a.path.split("/")[-1] for a in client.list_artifacts(trained["run_id"], "search")}
    assert parent.inputs.dataset_inputs[0].dataset.name == "kepler/sim-v1"
    assert trained["metrics"]["n_test"] > 0
    assert {k for k in trained["metrics"] if k.startswith("recall_")} <= {f"recall_{c}" for c in
                                                                         ("T2CEP", "RR", "HYB", "GDOR", "EB", "DSCT")}
    assert "recall_EB" in trained["metrics"]  # the most common class is always in the test split


def test_model_artifacts_are_not_pickles(in_trained):
    local = mlflow.artifacts.download_artifacts(in_trained["trained"]["model_uri"])
    from pathlib import Path

    files = {p.name for p in Path(local).rglob("*") if p.is_file()}
    assert "weights.safetensors" in files and "model.json" in files
    assert not [f for f in files if f.endswith((".pkl", ".pickle", ".pt", ".pth"))]


def test_rerun_on_same_release_is_skipped(in_trained):
    client = MlflowClient()
    before = len(client.search_model_versions(f"name='{NAME}'"))
    again = pipeline.train(in_trained["release"], run_name="same-again")
    assert again["skipped"] is True and again["version"] == "1"
    assert again["metrics"]["balanced_accuracy"] == in_trained["trained"]["metrics"]["balanced_accuracy"]
    gated = pipeline.register_and_gate(again)
    assert gated["skipped"] and gated["version"] == "1" and gated["champion"] == "1"
    assert len(client.search_model_versions(f"name='{NAME}'")) == before


def test_forced_rerun_on_same_release_does_not_churn_champion(in_trained):
    rid = in_trained["release"]
    again = pipeline.train(rid, run_name="rerun", force=True)
    assert again["metrics"] == in_trained["trained"]["metrics"]  # same data, same seeds, same model
    gated = pipeline.register_and_gate(again)
    assert gated["verdict"] == "failed"
    assert "does not beat champion v1" in gated["reasons"][0]
    # the champion was re-evaluated on the same test objects and scored what it scored at training
    assert gated["champion_metrics_same_split"]["balanced_accuracy"] == again["metrics"]["balanced_accuracy"]
    assert alias_version(MlflowClient(), NAME, CHAMPION) == "1"
    tags = MlflowClient().get_model_version(NAME, gated["version"]).tags
    assert tags["gate.verdict"] == "failed" and json.loads(tags["gate.reasons"])


def test_report_summarises_the_run(in_trained):
    t = in_trained
    path = pipeline.report(t["release"], t["validation"], t["published"], t["trained"], t["gated"], tag="unit")
    summary = json.loads(open(path).read())
    assert summary["release"] == "kepler/sim-v1"
    assert sum(summary["class_counts"].values()) == load_params().data.simulate.n_objects
    assert summary["registry"]["champion"] == "1"
    assert (Paths.from_env().reports / "latest.json").is_file()


def test_mlflow_setup_leaks_nothing_to_child_processes(in_trained):
    import os

    pipeline.setup_mlflow(Paths.from_env(), "leak-check")
    assert "MLFLOW_EXPERIMENT_ID" not in os.environ and "MLFLOW_TRACKING_URI" not in os.environ


def test_refit_of_a_family_that_stops_early_is_refused_before_any_work(in_trained):
    from lcml.errors import InputError

    with pytest.raises(InputError, match="search.conv_bilstm.refit: conv_bilstm stops early"):
        pipeline.plan_training(in_trained["release"], family="conv_bilstm",
                               overrides={"search": {"conv_bilstm": {"refit": True}}})

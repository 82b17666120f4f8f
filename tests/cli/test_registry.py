"""`lcml registry …`, `lcml reproduce` and MLflow serving, as a user runs them."""

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from lcml import pipeline

from tests.conftest import free_port, use_project, wait_for_http
from tests.cli.test_predict import lcml

NAME = "cli-classifier"


@pytest.fixture(scope="module")
def two_versions(trained_project):
    """A second registered model with two versions (different search seeds) in the trained project."""
    with pytest.MonkeyPatch.context() as mp:
        use_project(mp, trained_project["root"])
        out = []
        for seed in (1, 2):
            overrides = {"registry": {"model_name": NAME}, "search": {"conv_bilstm": {"seed": seed}}}
            trained = pipeline.train(trained_project["release"], run_name=f"cli-{seed}", overrides=overrides)
            out.append(pipeline.register_and_gate(trained, overrides=overrides))
    return out


def test_history_compare_rollback(in_trained, two_versions):
    first, second = two_versions
    assert first["verdict"] == "passed" and first["version"] == "1"
    champion = second["champion"]
    other = "2" if champion == "1" else "1"

    hist = json.loads(lcml("registry", "history", NAME, "--json").stdout)
    assert [e["action"] for e in hist] == ["promoted", "promoted" if second["verdict"] == "passed" else "refused"]

    cmp = lcml("registry", "compare", NAME, "1", "2", "--json")
    assert cmp.returncode == 0, cmp.stderr
    rows = {r["metric"]: r for r in json.loads(cmp.stdout)["metrics"]}
    assert {"balanced_accuracy", "macro_f1", "recall_RR"} <= set(rows)
    assert rows["balanced_accuracy"]["delta"] == pytest.approx(rows["balanced_accuracy"]["v2"] - rows["balanced_accuracy"]["v1"])
    assert "v1 vs v2" in lcml("registry", "compare", NAME, "1", "2").stdout

    rb = lcml("registry", "rollback", NAME, "--to", other, "--reason", "manual check of real FITS")
    assert rb.returncode == 0, rb.stderr
    assert f"@champion v{champion} -> v{other}" in rb.stdout
    back = lcml("registry", "rollback", NAME, "--reason", "undo")  # default: the previous champion
    assert back.returncode == 0 and f"-> v{champion}" in back.stdout
    hist = json.loads(lcml("registry", "history", NAME, "--json").stdout)
    assert [(e["action"], e["reason"]) for e in hist[-2:]] == [
        ("rollback", "manual check of real FITS"), ("rollback", "undo")]
    missing = lcml("registry", "rollback", NAME, "--reason", "x", "--to", "42")
    assert missing.returncode != 0 and "error:" in missing.stderr and "Traceback" not in missing.stderr


def test_lineage_and_card(in_trained):
    out = lcml("registry", "lineage", "kepler-variable-star-classifier@champion", "--json")
    assert out.returncode == 0, out.stderr
    chain = json.loads(out.stdout)
    trained = in_trained["trained"]
    assert chain["release"] == "kepler/sim-v1" and chain["training_run"] == trained["run_id"]
    assert chain["data_md5"] == in_trained["published"]["data_md5"]
    assert chain["packages"]["torch"].startswith("2.14.1")
    assert chain["datasets"][0]["name"] == "kepler/sim-v1"
    assert "<-  release kepler/sim-v1" in lcml("registry", "lineage", "kepler-variable-star-classifier@champion").stdout

    card = lcml("registry", "card", "kepler-variable-star-classifier@champion")
    assert card.returncode == 0, card.stderr
    assert card.stdout.startswith("# kepler-variable-star-classifier v1")
    for section in ("## Data", "## Metrics (test split)", "## Gates", "## Training", "## Intended use", "## Lineage"):
        assert section in card.stdout
    assert f"{trained['metrics']['balanced_accuracy']:.3f}" in card.stdout
    bad = lcml("registry", "card", "kepler-variable-star-classifier@nope")
    assert bad.returncode != 0 and "no version with alias @nope" in bad.stderr


def test_reproduce_of_an_unknown_model_or_version_is_one_clear_line(in_trained):
    for args, message in ((("no-such-model", "1"), "no-such-model has no version 1"),
                          (("kepler-variable-star-classifier", "99"), "kepler-variable-star-classifier has no version 99")):
        proc = lcml("reproduce", *args)
        assert proc.returncode != 0 and "Traceback" not in proc.stderr
        assert f"error: {message}" in proc.stderr


def test_reproduce_matches_recorded_metrics(in_trained):
    out = lcml("reproduce", "kepler-variable-star-classifier", "1")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout[out.stdout.index("{"):])
    assert result["within_1_point"] is True
    assert abs(result["difference"]) <= 0.01
    assert result["recorded_balanced_accuracy"] == in_trained["trained"]["metrics"]["balanced_accuracy"]


def test_mlflow_models_serve_answers_rest_scoring(in_trained):
    from lcml.config import Paths

    port = free_port()
    # like `make serve`: the scoring server is started as `uvicorn` from the venv's bin
    env = {**os.environ, "MLFLOW_TRACKING_URI": Paths.from_env().mlflow_tracking_uri,
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("mlflow")), "models", "serve", "-m",
         "models:/kepler-variable-star-classifier@champion", "--env-manager", "local",
         "-h", "127.0.0.1", "-p", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/ping", server)
        t = np.linspace(0, 20, 900)
        payload = {"dataframe_split": {
            "columns": ["object_id", "time", "flux", "flux_err"],
            "data": [["rr-like", t.tolist(), (1 + 0.3 * np.sin(2 * np.pi * t / 0.55)).tolist(), [0.01] * t.size],
                     ["eb-like", t.tolist(), (1 - 0.2 * (np.cos(4 * np.pi * t / 0.8) > 0.95)).tolist(), [0.01] * t.size]],
        }}
        request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=json.dumps(payload).encode(),
                                         headers={"Content-Type": "application/json"})
        body = json.loads(urllib.request.urlopen(request, timeout=60).read())
        rows = body["predictions"]
        assert [r["object_id"] for r in rows] == ["rr-like", "eb-like"]
        for r in rows:
            probs = [r[f"p_{c}"] for c in ("T2CEP", "RR", "HYB", "GDOR", "EB", "DSCT")]
            assert abs(sum(probs) - 1) < 1e-5 and r["proba"] == max(probs)
            assert r["model_name"] == "kepler-variable-star-classifier"
        # a curve the model cannot take: 400, naming the object and the reason (not a generic 500-ish text)
        payload["dataframe_split"]["data"][1][3] = [-0.01] * t.size
        bad = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as answer:
            urllib.request.urlopen(bad, timeout=60)
        assert answer.value.code == 400
        message = json.loads(answer.value.read())["message"]
        assert "light curve 'eb-like' has fewer than 3 points with a positive, finite flux_err" in message
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_drift_of_a_new_release_is_judged_against_the_champions_training_release(in_trained):
    from lcml.config import context
    from lcml.pipeline.release import drift_reference

    params, paths = context()
    assert drift_reference(params, paths, "kepler/next") == ("kepler/sim-v1", "the champion's training release")

"""``lcml serve``: MLflow's scoring app over the champion, with 413 above the batch limits."""

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from lcml.serving.rest import BatchLimit, request_size, scoring_app
from tests.conftest import free_port, wait_for_http

MODEL = "models:/kepler-variable-star-classifier@champion"
COLUMNS = ["object_id", "time", "flux", "flux_err"]


def _rows(n: int, n_points: int = 200) -> list:
    t = np.linspace(0, 20, n_points)
    return [[f"s{i}", t.tolist(), (1 + 0.3 * np.sin(2 * np.pi * t / (0.4 + 0.1 * i))).tolist(), [0.01] * n_points]
            for i in range(n)]


def _split(rows: list) -> bytes:
    return json.dumps({"dataframe_split": {"columns": COLUMNS, "data": rows}}).encode()


def test_request_size_counts_curves_and_points_in_every_json_layout():
    assert request_size(_split(_rows(3, 50))) == (3, 150)
    records = [dict(zip(COLUMNS, r)) for r in _rows(2, 40)]
    assert request_size(json.dumps({"dataframe_records": records}).encode()) == (2, 80)
    magnitudes = {"dataframe_split": {"columns": ["id", "mjd", "mag"], "data": [["a", [1, 2, 3], [15, 15, 15]]]}}
    assert request_size(json.dumps(magnitudes).encode()) == (1, 3)
    assert request_size(json.dumps({"inputs": [[1], [2]]}).encode()) == (2, 0)
    # not a JSON scoring request: left to MLflow's own answer
    assert request_size(b"object_id,time\n") is None
    assert request_size(b"[1, 2]") is None


def test_limits_name_what_was_exceeded():
    guard = BatchLimit(app=None, max_curves=10, max_points=1000)
    assert guard.too_big(10, 1000) is None
    assert "11 curves, above the limit of 10 per request" in guard.too_big(11, 10)
    assert "1,001 points, above the limit of 1,000 per request" in guard.too_big(2, 1001)


@pytest.fixture(scope="module")
def client(trained_project):
    from starlette.testclient import TestClient

    from lcml.config import Paths
    from tests.conftest import use_project

    with pytest.MonkeyPatch.context() as mp:
        use_project(mp, trained_project["root"])
        from lcml.tracking import use_tracking_uri

        use_tracking_uri(Paths.from_env())
        app = scoring_app(MODEL, max_curves=4, max_points=2_000)
    with TestClient(app) as test_client:
        yield test_client


def _post(client, body: bytes):
    return client.post("/invocations", content=body, headers={"Content-Type": "application/json"})


def test_the_scoring_app_answers_within_the_limits_and_413_above(client):
    assert client.get("/ping").status_code == 200
    ok = _post(client, _split(_rows(4, 200)))
    assert ok.status_code == 200, ok.text
    rows = ok.json()["predictions"]
    assert [r["object_id"] for r in rows] == ["s0", "s1", "s2", "s3"]
    assert all(r["model_name"] == "kepler-variable-star-classifier" for r in rows)
    too_many = _post(client, _split(_rows(5, 10)))
    assert too_many.status_code == 413
    assert "5 curves, above the limit of 4 per request" in too_many.json()["message"]
    too_long = _post(client, _split(_rows(2, 1_200)))
    assert too_long.status_code == 413
    assert "2,400 points, above the limit of 2,000" in too_long.json()["message"]


def test_a_bad_curve_still_gets_mlflows_400_naming_it(client):
    rows = _rows(2, 100)
    rows[1][3] = [-0.01] * 100
    answer = _post(client, _split(rows))
    assert answer.status_code == 400
    assert "light curve 's1' has fewer than 3 points with a positive, finite flux_err" in answer.json()["message"]
    # and a body that is not JSON is MLflow's to answer, not the guard's
    assert _post(client, b"{not json").status_code == 400


def test_lcml_serve_starts_warm_and_refuses_a_big_request(in_trained):
    from lcml.config import Paths

    port = free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": Paths.from_env().mlflow_tracking_uri}
    server = subprocess.Popen([str(Path(sys.executable).with_name("lcml")), "serve", "--port", str(port),
                               "--max-curves", "2"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/ping", server)
        url = f"http://127.0.0.1:{port}/invocations"
        request = urllib.request.Request(url, data=_split(_rows(2)), headers={"Content-Type": "application/json"})
        assert len(json.loads(urllib.request.urlopen(request, timeout=60).read())["predictions"]) == 2
        big = urllib.request.Request(url, data=_split(_rows(3)), headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as answer:
            urllib.request.urlopen(big, timeout=60)
        assert answer.value.code == 413
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_lcml_serve_with_an_unknown_model_is_one_line(in_trained):
    proc = subprocess.run([str(Path(sys.executable).with_name("lcml")), "serve", "--model", "models:/nope@champion",
                           "--port", str(free_port())], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("error: ") and "nope" in lines[-1], proc.stderr
    assert "Traceback" not in proc.stderr


def test_lcml_serve_answers_504_past_its_timeout(in_trained):
    """``--timeout`` reaches MLflow's app: a request that scores for longer gets its 504, not a wait."""
    from lcml.config import Paths

    port = free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": Paths.from_env().mlflow_tracking_uri}
    server = subprocess.Popen([str(Path(sys.executable).with_name("lcml")), "serve", "--port", str(port),
                               "--timeout", "1", "--max-curves", "1000", "--max-points", "1000000"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/ping", server)
        # 400 curves over 2,000 days: a period grid of ~10^5 frequencies each, seconds of scoring in all
        t = np.sort(np.random.default_rng(0).uniform(0, 2000, 300))
        rows = [[f"s{i}", t.tolist(), (1 + 0.3 * np.sin(2 * np.pi * t / (0.4 + 0.001 * i))).tolist(), [0.01] * t.size]
                for i in range(400)]
        slow = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=_split(rows),
                                      headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as answer:
            urllib.request.urlopen(slow, timeout=120)
        assert answer.value.code == 504
        assert "exceeded" in answer.value.read().decode()
    finally:
        server.terminate()
        server.wait(timeout=30)

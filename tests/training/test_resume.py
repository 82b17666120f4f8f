"""A search killed midway resumes from its study and checkpoints (a real process, killed with SIGKILL)."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import optuna
import yaml
from optuna.trial import TrialState

N_TRIALS = 4


def finished_trials(db: Path) -> int:
    if not db.is_file():
        return 0
    try:
        with sqlite3.connect(db) as con:
            return con.execute("select count(*) from trials where state in ('COMPLETE', 'PRUNED')").fetchone()[0]
    except sqlite3.OperationalError:  # tables not created yet
        return 0


def test_killed_search_resumes_and_keeps_the_trial_cap(project):
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["profiles"]["ci"]["search"]["conv_bilstm"].update(n_trials=N_TRIALS, epochs=2, pruner="none")
    params["profiles"]["ci"]["data"]["simulate"]["n_objects"] = 160
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    lcml = [str(Path(sys.executable).with_name("lcml")), "train", "--tag", "resume", "--family", "conv_bilstm"]
    db = project / ".lcml" / "optuna.db"

    first = subprocess.Popen(lcml, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
    deadline = time.monotonic() + 300
    while finished_trials(db) < 1:
        assert first.poll() is None, f"search ended before it could be killed: {first.stderr.read()[-2000:]}"
        assert time.monotonic() < deadline
        time.sleep(0.2)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    killed_at = finished_trials(db)
    assert 1 <= killed_at < N_TRIALS

    second = subprocess.run(lcml, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    study_name = "kepler-variable-star-classifier.conv_bilstm.kepler/sim-v1.resume"
    study = optuna.load_study(study_name=study_name, storage=f"sqlite:///{db}")
    states = [t.state for t in study.trials]
    assert states.count(TrialState.COMPLETE) == N_TRIALS  # exactly the cap, not cap + what ran before
    assert TrialState.RUNNING not in states  # the trial cut off by the kill was marked failed
    for failed in (t for t in study.trials if t.state == TrialState.FAIL and t.params):
        # ... and queued again with its hyperparameters, to resume from its last epoch's state
        again = [t for t in study.trials if t.user_attrs.get("resumes_trial") == failed.number]
        assert len(again) == 1 and again[0].params == failed.params and again[0].state == TrialState.COMPLETE
    assert not list((project / ".lcml" / "checkpoints").rglob("*-state.pt"))  # no stale epoch states
    # the MLflow run of the trial cut off by the kill is closed as KILLED, not left RUNNING forever
    from mlflow.tracking import MlflowClient

    from lcml.config import Paths

    client = MlflowClient(Paths.from_env().mlflow_tracking_uri)
    cut = [t.user_attrs["mlflow_run_id"] for t in study.trials
           if t.state == TrialState.FAIL and "mlflow_run_id" in t.user_attrs]
    assert all(client.get_run(run_id).info.status == "KILLED" for run_id in cut)
    checkpoints = project / ".lcml" / "checkpoints" / study_name
    assert len(list(checkpoints.glob("trial-*.safetensors"))) == N_TRIALS
    assert "registered" in second.stdout and "kepler-variable-star-classifier v1" in second.stdout

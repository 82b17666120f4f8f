"""Running the Airflow DAGs on the embedded default: environment, metadata DB, ``airflow dags test``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from lcml.config import Paths
from lcml.errors import LcmlError


def airflow_env(paths: Paths, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for Airflow processes: SQLite metadata and logs under the state folder, lcml's DAGs."""
    home = paths.airflow_home
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": os.environ.get("AIRFLOW__CORE__DAGS_FOLDER", str(paths.project / "dags")),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__API__HOST": os.environ.get("AIRFLOW__API__HOST", "127.0.0.1"),
        "LCML_PROJECT_DIR": str(paths.project),
        "LCML_HOME": str(paths.home),
        "MLFLOW_TRACKING_URI": paths.mlflow_tracking_uri,
        "LCML_OPTUNA_STORAGE": paths.optuna_storage,
        "GX_ANALYTICS_ENABLED": "False",
        "DVC_NO_ANALYTICS": "1",
        "HF_HUB_OFFLINE": "1",
        # `airflow standalone` starts its components as `airflow ...` from PATH
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    }
    env.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{home / 'airflow.db'}")
    env.update(extra or {})
    return env


def airflow_bin() -> str:
    found = Path(sys.executable).with_name("airflow")
    return str(found) if found.exists() else (shutil.which("airflow") or "airflow")


def run_airflow(paths: Paths, args: list[str], log: Path | None = None) -> int:
    """Run the ``airflow`` CLI with lcml's environment; output to ``log`` when given."""
    paths.airflow_home.mkdir(parents=True, exist_ok=True)
    cmd = [airflow_bin(), *args]
    if log is None:
        return subprocess.run(cmd, env=airflow_env(paths)).returncode
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as fh:
        return subprocess.run(cmd, env=airflow_env(paths), stdout=fh, stderr=subprocess.STDOUT).returncode


def ensure_metadata_db(paths: Paths, log: Path) -> None:
    """``airflow db migrate`` (idempotent; fast when the SQLite DB is current)."""
    if run_airflow(paths, ["db", "migrate"], log) != 0:
        raise LcmlError(f"airflow db migrate failed; see {log}")


def run_dag_test(paths: Paths, dag_id: str, conf: dict, log: Path) -> int:
    """Run one DAG run in-process through ``airflow dags test``; returns its exit code."""
    ensure_metadata_db(paths, log)
    return run_airflow(paths, ["dags", "test", dag_id, "--conf", json.dumps(conf)], log)


def _print(message: str, err: bool = False) -> None:
    print(message, file=sys.stderr if err else sys.stdout)


def run_retrain_dag(release: str | None, profile: str | None, tag: str | None, force: bool = False,
                    say=_print) -> dict:
    """``lcml pipeline run`` / ``lcml demo``: the retrain DAG through real Airflow; its summary.

    Raises :class:`~lcml.errors.LcmlError` naming the log when the DAG run fails (its last lines are
    passed to ``say(text, err=True)`` first).
    """
    import time
    from datetime import datetime, timezone

    paths = Paths.from_env().ensure()
    tag = tag or datetime.now(timezone.utc).strftime("run-%Y%m%dT%H%M%S")
    log = paths.reports / f"{tag}.airflow.log"
    conf = {"release": release, "profile": profile, "tag": tag, "force": force}
    say(f"Running DAG retrain_classifiers through Airflow (log: {log}) ...")
    start = time.monotonic()
    rc = run_dag_test(paths, "retrain_classifiers", conf, log)
    elapsed = time.monotonic() - start
    report = paths.reports / f"{tag}.json"
    if rc != 0 or not report.is_file():
        tail = "".join(log.read_text(errors="replace").splitlines(keepends=True)[-15:]) if log.exists() else ""
        say(tail, err=True)
        raise LcmlError(f"DAG run {tag} failed (exit {rc}) after {elapsed:.0f} s; full log: {log}")
    summary = json.loads(report.read_text())
    summary["dag_seconds"] = round(elapsed, 1)
    report.write_text(json.dumps(summary, indent=2) + "\n")
    return summary

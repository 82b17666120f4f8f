"""Shared fixtures. Every test runs against real components (SQLite MLflow, Airflow, DVC, GX)
in a throw-away project folder; nothing touches the repository's own state."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Under pytest-xdist (`make test` runs `pytest -n 2`), each worker gets its share of the cores: torch's
# and OpenMP's thread pools sized for the whole machine in every worker oversubscribe it, and spinning
# threads then make the parallel suite slower than a serial one. Set before anything loads them; CLI
# subprocesses inherit it.
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    _threads = str(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))
    for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(_var, _threads)

# Airflow reads AIRFLOW_HOME once, at import: give the whole session its own before anything imports it.
_SESSION_DIR = Path(tempfile.mkdtemp(prefix="lcml-tests-"))
os.environ.update(
    {
        "AIRFLOW_HOME": str(_SESSION_DIR / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_SESSION_DIR / 'airflow' / 'airflow.db'}",
        "HF_HUB_OFFLINE": "1",
        "GX_ANALYTICS_ENABLED": "False",
        "DVC_NO_ANALYTICS": "1",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    }
)
for var in ("MLFLOW_TRACKING_URI", "LCML_OPTUNA_STORAGE", "LCML_DVC_REMOTE", "LCML_PARAMS", "LCML_PROFILE"):
    os.environ.pop(var, None)


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_SESSION_DIR, ignore_errors=True)


def make_project(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "params.yaml", root / "params.yaml")
    return root


def use_project(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    monkeypatch.setenv("LCML_PROJECT_DIR", str(root))
    monkeypatch.setenv("LCML_HOME", str(root / ".lcml"))
    monkeypatch.setenv("LCML_PROFILE", "ci")


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """An empty lcml project (params.yaml only) with its own state folder, profile ``ci``."""
    root = make_project(tmp_path / "project")
    use_project(monkeypatch, root)
    return root


@pytest.fixture(scope="session")
def trained_project(tmp_path_factory) -> dict:
    """A project in which the pipeline ran once (profile ``ci``): a release, a registered champion."""
    from lcml import pipeline

    root = make_project(tmp_path_factory.mktemp("trained") / "project")
    with pytest.MonkeyPatch.context() as mp:
        use_project(mp, root)
        rid = pipeline.prepare_release()
        validation = pipeline.validate(rid)
        published = pipeline.publish(rid)
        trained = pipeline.train(rid, run_name="fixture")
        gated = pipeline.register_and_gate(trained)
    return {"root": root, "release": rid, "validation": validation, "published": published,
            "trained": trained, "gated": gated}


@pytest.fixture
def in_trained(trained_project, monkeypatch) -> dict:
    from lcml.config import Paths
    from lcml.tracking import use_tracking_uri

    use_project(monkeypatch, trained_project["root"])
    use_tracking_uri(Paths.from_env())  # MlflowClient() in a test means this project's backend
    return trained_project


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Migrated Airflow metadata DB (SQLite) for the session."""
    Path(os.environ["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([str(Path(sys.executable).with_name("airflow")), "db", "migrate"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return Path(os.environ["AIRFLOW_HOME"])


@pytest.fixture(scope="session")
def real_data() -> Path:
    """Real survey data (read-only), from $LCML_REAL_DATA or ../shared/data."""
    path = Path(os.environ.get("LCML_REAL_DATA", REPO.parent / "shared" / "data"))
    if not path.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"CI must have the real data at {path} (set LCML_REAL_DATA)")
        pytest.skip(f"real data not found at {path} (set LCML_REAL_DATA)")
    return path


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_http(url: str, proc: subprocess.Popen, timeout: float = 180) -> None:
    """Poll ``url`` until it answers; fail early if ``proc`` (the server) exits."""
    import time
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            assert proc.poll() is None, f"server for {url} exited with {proc.returncode}"
            assert time.monotonic() < deadline, f"{url} did not answer within {timeout:.0f} s"
            time.sleep(0.5)


_PG: dict = {}


def postgres_database(postgres_url: str, name: str) -> str:
    """A new, empty database on the session's PostgreSQL server; returns its SQLAlchemy URL."""
    _PG["createdb"](name)
    return postgres_url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """A throw-away PostgreSQL server on 127.0.0.1 (Debian's postgresql; `.ci/run` installs it)."""
    import glob
    import time

    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL server binaries missing (.ci/run installs Debian's postgresql)")
        pytest.skip("PostgreSQL server binaries not installed (apt-get install postgresql)")
    bindir = Path(found[-1]).parent
    root = Path(tempfile.mkdtemp(prefix="lcml-pg-"))  # pytest's folders are private to root
    data = root / "data"
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_postgres:
        shutil.chown(root, "postgres")
    run = lambda *cmd: subprocess.run([*as_postgres, *map(str, cmd)], check=True, capture_output=True)  # noqa: E731
    run(bindir / "initdb", "-D", data, "-A", "trust", "-U", "lcml", "--no-sync")
    port = free_port()
    run(bindir / "pg_ctl", "-D", data, "-l", root / "server.log", "-w", "-o",
        f"-h 127.0.0.1 -p {port} -k {root} -c fsync=off -c max_connections=300", "start")
    try:
        for _ in range(50):
            if subprocess.run([*as_postgres, str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)],
                              capture_output=True).returncode == 0:
                break
            time.sleep(0.2)
        run(bindir / "createdb", "-h", "127.0.0.1", "-p", port, "-U", "lcml", "optuna")
        _PG["createdb"] = lambda name: run(bindir / "createdb", "-h", "127.0.0.1", "-p", port, "-U", "lcml", name)
        yield f"postgresql+psycopg2://lcml@127.0.0.1:{port}/optuna"
    finally:
        subprocess.run([*as_postgres, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny torch models on 2 shared cores: OpenMP threads spinning against other processes make them
    tens of times slower than one thread."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

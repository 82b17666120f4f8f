"""MLflow Model Registry operations: register, gate and promote, roll back, history, status.

Aliases only, never stages. A version's gate verdict and reasons are tags on the version, so
``lcml registry status`` and the MLflow UI tell the same story. Every registry decision (registered,
promoted, refused, rolled back) is also an event: a run in the ``lcml-registry-events`` experiment,
so ``lcml registry history`` works the same against SQLite and a tracking server.

Promotion is serialised per registered model by a file lock under ``$LCML_HOME/locks`` (shared
by every process on the machine, or every container mounting the same state volume), and the gate is
evaluated *inside* the lock against whichever version is champion at that moment: two runs promoting
at once leave exactly one champion, the better one.
"""

from __future__ import annotations

import getpass
import json
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lcml.config import GateParams
from lcml.errors import LcmlError
from lcml.registry.gates import GateResult, evaluate_gates

CHAMPION = "champion"
CHALLENGER = "challenger"
EVENTS_EXPERIMENT = "lcml-registry-events"
#: Metrics copied onto each version as ``metric.<name>`` tags for quick comparison in the UI.
KEY_METRICS = ("balanced_accuracy", "macro_f1", "accuracy", "latency_ms_per_curve")


def alias_version(client, name: str, alias: str) -> str | None:
    """Version number ``alias`` points at, or None (no model, or alias unset)."""
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


@contextmanager
def registry_lock(home: Path, name: str, timeout: float = 900) -> Iterator[None]:
    """Exclusive lock for changing ``name``'s versions and aliases."""
    from filelock import FileLock, Timeout

    folder = home / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(folder / f"{name}.lock"))
    try:
        lock.acquire(timeout=timeout)
    except Timeout:
        raise LcmlError(f"registry lock for {name} held by another process for over {timeout:.0f} s") from None
    try:
        yield
    finally:
        lock.release()


def register_version(client, name: str, model_uri: str, run_id: str, tags: dict[str, Any],
                     description: str = "Variable-star light-curve classifier managed by lcml "
                                        "(aliases champion/challenger)."):
    """Add a version with lineage ``tags``; a run already registered returns its existing version."""
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name, description=description)
    for mv in client.search_model_versions(f"name='{name}' and run_id='{run_id}'"):
        return mv
    # MLflow 3 logged models ("models:/m-…") are registered by id; a tracking server insists on it
    model_id = model_uri.removeprefix("models:/") if model_uri.startswith("models:/m-") else None
    return client.create_model_version(
        name, source=model_uri, run_id=run_id, tags={k: str(v) for k, v in tags.items()}, model_id=model_id
    )


def find_versions(client, name: str, **tags: str) -> list:
    """Versions of ``name`` whose tags match all of ``tags`` (newest first)."""
    from mlflow.exceptions import MlflowException

    try:
        versions = client.search_model_versions(f"name='{name}'")
    except MlflowException:
        return []
    hits = [mv for mv in versions if all((mv.tags or {}).get(k) == str(v) for k, v in tags.items())]
    return sorted(hits, key=lambda mv: -int(mv.version))


def is_transient(exc: BaseException) -> bool:
    """Errors worth retrying: the tracking backend is unreachable, busy or briefly failing."""
    from mlflow.exceptions import MlflowException

    if isinstance(exc, MlflowException):
        return exc.error_code in ("INTERNAL_ERROR", "TEMPORARILY_UNAVAILABLE", "REQUEST_LIMIT_EXCEEDED")
    try:
        from sqlalchemy.exc import OperationalError
    except ImportError:  # pragma: no cover
        OperationalError = ()  # noqa: N806
    return isinstance(exc, (ConnectionError, TimeoutError, OperationalError))


def with_retries(fn: Callable[[], Any], seconds: float, on_retry: Callable[[BaseException], None] | None = None) -> Any:
    """Call ``fn`` until it succeeds, retrying transient registry errors with exponential backoff.

    Every registry step is idempotent (a run registers once; a judged version keeps its verdict),
    so a retry after a failure halfway never leaves a second version or a dangling alias.
    """
    from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_exponential

    retrying = Retrying(stop=stop_after_delay(seconds), wait=wait_exponential(multiplier=0.5, max=20),
                        retry=retry_if_exception(is_transient), reraise=True,
                        before_sleep=(lambda state: on_retry(state.outcome.exception())) if on_retry else None)
    return retrying(fn)


# ---------------------------------------------------------------- events


def _events_experiment(client) -> str:
    found = client.get_experiment_by_name(EVENTS_EXPERIMENT)
    return found.experiment_id if found else client.create_experiment(EVENTS_EXPERIMENT)


def record_event(client, name: str, action: str, version: str | None, *, previous: str | None = None,
                 reason: str = "", details: dict | None = None) -> None:
    """Append one registry event (who, when, what, why)."""
    tags = {
        "lcml.model": name,
        "lcml.action": action,
        "lcml.version": version or "",
        "lcml.previous": previous or "",
        "lcml.reason": reason[:4000],
        "lcml.user": getpass.getuser(),
        "lcml.host": socket.gethostname(),
        "lcml.details": json.dumps(details or {}, default=str)[:4000],
    }
    run = client.create_run(_events_experiment(client), tags=tags, run_name=f"{name} {action} v{version}")
    client.set_terminated(run.info.run_id)


def history(client, name: str) -> list[dict[str, Any]]:
    """Registry events of ``name``, oldest first."""
    exp = client.get_experiment_by_name(EVENTS_EXPERIMENT)
    if exp is None:
        return []
    runs = client.search_runs([exp.experiment_id], filter_string=f"tags.`lcml.model` = '{name}'",
                              order_by=["attributes.start_time ASC"], max_results=10000)
    out = []
    for run in runs:
        t = run.data.tags
        out.append({
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(run.info.start_time / 1000)),
            "action": t.get("lcml.action", ""),
            "version": t.get("lcml.version", ""),
            "previous": t.get("lcml.previous", ""),
            "reason": t.get("lcml.reason", ""),
            "user": t.get("lcml.user", ""),
            "details": json.loads(t.get("lcml.details") or "{}"),
        })
    return out


# ---------------------------------------------------------------- promotion


def gate_and_promote(
    client,
    name: str,
    version: str,
    metrics: dict[str, float],
    gates: GateParams,
    champion_metrics: Callable[[str], dict[str, float]],
) -> GateResult:
    """Judge ``version`` against the current champion and move the aliases if every gate passes.

    Call with :func:`registry_lock` held. ``champion_metrics(v)`` scores champion version ``v`` on the
    candidate's test objects. Idempotent: a version already judged keeps its verdict.
    """
    tags = client.get_model_version(name, version).tags or {}
    champion = alias_version(client, name, CHAMPION)
    if "gate.verdict" in tags:
        return GateResult(passed=tags["gate.verdict"] == "passed",
                          checks=json.loads(tags.get("gate.checks", "[]")), champion_version=champion)
    if champion == version:
        return GateResult(passed=True, checks=[], champion_version=champion)
    baseline = champion_metrics(champion) if champion is not None else None
    gate = evaluate_gates(metrics, baseline, gates, champion)
    client.set_model_version_tag(name, version, "gate.verdict", gate.verdict)
    client.set_model_version_tag(name, version, "gate.reasons", json.dumps(gate.reasons))
    client.set_model_version_tag(name, version, "gate.checks", json.dumps(gate.checks)[:4000])
    if gate.warnings:  # passed on weak evidence: shown next to the verdict, in the UI and `lcml registry`
        client.set_model_version_tag(name, version, "gate.warnings", json.dumps(gate.warnings))
    for key in KEY_METRICS:
        if key in metrics:
            client.set_model_version_tag(name, version, f"metric.{key}", f"{metrics[key]:.4f}")
    if gate.passed:
        client.set_registered_model_alias(name, CHALLENGER, version)
        client.set_registered_model_alias(name, CHAMPION, version)
        record_event(client, name, "promoted", version, previous=champion,
                     reason="all gates passed" if champion is None else
                     f"beats v{champion} on {gates.metric} ({metrics.get(gates.metric, 0):.3f} vs "
                     f"{(baseline or {}).get(gates.metric, 0):.3f})",
                     details={"checks": gate.checks})
    else:
        record_event(client, name, "refused", version, previous=champion, reason="; ".join(gate.reasons),
                     details={"checks": gate.checks})
    return gate


def rollback(client, name: str, reason: str, to: str | None = None) -> tuple[str, str]:
    """Point ``champion`` back at ``to`` (default: the champion before the current one).

    Returns ``(from_version, to_version)``.
    """
    if not reason.strip():
        raise LcmlError("a rollback needs a --reason")
    current = alias_version(client, name, CHAMPION)
    if current is None:
        raise LcmlError(f"{name} has no champion to roll back")
    if to is None:
        earlier = [e["previous"] for e in history(client, name)
                   if e["action"] in ("promoted", "rollback") and e["version"] == current and e["previous"]]
        if not earlier:
            raise LcmlError(f"{name}: no earlier champion than v{current} in the history; use --to VERSION")
        to = earlier[-1]
    from mlflow.exceptions import MlflowException

    try:
        client.get_model_version(name, to)
    except MlflowException:
        raise LcmlError(f"{name} has no version {to}") from None
    if to == current:
        raise LcmlError(f"v{to} is already the champion of {name}")
    client.set_registered_model_alias(name, CHAMPION, to)
    client.set_model_version_tag(name, current, "rollback.reason", reason)
    record_event(client, name, "rollback", to, previous=current, reason=reason)
    return current, to


# ---------------------------------------------------------------- reading


def registry_status(client, name: str) -> dict[str, Any]:
    """Versions (newest first) with aliases, key metrics, verdicts and lineage."""
    from mlflow.exceptions import MlflowException

    try:
        model = client.get_registered_model(name)
    except MlflowException:
        return {"name": name, "exists": False, "aliases": {}, "versions": []}
    aliases = {alias: str(v) for alias, v in (model.aliases or {}).items()}
    by_version: dict[str, list[str]] = {}
    for alias, v in aliases.items():
        by_version.setdefault(v, []).append(alias)
    versions = []
    for mv in sorted(client.search_model_versions(f"name='{name}'"), key=lambda m: -int(m.version)):
        tags = dict(mv.tags or {})
        versions.append(
            {
                "version": str(mv.version),
                "aliases": sorted(by_version.get(str(mv.version), [])),
                "created": mv.creation_timestamp,
                "family": tags.get("family", ""),
                "release": tags.get("release", ""),
                "verdict": tags.get("gate.verdict", "pending"),
                "reasons": json.loads(tags.get("gate.reasons", "[]")),
                "warnings": json.loads(tags.get("gate.warnings", "[]")),
                "metrics": {k: float(tags[f"metric.{k}"]) for k in KEY_METRICS if f"metric.{k}" in tags},
                "run_id": mv.run_id,
                "tags": tags,
            }
        )
    return {"name": name, "exists": True, "aliases": aliases, "versions": versions}


def resolve_version(client, ref: str) -> tuple[str, str]:
    """``NAME@ALIAS``, ``NAME/VERSION`` or ``models:/…`` → ``(name, version)``."""
    from mlflow.exceptions import MlflowException

    ref = ref.removeprefix("models:/")
    if "@" in ref:
        name, alias = ref.split("@", 1)
        version = alias_version(client, name, alias)
        if version is None:
            raise LcmlError(f"{name} has no version with alias @{alias}")
        return name, version
    name, _, version = ref.partition("/")
    if not version:
        raise LcmlError(f"expected NAME@ALIAS or NAME/VERSION, got {ref!r}")
    try:
        client.get_model_version(name, version)
    except MlflowException:
        raise LcmlError(f"{name} has no version {version}") from None
    return name, version


def run_test_metrics(run) -> dict[str, float]:
    """Test metrics a training run logged (``test_*``), without the prefix."""
    return {k.removeprefix("test_"): v for k, v in run.data.metrics.items() if k.startswith("test_")}


def version_metrics(client, name: str, version: str) -> dict[str, float]:
    """Test metrics of a version, from its training run."""
    return run_test_metrics(client.get_run(client.get_model_version(name, version).run_id))

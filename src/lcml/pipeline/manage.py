"""Registry management flows behind ``lcml registry …`` and ``lcml reproduce``.

Each reads or changes the registry of the configured tracking backend and returns plain data the
CLI prints (or ``--json`` dumps). Rollback takes the same per-model lock as promotion.
"""

from __future__ import annotations

from typing import Any

from lcml.config import context
from lcml.errors import InputError, LcmlError
from lcml.tracking import client as tracking_client

LINEAGE_KEYS = ("release", "manifest_hash", "data_md5", "git_commit", "git_dirty", "params_hash", "profile",
                "family", "study", "best_trial")


def _client(profile: str | None = None):
    params, paths = context(profile)
    return tracking_client(paths), params, paths


def status(name: str | None = None, profile: str | None = None) -> dict[str, Any]:
    """Versions, aliases, key metrics and gate verdicts of ``name`` (default: the configured survey's model).

    ``exists`` is false for an unknown model; ``name`` and ``tracking_uri`` say where it was looked for.
    """
    from lcml.registry.promote import registry_status

    client, params, paths = _client(profile)
    name = name or params.registry.name_for(params.data.survey)
    return {**registry_status(client, name), "name": name, "tracking_uri": paths.mlflow_tracking_uri}


def rollback(name: str, reason: str, to: str | None = None) -> tuple[str, str]:
    """Point ``@champion`` back at the previous champion (or ``to``), under the registry lock; ``(old, new)``."""
    from lcml.registry.promote import registry_lock
    from lcml.registry.promote import rollback as move_back

    client, _, paths = _client()
    with registry_lock(paths.home, name):
        return move_back(client, name, reason=reason, to=to)


def history(name: str) -> list[dict[str, Any]]:
    """Every promotion, refusal and rollback of ``name``, oldest first."""
    from lcml.registry.promote import history as events

    client, _, _ = _client()
    return events(client, name)


def compare(name: str, v1: str, v2: str) -> dict[str, Any]:
    """Test metrics of two versions side by side (``rows``: metric, both values, delta) and their releases."""
    from lcml.registry.promote import resolve_version, version_metrics

    client, _, _ = _client()
    a = version_metrics(client, *resolve_version(client, f"{name}/{v1}"))
    b = version_metrics(client, *resolve_version(client, f"{name}/{v2}"))
    releases = {v: client.get_model_version(name, v).tags.get("release", "") for v in (v1, v2)}
    keys = [k for k in ("accuracy", "balanced_accuracy", "macro_f1", "n_test") if k in a or k in b]
    keys += sorted({k for k in (*a, *b) if k.startswith("recall_")})
    rows = [{"metric": k, f"v{v1}": a.get(k), f"v{v2}": b.get(k),
             "delta": (b[k] - a[k]) if k in a and k in b else None} for k in keys]
    return {"releases": releases, "metrics": rows}


def lineage(ref: str) -> dict[str, Any]:
    """What made a version (``NAME@ALIAS`` or ``NAME/VERSION``): release, hashes, code, params, packages."""
    import mlflow

    from lcml.registry.promote import resolve_version

    client, _, _ = _client()
    name, version = resolve_version(client, ref)
    mv = client.get_model_version(name, version)
    run = client.get_run(mv.run_id)
    try:
        packages = mlflow.artifacts.load_dict(f"runs:/{mv.run_id}/package_versions.json")
    except Exception:  # older runs may lack it; lineage still gives the rest
        packages = {}
    datasets = [{"name": d.dataset.name, "digest": d.dataset.digest, "source": d.dataset.source}
                for d in (run.inputs.dataset_inputs if run.inputs else [])]
    return {"model": f"{name} v{version}", "name": name, "version": version,
            **{k: mv.tags.get(k, "") for k in LINEAGE_KEYS},
            "training_run": mv.run_id, "model_source": mv.source, "datasets": datasets, "packages": packages}


def card(ref: str) -> str:
    """The model card (markdown) of a version."""
    import mlflow

    from lcml.registry.card import CARD
    from lcml.registry.promote import resolve_version

    client, _, _ = _client()
    name, version = resolve_version(client, ref)
    run_id = client.get_model_version(name, version).run_id
    try:
        return mlflow.artifacts.load_text(f"runs:/{run_id}/{CARD}")
    except Exception:
        raise LcmlError(f"{name} v{version} has no model card (run {run_id})") from None


def reproduce(name: str, version: str) -> dict[str, Any]:
    """Retrain ``name`` ``version`` from its recorded release and parameters; the difference in balanced accuracy."""
    import mlflow

    from lcml.config import Params
    from lcml.pipeline.train import train

    from lcml.registry.promote import resolve_version

    if not version.isdigit():
        raise InputError(f"VERSION must be a number, got {version!r}")
    client, _, _ = _client()
    name, version = resolve_version(client, f"{name}/{version}")  # one line for an unknown model or version
    mv = client.get_model_version(name, version)
    recorded = Params.model_validate(mlflow.artifacts.load_dict(f"runs:/{mv.run_id}/params.json"))
    before = client.get_run(mv.run_id).data.metrics
    again = train(mv.tags["release"], run_name=f"reproduce-v{version}", params=recorded)
    diff = again["metrics"]["balanced_accuracy"] - before["test_balanced_accuracy"]
    return {"model": f"{name} v{version}", "release": mv.tags["release"],
            "recorded_balanced_accuracy": before["test_balanced_accuracy"],
            "reproduced_balanced_accuracy": again["metrics"]["balanced_accuracy"],
            "difference": diff, "within_1_point": abs(diff) <= 0.01, "reproduction_run": again["run_id"]}

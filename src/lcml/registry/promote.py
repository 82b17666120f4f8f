"""MLflow Model Registry operations: register, move the ``challenger``/``champion`` aliases, report status.

Aliases only, never stages. A version's gate verdict and reasons are tags on the version, so
``lcml registry status`` and the MLflow UI tell the same story.
"""

from __future__ import annotations

import json
from typing import Any

from lcml.registry.gates import GateResult

CHAMPION = "champion"
CHALLENGER = "challenger"
#: Metrics copied onto each version as ``metric.<name>`` tags for quick comparison in the UI.
KEY_METRICS = ("balanced_accuracy", "macro_f1", "accuracy")


def alias_version(client, name: str, alias: str) -> str | None:
    """Version number ``alias`` points at, or None (no model, or alias unset)."""
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def register_version(client, name: str, model_uri: str, run_id: str, tags: dict[str, Any]):
    """Create the registered model if needed and add a version with lineage ``tags``."""
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(
            name, description="Variable-star light-curve classifier managed by lcml (aliases champion/challenger)."
        )
    mv = client.create_model_version(
        name, source=model_uri, run_id=run_id, tags={k: str(v) for k, v in tags.items()}
    )
    return mv


def apply_gate(client, name: str, version: str, gate: GateResult, metrics: dict[str, float]) -> str | None:
    """Record the verdict on the version; on pass move ``challenger`` then ``champion`` to it.

    Returns the version that is champion afterwards.
    """
    client.set_model_version_tag(name, version, "gate.verdict", gate.verdict)
    client.set_model_version_tag(name, version, "gate.reasons", json.dumps(gate.reasons))
    for key in KEY_METRICS:
        if key in metrics:
            client.set_model_version_tag(name, version, f"metric.{key}", f"{metrics[key]:.4f}")
    if gate.passed:
        client.set_registered_model_alias(name, CHALLENGER, version)
        client.set_registered_model_alias(name, CHAMPION, version)
    return alias_version(client, name, CHAMPION)


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
                "metrics": {k: float(tags[f"metric.{k}"]) for k in KEY_METRICS if f"metric.{k}" in tags},
                "run_id": mv.run_id,
                "tags": tags,
            }
        )
    return {"name": name, "exists": True, "aliases": aliases, "versions": versions}

"""Registry flows: register a candidate, judge it against the champion on the same test split, report.

:func:`register_and_gate` is the one place a training result meets the registry; :func:`report`
writes the run summary that ``make demo`` prints.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from typing import Any

from lcml.config import Paths, context
from lcml.data import release as rel
from lcml.errors import LcmlError
from lcml.pipeline.data import TrainingData, training_data
from lcml.tracking import client as tracking_client
from lcml.tracking import setup_mlflow

log = logging.getLogger("lcml.pipeline")


def register_and_gate(trained: dict[str, Any], profile: str | None = None,
                      overrides: dict | None = None) -> dict[str, Any]:
    """Register the candidate, re-evaluate the champion on the SAME test objects, apply the gates.

    Runs under the registry lock, so concurrent runs promote one at a time and the gate always
    compares with the champion of that moment. Passing moves ``challenger`` then ``champion``;
    failing keeps the version with its reasons and leaves the aliases untouched. Calling it again
    for the same training run changes nothing.
    """
    from mlflow import MlflowClient

    from lcml.registry.promote import (
        CHAMPION, alias_version, gate_and_promote, register_version, registry_lock, with_retries,
    )

    params, paths = context(profile, overrides)
    name = params.registry.name_for(trained["release"].split("/")[0])

    def warn(exc: BaseException) -> None:
        log.warning("registry unavailable (%s); retrying", str(exc).splitlines()[0][:200])

    with_retries(lambda: setup_mlflow(paths, name), params.registry.retry_seconds, on_retry=warn)
    client = MlflowClient()
    if trained.get("skipped"):
        return _already_judged(client, name, trained["version"])
    data = training_data(params, paths, trained["release"])
    scored: dict[str, dict] = {}
    champion_metrics = _champion_scorer(paths, name, trained["release"], data, scored)
    candidate = {**trained["metrics"], "latency_ms_per_curve": trained["latency_ms_per_curve"]}

    def register_gate_promote() -> tuple:
        with registry_lock(paths.home, name):
            before = alias_version(client, name, CHAMPION)
            mv = register_version(client, name, trained["model_uri"], trained["run_id"],
                                  {**trained["lineage"], "best_trial": trained["best_trial"]})
            gate = gate_and_promote(client, name, str(mv.version), candidate, params.gates.for_model(name),
                                    champion_metrics)
            return before, str(mv.version), gate, alias_version(client, name, CHAMPION)

    champion_before, version, gate, champion_after = with_retries(
        register_gate_promote, params.registry.retry_seconds, on_retry=warn)
    _record(trained, name, version, gate, candidate, scored.get(champion_before or ""), champion_before, data)
    log.info("registered %s v%s (%s): %s; champion v%s", name, version, trained.get("family", "?"), gate.verdict,
             champion_after)
    return {"model_name": name, "version": version, "verdict": gate.verdict, "reasons": gate.reasons,
            "warnings": gate.warnings, "champion_before": champion_before, "champion": champion_after,
            "champion_metrics_same_split": scored.get(champion_before or "")}


def _already_judged(client, name: str, version: str) -> dict[str, Any]:
    """A candidate trained before (same release, params, family, commit): its recorded verdict."""
    from lcml.registry.promote import CHAMPION, alias_version

    tags = client.get_model_version(name, version).tags
    champion = alias_version(client, name, CHAMPION)
    return {"model_name": name, "version": version, "skipped": True,
            "verdict": tags.get("gate.verdict", "pending"), "reasons": json.loads(tags.get("gate.reasons", "[]")),
            "warnings": json.loads(tags.get("gate.warnings", "[]")),
            "champion_before": champion, "champion": champion, "champion_metrics_same_split": None}


def _champion_scorer(paths: Paths, name: str, release: str, data: TrainingData, scored: dict):
    """``version -> metrics`` of a registered version on this release's test split (kept in ``scored``).

    Transient registry errors propagate (the caller retries); any other failure is one line naming the
    champion, since no candidate can be judged without it.
    """
    from lcml.evaluation import classification_metrics
    from lcml.registry.promote import is_transient
    from lcml.serving.loader import INPUT_COLUMNS, load_model

    test = data.frames["test"]

    def champion_metrics(version: str) -> dict[str, float]:
        try:
            model = load_model(f"models:/{name}/{version}", paths, resolve_name=False, friendly=False)
            predictions = model.predict(test[INPUT_COLUMNS])
        except Exception as exc:
            if is_transient(exc):
                raise
            raise LcmlError(f"champion v{version} of {name} could not be re-scored on the test split of "
                            f"{release}, so no candidate can be judged against it: {exc}") from exc
        scored[version] = classification_metrics(test["label"], predictions["label_pred"], data.classes)
        return scored[version]

    return champion_metrics


def _record(trained: dict, name: str, version: str, gate, candidate: dict, champion: dict | None,
            champion_before: str | None, data: TrainingData) -> None:
    """gates.json, the model card and the verdict tags, in the candidate's training run."""
    import mlflow

    from lcml.registry.card import CARD, render_card

    card = render_card(name=name, version=version, trained=trained, gate=gate.as_dict(),
                       manifest=rel.read_manifest(data.folder), classes=data.classes, champion_before=champion_before)
    with mlflow.start_run(run_id=trained["run_id"]):
        mlflow.log_dict({**gate.as_dict(), "candidate": candidate, "champion": champion, "version": version},
                        "gates.json")
        mlflow.log_text(card, CARD)
        mlflow.set_tags({"gate.verdict": gate.verdict, "registered_version": version})


def _version_key(version: str) -> tuple[int, int]:
    # "" (no champion before) sorts first; versions compare as numbers
    return (0, 0) if not version else (1, int(version))


def _current_champion(paths: Paths, name: str) -> str | None:
    from lcml.registry.promote import CHAMPION, alias_version

    return alias_version(tracking_client(paths), name, CHAMPION)


def report(release: str, validation: dict, published: dict, trained: dict | list[dict], gated: dict | list[dict],
           tag: str = "latest", profile: str | None = None, overrides: dict | None = None) -> str:
    """Write the run summary JSON (what ``make demo`` prints) and return its path.

    ``trained`` and ``gated`` are one candidate or one per family (same order). The top-level
    ``search``/``test_metrics``/``registry`` describe the candidate that is champion after this run
    (else the one with the best test balanced accuracy); ``candidates`` lists every family's.
    """
    params, paths = context(profile, overrides)
    trained = [trained] if isinstance(trained, dict) else list(trained)
    gated = [gated] if isinstance(gated, dict) else list(gated)
    if not trained or len(trained) != len(gated):
        raise LcmlError(f"report: {len(trained)} trained candidates but {len(gated)} gate results")
    manifest = rel.read_manifest(rel.release_dir(paths, release))
    candidates = [
        {"family": t["family"], "study": t["study"], "version": g["version"], "verdict": g["verdict"],
         "reasons": g["reasons"], "warnings": g.get("warnings", []),
         "skipped": bool(g.get("skipped")), "run_id": t["run_id"], "n_trials": t["n_trials"],
         "best_val_balanced_accuracy": t["best_val_balanced_accuracy"], "test_metrics": t["metrics"],
         "latency_ms_per_curve": t["latency_ms_per_curve"]}
        for t, g in zip(trained, gated)
    ]
    champion = _current_champion(paths, params.registry.name_for(release.split("/")[0]))  # gates finish in any order
    lead = next((i for i, g in enumerate(gated) if g["version"] == champion), None)
    if lead is None:
        lead = max(range(len(trained)), key=lambda i: trained[i]["metrics"].get("balanced_accuracy", -1.0))
    t, g = trained[lead], gated[lead]
    summary = {
        "tag": tag,
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "release": release,
        "class_counts": manifest["class_counts"],
        "validation": validation,
        "data_md5": published.get("data_md5"),
        "family": t["family"],
        "search": {k: t[k] for k in ("study", "n_trials", "n_pruned", "best_trial", "best_params",
                                     "best_val_balanced_accuracy")},
        "test_metrics": t["metrics"],
        "run_id": t["run_id"],
        "registry": {**g, "champion_before": min((x.get("champion_before") or "" for x in gated), key=_version_key) or None,
                     "champion": champion},
        "candidates": candidates,
        "tracking_uri": paths.mlflow_tracking_uri,
    }
    text = json.dumps(summary, indent=2, default=str) + "\n"
    (paths.reports / "latest.json").write_text(text)
    path = paths.reports / f"{tag}.json"
    path.write_text(text)
    return str(path)

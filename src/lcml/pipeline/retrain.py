"""The retrain flow in one process: what the ``retrain_classifiers`` DAG runs as tasks, without Airflow.

:data:`STEPS` names the steps in order; the DAG has one task per step (a test holds the two
together), so ``lcml train`` and the DAG cannot drift apart.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from lcml.pipeline.register import register_and_gate, report
from lcml.pipeline.release import prepare_release, publish, validate
from lcml.pipeline.train import families, train

#: the DAG's tasks, in order (``search_worker`` is mapped once per worker slot)
STEPS = ("prepare_release", "validate", "publish", "pretrain_clip", "plan_search", "search_worker",
         "finish_search", "register_and_gate", "report")


def retrain(release: str | None = None, *, profile: str | None = None, tag: str | None = None, force: bool = False,
            family: list[str] | None = None) -> dict[str, Any]:
    """Build (or find) the release, validate, publish, search each family, register and gate; the summary.

    ``family`` defaults to ``search.families``; ``tag`` names the searches and the report.
    """
    rid = prepare_release(release, profile=profile)
    validation = validate(rid, profile=profile)
    published = publish(rid, profile=profile)
    tag = tag or datetime.now(timezone.utc).strftime("cli-%Y%m%dT%H%M%S")
    trained, gated = [], []
    for name in family or families(profile=profile):
        trained.append(train(rid, run_name=tag, profile=profile, force=force, family=name))
        gated.append(register_and_gate(trained[-1], profile=profile))
    path = report(rid, validation, published, trained, gated, tag=tag, profile=profile)
    return json.loads(Path(path).read_text())

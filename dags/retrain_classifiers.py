"""
### Retrain the variable-star classifiers of one survey release

Scheduled on the release Assets that `survey_release` updates (the event's extra names the release);
can also be triggered by hand with a `release`.

`prepare_release` → `validate` (Great Expectations; too many bad rows fails the run here, before any
training) → `publish` (DVC add + push of `data/`) → `pretrain_clip` (AstroM3 CLIP pretraining on every
object of a multimodal release, registered as `<survey>-clip-encoder`; a no-op unless the `astrom3`
family fine-tunes from CLIP) → `plan_search` per model family in `search.families` (Conv+BiLSTM, Swin
on wavelet images, feature baseline, AstroM3; parent MLflow run, Optuna study) →
`search_worker` × N per family (dynamic task mapping: N = `search.workers` workers share each study on
a PostgreSQL storage, 1 on SQLite; global trial cap, a nested MLflow run per trial) → `finish_search`
per family (best trial logged as a pyfunc and scored on the test split) → `register_and_gate` per
candidate
(new registry version; champion re-evaluated on the same test objects; `challenger`/`champion` aliases
move only when every gate in `params.yaml` passes) → `report` (summary JSON under the state folder).

**Params** (trigger with config): `release` — `<survey>/<version>`, default from `params.yaml`
(`kepler/sim-*` releases are simulated when missing); `profile` — `params.yaml` profile
(default `$LCML_PROFILE` or `demo`); `tag` — name of this run's search and report (default: the run id);
`force` — retrain even when a version was already trained from this release with the same params and commit
(otherwise that version is reported and nothing changes).

Every task calls a function of `lcml.pipeline`; the same functions back the `lcml` CLI.
Only ids, paths, URIs and small metric dicts travel through XCom.
"""

from __future__ import annotations

import os
import re

import pendulum
from airflow.sdk import Param, dag, task

from lcml.assets import release_assets


def _opts(context) -> dict:
    p = context["params"]
    return {"profile": p.get("profile") or None}


def _tag(context) -> str:
    return context["params"].get("tag") or re.sub(r"[^A-Za-z0-9_.-]+", "_", context["run_id"])


@dag(
    dag_id="retrain_classifiers",
    schedule=release_assets(),  # any survey's new release (or a manual trigger)
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["lcml", "training"],
    doc_md=__doc__,
    params={
        "release": Param(None, type=["null", "string"], description="<survey>/<version>"),
        "profile": Param(None, type=["null", "string"], description="params.yaml profile"),
        "tag": Param(None, type=["null", "string"], description="name of this run's search and report"),
        "force": Param(False, type="boolean", description="retrain even if this release was trained already"),
    },
)
def retrain_classifiers():
    @task
    def prepare_release(**context) -> str:
        from lcml import pipeline

        from lcml.assets import release_from_events

        # an asset-triggered run trains the release the event announced; a manual run uses its params
        release = release_from_events(context) or context["params"].get("release") or None
        return pipeline.prepare_release(release, **_opts(context))

    @task
    def validate(release: str, **context) -> dict:
        from lcml import pipeline

        return pipeline.validate(release, **_opts(context))

    @task
    def publish(release: str, validation: dict, **context) -> dict:
        from lcml import pipeline

        return pipeline.publish(release, **_opts(context))

    @task
    def family_names(**context) -> list[str]:
        from lcml import pipeline

        return pipeline.families(**_opts(context))

    @task(queue=os.environ.get("LCML_TRAIN_QUEUE", "default"))
    def pretrain_clip(release: str, published: dict, **context) -> dict:
        from lcml import pipeline

        return pipeline.pretrain_clip(release, force=bool(context["params"].get("force")), **_opts(context))

    @task
    def plan_search(release: str, published: dict, clip: dict, family: str, **context) -> dict:
        from lcml import pipeline

        return pipeline.plan_training(release, run_name=_tag(context), force=bool(context["params"].get("force")),
                                      family=family, clip=clip, **_opts(context))

    @task
    def worker_slots(plans: list[dict]) -> list[dict]:
        # every family's workers at once; none for a family already trained from this release
        return [{"plan": plan, "worker": worker} for plan in plans for worker in plan["workers"]]

    # on Celery, the search workers go to the GPU workers' queue when LCML_TRAIN_QUEUE=gpu (docker-compose.yml)
    @task(queue=os.environ.get("LCML_TRAIN_QUEUE", "default"), retries=1)
    def search_worker(plan: dict, worker: int) -> dict:
        from lcml import pipeline

        return pipeline.search_worker(plan, worker)

    @task(trigger_rule="none_failed")
    def finish_search(plan: dict, workers: list[dict] | None = None) -> dict:
        from lcml import pipeline

        mine = [w for w in (workers or []) if w.get("study") == plan["study"]]
        return pipeline.finish_training(plan, mine)

    @task
    def register_and_gate(trained: dict, **context) -> dict:
        from lcml import pipeline

        return pipeline.register_and_gate(trained, **_opts(context))

    @task
    def report(release: str, validation: dict, published: dict, trained: list[dict], gated: list[dict],
               **context) -> str:
        from lcml import pipeline

        return pipeline.report(release, validation, published, list(trained), list(gated), tag=_tag(context),
                               **_opts(context))

    release = prepare_release()
    validation = validate(release)
    published = publish(release, validation)
    clip = pretrain_clip(release, published)
    plans = plan_search.partial(release=release, published=published, clip=clip).expand(family=family_names())
    workers = search_worker.expand_kwargs(worker_slots(plans))
    trained = finish_search.partial(workers=workers).expand(plan=plans)
    gated = register_and_gate.expand(trained=trained)
    report(release, validation, published, trained, gated)

dag = retrain_classifiers()

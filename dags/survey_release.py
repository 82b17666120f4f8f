"""
### Publish a survey release

`ingest` (build the release folder; `kepler/sim-*` releases come from lcml's simulator) → `validate`
(Great Expectations; rows that fail go to `quarantine.parquet`; too many bad rows fails the run and
nothing is published) → `publish` (`dvc add data` + `dvc push`) → `announce`, which updates the survey's
Asset (`lcml://releases/<survey>`) with the release id in the event's extra. `retrain_classifiers` is
scheduled on those Assets, so a published release retrains, gates and (maybe) promotes by itself.

**Params**: `release` — `<survey>/<version>`, default from `params.yaml`; `profile` — `params.yaml` profile.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Metadata, Param, dag, task

from lcml.assets import SURVEYS, release_asset


@dag(
    dag_id="survey_release",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["lcml", "data"],
    doc_md=__doc__,
    params={
        "release": Param(None, type=["null", "string"], description="<survey>/<version>"),
        "profile": Param(None, type=["null", "string"], description="params.yaml profile"),
    },
)
def survey_release():
    @task
    def ingest(**context) -> str:
        from lcml import pipeline

        p = context["params"]
        return pipeline.prepare_release(p.get("release") or None, profile=p.get("profile") or None)

    @task
    def validate(release: str, **context) -> dict:
        from lcml import pipeline

        return pipeline.validate(release, profile=context["params"].get("profile") or None)

    @task
    def publish(release: str, validation: dict, **context) -> dict:
        from lcml import pipeline

        return pipeline.publish(release, profile=context["params"].get("profile") or None)

    @task(outlets=[release_asset(s) for s in SURVEYS])
    def announce(release: str, published: dict):
        survey = release.split("/")[0]
        if survey not in SURVEYS:
            raise ValueError(f"no Asset for survey {survey!r}; known: {', '.join(SURVEYS)}")
        yield Metadata(release_asset(survey), {"release": release, "data_md5": published["data_md5"],
                                               "manifest_hash": published["manifest_hash"]})

    release = ingest()
    published = publish(release, validate(release))
    announce(release, published)


dag = survey_release()

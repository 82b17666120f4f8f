"""
### Publish a survey release

`ingest` (build the release folder; `kepler/sim-*` releases come from lcml's simulator) → `validate`
(Great Expectations; rows that fail go to `quarantine.parquet`; too many bad rows fails the run and
nothing is published) → `publish` (`dvc add data` + `dvc push`) → `announce`, which updates the survey's
Asset (`lcml://releases/<survey>`) with the release id in the event's extra. `retrain_classifiers` is
scheduled on those Assets, so a published release retrains, gates and (maybe) promotes by itself.

**Params**: `release` — `<survey>/<version>`, default from `params.yaml`; `source` — survey files to
ingest into that new release (a FITS folder, Catalina/CRTS Parquet or text files, the K2SC folded
Parquet, an AstroM3 folder; see `lcml data release`), none for simulated or existing releases;
`labels` — labels CSV for FITS or text sources; `profile` — `params.yaml` profile.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Metadata, Param, dag, task

from lcml.assets import release_asset, release_assets


@dag(
    dag_id="survey_release",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["lcml", "data"],
    doc_md=__doc__,
    params={
        "release": Param(None, type=["null", "string"], description="<survey>/<version>"),
        "source": Param(None, type=["null", "string"], description="survey files to ingest (path)"),
        "labels": Param(None, type=["null", "string"], description="labels CSV for FITS/text sources"),
        "profile": Param(None, type=["null", "string"], description="params.yaml profile"),
    },
)
def survey_release():
    @task
    def ingest(**context) -> str:
        from lcml import pipeline

        p = context["params"]
        profile = p.get("profile") or None
        if p.get("source"):
            if not p.get("release") or "/" not in p["release"]:
                raise ValueError("a source needs the release to build: release=<survey>/<version>")
            survey, version = p["release"].split("/", 1)
            return pipeline.release_from_source(survey, p["source"], version, labels=p.get("labels") or None,
                                                profile=profile)
        return pipeline.prepare_release(p.get("release") or None, profile=profile)

    @task
    def validate(release: str, **context) -> dict:
        from lcml import pipeline

        return pipeline.validate(release, profile=context["params"].get("profile") or None)

    @task
    def publish(release: str, validation: dict, **context) -> dict:
        from lcml import pipeline

        return pipeline.publish(release, profile=context["params"].get("profile") or None)

    @task(outlets=release_assets())
    def announce(release: str, published: dict):
        from lcml import pipeline

        survey, extra = pipeline.announcement(release, published)
        yield Metadata(release_asset(survey), extra)

    release = ingest()
    published = publish(release, validate(release))
    announce(release, published)


dag = survey_release()

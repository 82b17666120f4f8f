"""The flows: what the Airflow DAGs, the ``lcml`` CLI and the tests all call.

=================  ===========================================================================
module             flows
=================  ===========================================================================
``release``        prepare (simulate), ingest a source, validate, publish (DVC), announce
``features``       a release's training features computed ahead, streaming (``lcml data features``)
``train``          plan a family's search, its workers, finish; ``train`` = all three in-process
``pretrain``       AstroM3 CLIP pretraining of a release; the encoder the astrom3 family uses
``register``       register and gate a candidate against the champion; the run summary
``retrain``        the whole retrain flow in one process (``lcml train``), step for step the DAG's
``manage``         registry status, history, rollback, compare, lineage, card; reproduce
``airflow``        the DAGs run through real Airflow (``lcml pipeline run``, ``lcml demo``)
=================  ===========================================================================

Each function takes and returns small, JSON-serialisable things (release ids, run ids, model URIs,
metric dicts), so they pass through Airflow XCom unchanged. The names below are the flows' public
face: ``from lcml import pipeline; pipeline.validate(...)``.
"""

from __future__ import annotations

from lcml.config import context
from lcml.pipeline.features import featurize_release
from lcml.pipeline.pretrain import pretrain_clip
from lcml.pipeline.register import register_and_gate, report
from lcml.pipeline.release import (
    announcement, prepare_release, publish, release_and_validate, release_for_source, release_from_source,
    source_version, validate,
)
from lcml.pipeline.train import families, finish_training, plan_training, search_worker, search_workers, train
from lcml.surveys import classes_for
from lcml.tracking import setup_mlflow, use_tracking_uri

__all__ = [
    "announcement", "classes_for", "context", "families", "featurize_release", "finish_training", "plan_training", "prepare_release",
    "pretrain_clip", "publish", "register_and_gate", "release_and_validate", "release_for_source",
    "release_from_source", "report", "search_worker", "search_workers", "setup_mlflow", "source_version", "train",
    "use_tracking_uri", "validate",
]

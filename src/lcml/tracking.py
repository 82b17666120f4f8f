"""MLflow set-up: the one place that points a process at the tracking backend and an experiment.

Every MLflow user of lcml (the flows, batch scoring, the studies) calls :func:`setup_mlflow` or
:func:`use_tracking_uri`; nothing else sets a tracking URI or an experiment.
"""

from __future__ import annotations

import os
import time

from lcml.config import Paths


def use_tracking_uri(paths: Paths) -> str:
    """Point this process's MLflow client at the configured backend.

    ``mlflow.set_tracking_uri`` also exports ``MLFLOW_TRACKING_URI``, which lcml reads as a user
    override; restoring the variable keeps a later project (tests, a second CLI call in one process)
    from inheriting this one's backend.
    """
    import mlflow

    before = os.environ.get("MLFLOW_TRACKING_URI")
    uri = paths.mlflow_tracking_uri
    mlflow.set_tracking_uri(uri)
    if before is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = before
    return uri


def setup_mlflow(paths: Paths, experiment: str) -> str:
    """Point MLflow at the configured backend and return the experiment id (artifacts under the state dir).

    Parallel tasks (one per model family) may be the first to touch a fresh database or experiment:
    losing that race to a twin (a duplicate table or experiment) is retried, not fatal.
    """
    from sqlalchemy.exc import IntegrityError

    for attempt in range(6):
        try:
            return _setup_mlflow(paths, experiment)
        except IntegrityError:
            if attempt == 5:
                raise
        except Exception as exc:
            if attempt == 5 or "already exists" not in str(exc).lower():
                raise
        time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


def _setup_mlflow(paths: Paths, experiment: str) -> str:
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow

    use_tracking_uri(paths)
    found = mlflow.get_experiment_by_name(experiment)
    if found is not None:
        exp_id = found.experiment_id
    else:
        uri = paths.mlflow_tracking_uri
        # a tracking server stores artifacts itself; a database (SQLite, PostgreSQL) written directly
        # would default to ./mlruns in whatever folder the process runs in: keep them in the state folder
        server = uri.split("://", 1)[0] in ("http", "https", "databricks")
        location = None if server else paths.mlflow_artifacts.as_uri()
        exp_id = mlflow.create_experiment(experiment, artifact_location=location)
    before = os.environ.get("MLFLOW_EXPERIMENT_ID")
    mlflow.set_experiment(experiment_id=exp_id)
    # set_experiment exports MLFLOW_EXPERIMENT_ID to child processes; keep it in this process only
    if before is None:
        os.environ.pop("MLFLOW_EXPERIMENT_ID", None)
    else:
        os.environ["MLFLOW_EXPERIMENT_ID"] = before
    return exp_id


def client(paths: Paths):
    """An ``MlflowClient`` on the configured backend."""
    from mlflow import MlflowClient

    use_tracking_uri(paths)
    return MlflowClient()

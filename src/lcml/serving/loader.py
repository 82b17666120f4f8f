"""The one pyfunc loader: every place that scores with a logged or registered model loads it here.

Batch scoring (``lcml predict``), the studies, the training's latency measurement and the gates'
re-scoring of the champion all call :func:`load_model`, so a model URI is resolved, a load error is
worded and the name/version columns are filled the same way everywhere.
"""

from __future__ import annotations

import re

from lcml.config import Paths
from lcml.errors import InputError, LcmlError
from lcml.tracking import setup_mlflow, use_tracking_uri

#: the columns a registered model reads
INPUT_COLUMNS = ["object_id", "time", "flux", "flux_err"]


def resolve(model_uri: str) -> tuple[str, str]:
    """``(model_name, version)`` of a ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION`` URI; ``("", "")`` else."""
    from mlflow import MlflowClient

    from lcml.registry.promote import resolve_version

    if not re.fullmatch(r"models:/[^/@]+(@[^/]+|/\d+)", model_uri):
        return "", ""
    try:
        return resolve_version(MlflowClient(), model_uri)
    except LcmlError as exc:
        raise InputError(f"model {model_uri} not found in the registry ({exc})") from None


def load_model(model_uri: str, paths: Paths | None = None, *, resolve_name: bool = True, friendly: bool = True):
    """A pyfunc model from ``model_uri`` (``models:/NAME@ALIAS``, ``models:/NAME/VERSION``, ``runs:/``,
    ``models:/m-…``), on the configured tracking backend.

    A registry URI is resolved first, so an unknown name or alias is one clear ``InputError`` and the
    model's ``model_name``/``model_version`` output columns carry what it resolved to (with
    ``resolve_name=False`` they are left as the model was logged: the training's own scoring).
    ``friendly=False`` lets MLflow's own errors through, for callers that retry transient ones.
    """
    return load_named(model_uri, paths, resolve_name=resolve_name, friendly=friendly)[0]


def load_named(model_uri: str, paths: Paths | None = None, *, resolve_name: bool = True, friendly: bool = True):
    """:func:`load_model` and the registered ``(name, version)`` it resolved (``("", "")`` for other URIs)."""
    from mlflow.exceptions import MlflowException

    import mlflow

    if not isinstance(model_uri, str) or not model_uri.strip():
        raise InputError(f"model URI must be a non-empty string, got {model_uri!r}")
    paths = paths or Paths.from_env()
    use_tracking_uri(paths)
    name, version, config = "", "", None
    if resolve_name:
        name, version = resolve(model_uri)
        if name:
            setup_mlflow(paths, name)
        config = {"model_name": name, "model_version": version}
    if not friendly:
        return mlflow.pyfunc.load_model(model_uri, model_config=config), name, version
    try:
        return mlflow.pyfunc.load_model(model_uri, model_config=config), name, version
    except (MlflowException, OSError) as exc:
        first = (getattr(exc, "message", None) or str(exc)).splitlines()[0]
        raise InputError(f"cannot load model {model_uri}: {first}") from None

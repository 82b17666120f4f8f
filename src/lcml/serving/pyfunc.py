"""The registered model: an MLflow pyfunc that takes raw light curves and returns class probabilities.

The same class serves every model family (:mod:`lcml.families`): ``model.json`` names the family, its
architecture, feature settings and options; the weights are safetensors (torch families) or plain
arrays of trees in an ``.npz`` read without pickle (the feature baseline; skops with a fixed allow-list
for models saved before); the model class is logged as code (MLflow "models from
code"), so loading a registered model unpickles nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd

CONFIG = "model.json"
ENTRY = Path(__file__).with_name("pyfunc_entry.py")


def signature(classes: list[str]):
    from mlflow.models import ModelSignature
    from mlflow.types.schema import Array, ColSpec, Schema

    inputs = Schema(
        [
            ColSpec("string", "object_id"),
            ColSpec(Array("double"), "time"),
            ColSpec(Array("double"), "flux"),
            ColSpec(Array("double"), "flux_err", required=False),
        ]
    )
    outputs = Schema(
        [ColSpec("string", "object_id"), ColSpec("string", "label_pred"), ColSpec("double", "proba")]
        + [ColSpec("double", f"p_{c}") for c in classes]
        + [ColSpec("string", "model_name"), ColSpec("string", "model_version")]
    )
    return ModelSignature(inputs=inputs, outputs=outputs)


def input_example() -> pd.DataFrame:
    """A small RR-Lyrae-like curve: documents the input format in the registry and checks serving."""
    time = np.linspace(0.0, 5.0, 120)
    flux = 1.0 + 0.3 * np.sin(2 * np.pi * time / 0.55)
    return pd.DataFrame({"object_id": ["example-1"], "time": [time], "flux": [flux],
                         "flux_err": [np.full(time.size, 0.01)]})


def save_artifacts(model, config: dict[str, Any], folder: Path) -> dict[str, str]:
    """Write the family's weights file and ``model.json``; return MLflow's ``artifacts`` mapping."""
    from lcml.families import get_family

    family = get_family(config.get("family", "conv_bilstm"))
    folder.mkdir(parents=True, exist_ok=True)
    family.save(model, folder / family.weights_file)
    (folder / CONFIG).write_text(json.dumps(config, indent=2))
    return {"weights": str(folder / family.weights_file), "config": str(folder / CONFIG)}


class LightCurveClassifier(mlflow.pyfunc.PythonModel):
    """Raw light curves in (``object_id``, ``time``, ``flux``, ``flux_err``), probabilities out.

    Output columns: ``object_id``, ``label_pred``, ``proba`` (of the predicted class), one ``p_<class>``
    per class, ``model_name`` and ``model_version`` (from the load-time ``model_config``).
    """

    def load_context(self, context) -> None:
        from lcml.config import FeatureParams
        from lcml.families import get_family

        self.config = json.loads(Path(context.artifacts["config"]).read_text())
        self.classes: list[str] = self.config["classes"]
        self.features = FeatureParams.model_validate(self.config["features"])
        self.family = get_family(self.config.get("family", "conv_bilstm"))
        self.options = self.config.get("options", {})
        self.model = self.family.load(Path(context.artifacts["weights"]), self.config["architecture"])
        if hasattr(self.model, "to"):
            from lcml.models.runtime import pick_device

            self.model = self.model.to(pick_device())
        model_config = context.model_config or {}
        self.model_name = str(model_config.get("model_name", self.config.get("model_name", "")))
        self.model_version = str(model_config.get("model_version", ""))
        self._warm_up()

    def _warm_up(self) -> None:
        """Score one synthetic curve now, so a server's first request does not pay for the feature code's
        imports and caches (it took 9 s)."""
        folded = bool(getattr(self.features, "folded", False))
        t = (np.linspace(0.0, 1.0, 64, endpoint=False) if folded
             else np.sort(np.random.default_rng(0).uniform(0.0, 60.0, 300)))
        curve = pd.DataFrame({"object_id": ["warm-up"], "time": [t], "flux_err": [np.full(t.size, 0.01)],
                              "flux": [1 + 0.2 * np.sin(2 * np.pi * t / (1.0 if folded else 0.7))]})
        try:
            self.predict(None, curve)
        except Exception as exc:  # noqa: BLE001 - the model still serves; only its first request is slower
            import logging

            logging.getLogger(__name__).warning("warm-up scoring failed (%s); serving anyway", exc)

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        frame = pd.DataFrame(model_input)
        errs = frame["flux_err"] if "flux_err" in frame else [None] * len(frame)
        _check_curves(frame["object_id"], frame["time"], frame["flux"], errs)
        try:
            x, aux = self.family.inputs(list(zip(frame["time"], frame["flux"], errs)), self.features, self.options)
        except Exception as exc:  # noqa: BLE001 - one line a REST client (HTTP 400) or `lcml predict` can show
            from lcml.errors import first_line

            raise _bad_request(f"could not compute the model's inputs: {type(exc).__name__}: {first_line(exc)}") from None
        proba = self.family.predict_proba(self.model, x, aux) if len(frame) else np.zeros((0, len(self.classes)))
        best = proba.argmax(1) if len(frame) else np.zeros(0, int)
        out = pd.DataFrame(
            {
                "object_id": frame["object_id"].astype(str).to_numpy() if len(frame) else [],
                "label_pred": [self.classes[i] for i in best],
                "proba": proba.max(1) if len(frame) else [],
            }
        )
        for j, name in enumerate(self.classes):
            out[f"p_{name}"] = proba[:, j].astype(float)
        out["model_name"] = self.model_name
        out["model_version"] = self.model_version
        return out


def _check_curves(ids, times, fluxes, errs) -> None:
    """Refuse the first curve that cannot be scored, naming it (HTTP 400 when served over REST)."""
    from lcml.serving.inputs import curve_problem, id_problem

    for oid, t, f, e in zip(ids, times, fluxes, errs):
        problem = id_problem(oid) or curve_problem(t, f, e)
        if problem:
            raise _bad_request(f"light curve {oid!r} {problem}")


def _bad_request(message: str):
    """An MLflow error that the scoring server answers with HTTP 400 and ``message``."""
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

    return MlflowException(message, error_code=INVALID_PARAMETER_VALUE)

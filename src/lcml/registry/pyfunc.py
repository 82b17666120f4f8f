"""The registered model: an MLflow pyfunc that takes raw light curves and returns class probabilities.

Weights are stored as safetensors and the architecture/feature settings as JSON; the model class is
logged as code (MLflow "models from code"), so loading a registered model unpickles nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd

WEIGHTS = "weights.safetensors"
CONFIG = "model.json"
ENTRY = Path(__file__).with_name("pyfunc_entry.py")


def output_columns(classes: list[str]) -> list[str]:
    return ["object_id", "label_pred", "proba", *[f"p_{c}" for c in classes], "model_name", "model_version"]


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
    """Write ``weights.safetensors`` and ``model.json``; return MLflow's ``artifacts`` mapping."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(folder / WEIGHTS))
    (folder / CONFIG).write_text(json.dumps(config, indent=2))
    return {"weights": str(folder / WEIGHTS), "config": str(folder / CONFIG)}


def load_torch_model(weights: str | Path, config: dict[str, Any]):
    from safetensors.torch import load_file

    from lcml.models.conv_bilstm import ConvBiLSTM, ConvBiLSTMConfig

    model = ConvBiLSTM(ConvBiLSTMConfig(**config["architecture"]))
    model.load_state_dict(load_file(str(weights)))
    return model.eval()


class LightCurveClassifier(mlflow.pyfunc.PythonModel):
    """Raw light curves in (``object_id``, ``time``, ``flux``, ``flux_err``), probabilities out.

    Output columns: ``object_id``, ``label_pred``, ``proba`` (of the predicted class), one ``p_<class>``
    per class, ``model_name`` and ``model_version`` (from the load-time ``model_config``).
    """

    def load_context(self, context) -> None:
        from lcml.config import FeatureParams
        from lcml.training.loop import pick_device

        self.config = json.loads(Path(context.artifacts["config"]).read_text())
        self.classes: list[str] = self.config["classes"]
        self.features = FeatureParams.model_validate(self.config["features"])
        self.model = load_torch_model(context.artifacts["weights"], self.config).to(pick_device())
        model_config = context.model_config or {}
        self.model_name = str(model_config.get("model_name", self.config.get("model_name", "")))
        self.model_version = str(model_config.get("model_version", ""))

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        from lcml.features.extract import featurize_many
        from lcml.training.loop import predict_proba

        frame = pd.DataFrame(model_input)
        errs = frame["flux_err"] if "flux_err" in frame else [None] * len(frame)
        folded, aux = featurize_many(zip(frame["time"], frame["flux"], errs), self.features)
        proba = predict_proba(self.model, folded, aux) if len(frame) else np.zeros((0, len(self.classes)))
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

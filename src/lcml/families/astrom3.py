"""AstroM3's photometry classifier, trained from scratch or fine-tuned from a CLIP photometry encoder.

The registry serves raw light curves only, so of the trimodal AstroM3 model (:mod:`lcml.models.astrom3`)
this family registers the photometry branch: a transformer over the light-curve points plus two
auxiliary scalars, log10 amplitude and log10 period, both measured on the light curve itself
(:func:`lcml.features.extract.featurize_many`), never taken from a catalogue, which a served curve lacks.

Options (``search.astrom3.options`` in ``params.yaml``)
-------------------------------------------------------
stored_points : int, default 400
    Points kept per curve in the model input; longer curves are subsampled evenly over the baseline.
init : {"scratch", "clip"}, default "scratch"
    ``"clip"`` starts the photometry encoder from a pretrained one, whose config then replaces the
    sizes below.
encoder : str
    With ``init: clip``: a folder holding ``encoder.safetensors`` and ``encoder.json`` (the layout of
    :func:`lcml.pipeline.pretrain.pretrain_release`), or an MLflow URI of one (``runs:/<id>/encoder``).
embed_dim, max_points, phot_dim, phot_layers, phot_heads, phot_ff : int
    Encoder sizes from scratch (defaults 64, 200, 64, 2, 4, 128: trains on a CPU).
freeze_encoders : bool, default False
    Train the head only (a linear probe of the pretrained encoder).

Hyperparameters: ``lr`` (required), ``dropout`` (head, default 0.2), ``weight_decay`` (default 0.01).
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lcml.errors import InputError
from lcml.families.base import TorchFamily, feature_jobs
from lcml.features.extract import ASTROM3_AUX
from lcml.models.astrom3 import AstroM3Config, Classifier, Standardizer

#: the aux columns, in the order CLIP pretraining feeds them, so a pretrained encoder's aux weights meet
#: the quantities they were trained on
AUX = ASTROM3_AUX
ENCODER_WEIGHTS, ENCODER_CONFIG = "encoder.safetensors", "encoder.json"
_SCRATCH = {"embed_dim": 64, "max_points": 200, "phot_dim": 64, "phot_layers": 2, "phot_heads": 4, "phot_ff": 128}


class PhotometryClassifier(Classifier):
    """AstroM3's photometry :class:`Classifier` that also carries the aux standardisation.

    Keeping the training split's mean/std as buffers puts them in the saved weights, so a registered
    model standardises served curves exactly as its training data was.
    """

    def __init__(self, cfg: AstroM3Config, n_classes: int, inputs: str = "photometry", fusion: str = "average",
                 dropout: float = 0.2) -> None:
        super().__init__(cfg, n_classes, inputs="photometry", fusion=fusion, dropout=dropout)
        self.register_buffer("aux_mean", torch.zeros(len(AUX), dtype=torch.float64))
        self.register_buffer("aux_std", torch.ones(len(AUX), dtype=torch.float64))
        #: the order the weights were trained with; a model saved with another order than AUX keeps it
        self.aux_order: tuple[str, ...] = tuple(AUX)

    def standardise(self, aux: np.ndarray) -> np.ndarray | None:
        """``(N, 2)`` raw aux in :data:`AUX` order -> standardised float32 in the model's order (missing
        values -> 0, the mean); ``None`` if unused."""
        if not self.cfg.n_aux:
            return None
        raw = np.asarray(aux, np.float64).reshape(-1, len(AUX))[:, [AUX.index(c) for c in self.aux_order]]
        scaler = Standardizer(list(self.aux_order), self.aux_mean.cpu().numpy(), self.aux_std.cpu().numpy())
        return scaler.transform(raw)


def _points(x: np.ndarray) -> list[np.ndarray]:
    """The real (non-NaN-padding) rows of each stored curve."""
    return [row[np.isfinite(row).all(axis=1)] for row in x]


def _data(model: PhotometryClassifier, x: np.ndarray, aux: np.ndarray, y: np.ndarray | None = None):
    from lcml.models.multimodal import MultimodalData

    return MultimodalData(lightcurves=_points(x), aux=model.standardise(aux), labels=y)


@functools.lru_cache(maxsize=8)
def _download(uri: str) -> str:
    # once per process: every Optuna trial of a search reads the same encoder
    import mlflow

    try:
        return mlflow.artifacts.download_artifacts(artifact_uri=uri)
    except Exception as exc:  # MLflow raises several types (unknown run, no such artifact, no server)
        raise InputError(f"cannot download the CLIP encoder {uri}: {exc}") from exc


def load_encoder(ref: str | None) -> tuple[AstroM3Config, dict[str, torch.Tensor]]:
    """Config and weights of a pretrained encoder folder (local path or MLflow URI); ``InputError`` if unusable."""
    from safetensors.torch import load_file

    if not ref:
        raise InputError("options.encoder is required with init: clip (a folder with encoder.safetensors and "
                         "encoder.json, or an MLflow URI such as runs:/<run_id>/encoder)")
    ref = str(ref)
    # a scheme of two or more letters (runs:/, models:/, s3://), so a Windows drive letter stays a path
    folder = Path(_download(ref) if re.match(r"^[A-Za-z][\w+.-]+:/", ref) else ref).expanduser()
    weights, config = folder / ENCODER_WEIGHTS, folder / ENCODER_CONFIG
    if not (weights.is_file() and config.is_file()):
        raise InputError(f"CLIP encoder {ref}: {folder} must hold {ENCODER_WEIGHTS} and {ENCODER_CONFIG} "
                         f"(as `lcml embed` logs them)")
    try:
        meta = json.loads(config.read_text())
        cfg = AstroM3Config.from_dict(meta["config"])
        modalities = list(meta.get("modalities", ["photometry"]))
        state = load_file(str(weights))
    except Exception as exc:  # bad JSON, unknown config keys, corrupt safetensors
        raise InputError(f"CLIP encoder {ref}: cannot read {folder}: {exc}") from exc
    if "photometry" not in modalities:
        raise InputError(f"CLIP encoder {ref} has no photometry encoder (modalities: {modalities})")
    if cfg.n_aux not in (0, len(AUX)):
        raise InputError(f"CLIP encoder {ref} expects {cfg.n_aux} aux features; this family has {len(AUX)}")
    return cfg, state


class AstroM3Family(TorchFamily):
    name = "astrom3"
    resumable = False  # trains through lcml.training.clip.finetune, which keeps no epoch state

    def inputs(self, curves, features, options: dict[str, Any] | None = None) -> tuple[np.ndarray, np.ndarray]:
        from lcml.features.extract import AUX_FEATURES, clean, featurize_many

        curves = list(curves)
        size = int((options or {}).get("stored_points", 400))
        x = np.full((len(curves), size, 3), np.nan, np.float32)
        for i, (time, flux, err) in enumerate(curves):
            t, f, e = clean(time, flux, err)
            if len(t) > size:  # evenly spaced (not a window), so the stored curve spans the whole baseline
                keep = np.round(np.linspace(0, len(t) - 1, size)).astype(int)
                t, f, e = t[keep], f[keep], e[keep]
            # time from the first point: float32 keeps only ~0.25 d of an absolute JD near 2.46e6
            x[i, : len(t)] = np.stack([t - (t[0] if len(t) else 0.0), f, e], axis=1)
        _, scalars = featurize_many(curves, features, n_jobs=feature_jobs(options))
        aux = scalars[:, [AUX_FEATURES.index(c) for c in AUX]].astype(np.float32)
        return x, aux

    def build(self, hp, *, n_classes, x_shape, n_aux, options) -> PhotometryClassifier:
        dropout = float(hp.get("dropout", 0.2))
        init = options.get("init", "scratch")
        if init not in ("scratch", "clip"):
            raise InputError(f"search.astrom3.options.init must be 'scratch' or 'clip', got {init!r}")
        if init == "clip":
            cfg, state = load_encoder(options.get("encoder"))
            try:
                return PhotometryClassifier.from_pretrained(state, n_classes, cfg=cfg, dropout=dropout)
            except (KeyError, RuntimeError) as exc:  # tensors missing or of other shapes than the config says
                raise InputError(f"CLIP encoder {options.get('encoder')}: weights do not match its config: "
                                 f"{exc}") from exc
        sizes = {k: int(options.get(k, v)) for k, v in _SCRATCH.items()}
        return PhotometryClassifier(AstroM3Config(**sizes, n_aux=len(AUX)), n_classes, dropout=dropout)

    def from_architecture(self, architecture: dict[str, Any]) -> PhotometryClassifier:
        model = PhotometryClassifier(AstroM3Config.from_dict(architecture["config"]), int(architecture["n_classes"]),
                                     dropout=float(architecture["dropout"]))
        model.aux_mean.copy_(torch.as_tensor(architecture["aux_mean"], dtype=torch.float64))
        model.aux_std.copy_(torch.as_tensor(architecture["aux_std"], dtype=torch.float64))
        order = tuple(architecture.get("aux", AUX))
        if sorted(order) != sorted(AUX):
            raise InputError(f"this astrom3 model was trained on aux features {list(order)}; lcml computes {list(AUX)}")
        model.aux_order = order  # models registered before the order was fixed (period first) keep theirs
        return model

    def predict_proba(self, model, x, aux) -> np.ndarray:
        from lcml.models.multimodal import predict_proba

        return predict_proba(model, _data(model, x, aux))  # centre crops; CUDA when present

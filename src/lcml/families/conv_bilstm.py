"""StarWhisper LightCurve's Conv1D + BiLSTM on the phase-folded curve plus six scalar features."""

from __future__ import annotations

from typing import Any

import numpy as np

from lcml.families.base import TorchFamily, feature_jobs


class ConvBiLSTMFamily(TorchFamily):
    name = "conv_bilstm"

    def inputs(self, curves, features, options: dict[str, Any] | None = None) -> tuple[np.ndarray, np.ndarray]:
        from lcml.features.extract import featurize_many

        return featurize_many(curves, features, n_jobs=feature_jobs(options))

    def build(self, hp, *, n_classes, x_shape, n_aux, options):
        from lcml.models.conv_bilstm import ConvBiLSTM, ConvBiLSTMConfig

        return ConvBiLSTM(ConvBiLSTMConfig(n_classes=n_classes, n_aux=n_aux, fold_length=int(x_shape[0]),
                                           n_layers=hp["n_layers"], filters=hp["filters"], dropout=hp["dropout"]))

    def from_architecture(self, architecture):
        from lcml.models.conv_bilstm import ConvBiLSTM, ConvBiLSTMConfig

        return ConvBiLSTM(ConvBiLSTMConfig(**architecture))

"""StarWhisper LC series, sound: an audio classifier listens to the sonified light curve.

The curve becomes the ``lc-audio/1`` waveform of :func:`lcml.features.views.sonify` (brightness as pitch
over the folded cycle, repeated at a rate set by the period) and its log-mel spectrogram
(:func:`lcml.features.views.log_mel`) is the model's input: a small spectrogram CNN from scratch by
default (``options.arch: small_cnn``; no pretrained audio model ships with the package index), or the
ImageNet-pretrained EfficientNet-lite0 of ``lc_image`` reading the spectrogram as a picture
(``options.arch: efficientnet-lite0``). ``lcml sonify`` writes the same waveform as a WAV file.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lcml.families.base import TorchFamily, feature_jobs


def spectrograms(folded: np.ndarray, aux: np.ndarray, options: dict[str, Any]) -> np.ndarray:
    """``(N, n_mels, frames)`` log-mel spectrograms of the sonified curves."""
    from lcml.features.views import log_mel, sonify

    seconds, n_mels = float(options.get("seconds", 2.0)), int(options.get("n_mels", 64))
    rows = [log_mel(sonify(shape, scalars, seconds=seconds), n_mels=n_mels) for shape, scalars in zip(folded, aux)]
    if not rows:
        return np.zeros((0, n_mels, 1), np.float32)
    return np.stack(rows).astype(np.float32)


class LcAudioFamily(TorchFamily):
    name = "lc_audio"

    def inputs(self, curves, features, options: dict[str, Any] | None = None) -> tuple[np.ndarray, np.ndarray]:
        from lcml.features.extract import featurize_many

        folded, aux = featurize_many(curves, features, n_jobs=feature_jobs(options))
        return spectrograms(folded, aux, options or {}), aux

    def build(self, hp, *, n_classes, x_shape, n_aux, options):
        from lcml.families.lc_image import picture_spec
        from lcml.features.views import AUDIO_VERSION
        from lcml.models.pictures import PictureClassifier

        options = {"arch": "small_cnn", **options}
        spec, weights = picture_spec(hp, options, n_classes=n_classes, n_aux=n_aux, view=AUDIO_VERSION)
        return PictureClassifier(spec, weights)

    def from_architecture(self, architecture):
        from lcml.models.pictures import PictureClassifier

        return PictureClassifier(architecture)

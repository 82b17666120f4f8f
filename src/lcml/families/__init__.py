"""Model families: what the search tunes, trains, saves and what the registered pyfunc runs.

Every family turns raw light curves into model inputs itself (a registered model always takes raw
curves), samples its hyperparameters from ``search.<family>.space`` in ``params.yaml``, trains one
candidate per Optuna trial, and writes its weights in a format that loads without unpickling:

=============  ==============================================================  ==================
family         model                                                           weights
=============  ==============================================================  ==================
conv_bilstm    StarWhisper's Conv1D + BiLSTM on the folded curve + 6 scalars   safetensors
swin           Swin Transformer (timm) on |CWT| images of the folded curve     safetensors
baseline       HistGradientBoosting on classical light-curve features          tree arrays (.npz)
astrom3        AstroM3's photometry transformer (from scratch or CLIP weights) safetensors
fusion         a CNN on the folds at P and 2P beside an MLP on the baseline's   safetensors
               features (a multi-input network)
lc_text        a pretrained language model (all-MiniLM-L6-v2 by default) reading   safetensors
               the curve as text (StarWhisper's LC series)
lc_image       a pretrained image model (EfficientNet-lite0) looking at the     safetensors
               plot of the folded and raw curve
lc_audio       a spectrogram CNN (or the pretrained image model) listening to   safetensors
               the sonified curve
voting         a weighted average of other families' probabilities (weights    one file per
               fixed in params.yaml), registered as one model                  member
=============  ==============================================================  ==================
"""

from __future__ import annotations

from lcml.config import SearchParams
from lcml.families.base import Family

#: the families lcml has: one ``search.<family>`` section each in params.yaml (:class:`lcml.config.SearchParams`)
FAMILIES: tuple[str, ...] = SearchParams.family_names()


def get_family(name: str) -> Family:
    """The family called ``name``; ``ValueError`` naming the known ones otherwise."""
    if name == "conv_bilstm":
        from lcml.families.conv_bilstm import ConvBiLSTMFamily

        return ConvBiLSTMFamily()
    if name == "swin":
        from lcml.families.swin import SwinFamily

        return SwinFamily()
    if name == "baseline":
        from lcml.families.baseline import BaselineFamily

        return BaselineFamily()
    if name == "astrom3":
        from lcml.families.astrom3 import AstroM3Family

        return AstroM3Family()
    if name == "fusion":
        from lcml.families.fusion import FusionFamily

        return FusionFamily()
    if name == "lc_text":
        from lcml.families.lc_text import LcTextFamily

        return LcTextFamily()
    if name == "lc_image":
        from lcml.families.lc_image import LcImageFamily

        return LcImageFamily()
    if name == "lc_audio":
        from lcml.families.lc_audio import LcAudioFamily

        return LcAudioFamily()
    if name == "voting":
        from lcml.families.voting import VotingFamily

        return VotingFamily(get_family, FAMILIES)
    raise ValueError(f"unknown model family {name!r}; known: {', '.join(FAMILIES)}")


__all__ = ["FAMILIES", "Family", "get_family"]

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


#: where each family's serving side lives, imported only when asked for (a family's torch code stays unloaded)
_CLASSES = {
    "conv_bilstm": "lcml.families.conv_bilstm:ConvBiLSTMFamily",
    "swin": "lcml.families.swin:SwinFamily",
    "baseline": "lcml.families.baseline:BaselineFamily",
    "astrom3": "lcml.families.astrom3:AstroM3Family",
    "fusion": "lcml.families.fusion:FusionFamily",
    "lc_text": "lcml.families.lc_text:LcTextFamily",
    "lc_image": "lcml.families.lc_image:LcImageFamily",
    "lc_audio": "lcml.families.lc_audio:LcAudioFamily",
    "voting": "lcml.families.voting:VotingFamily",
}
assert set(_CLASSES) == set(FAMILIES)


def get_family(name: str) -> Family:
    """The family called ``name``; ``ValueError`` naming the known ones otherwise."""
    import importlib

    if name not in _CLASSES:
        raise ValueError(f"unknown model family {name!r}; known: {', '.join(FAMILIES)}")
    module, cls = _CLASSES[name].split(":")
    family = getattr(importlib.import_module(module), cls)
    return family(get_family, FAMILIES) if name == "voting" else family()  # the vote builds its members


__all__ = ["FAMILIES", "Family", "get_family"]

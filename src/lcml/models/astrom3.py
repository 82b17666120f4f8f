"""AstroM3: trimodal CLIP over photometry, spectra and metadata (Rizhko & Bloom 2024, arXiv:2411.08842).

Three encoders map one variable star's ASAS-SN light curve, LAMOST spectrum and catalogue metadata into
one shared, L2-normalised embedding space; :func:`lcml.training.clip.clip_loss` pulls the three views of
one object together. :class:`Classifier` then fine-tunes a class head on one modality or on a fusion of
all of them, starting from scratch or from the contrastively pre-trained encoders.

The layout follows the authors' model, with these deliberate differences:

* photometry uses PyTorch's full-attention transformer (the authors use Informer's ProbSparse
  attention) and reads a learned ``[CLS]`` token instead of flattening all ``max_points`` outputs,
  which would put 13 M parameters (200 x 128 x 512) into the projection alone;
* each light-curve point's time enters twice: as its position within the window (a linear input) and
  as a sinusoidal encoding of elapsed days, so irregular sampling is seen as it is;
* per-object auxiliary features (e.g. log amplitude, log period) join the ``[CLS]`` output once
  before the projection rather than being repeated at every time step;
* the spectrum has two channels, normalised flux and a log precision that is zero where the
  spectrum has no data, so the network can tell a gap from a flat continuum.

Batches are plain dictionaries of tensors (see :meth:`AstroM3.encode`); the helpers
:func:`pad_lightcurves`, :func:`resample_spectrum` and :class:`Standardizer` build them from arrays.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from lcml.models.astrom3_inputs import (  # noqa: F401 - moved there; read here too
    AstroM3Config, MODALITIES, POINT_CHANNELS, SPECTRUM_CHANNELS, Standardizer, _as_points, _values, pad_lightcurves, resample_spectrum, spectra_flat_length, spectrum_grid,
)


# --------------------------------------------------------------------------------------------------
# input preparation
# --------------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------------
# encoders
# --------------------------------------------------------------------------------------------------

class TimeEncoding(nn.Module):
    """Sinusoids of elapsed time at geometrically spaced periods (fixed, like a transformer's positions).

    Positions would treat irregular cadence and seasonal gaps as evenly spaced; real times do not.
    The phase is formed in float64 and wrapped before the sine, since ``2 pi t / P`` reaches ~1e6 for a
    2000-day window at P = 0.01 d, where float32 keeps only ~0.1 rad.
    """

    def __init__(self, dim: int, min_period: float, max_period: float):
        super().__init__()
        periods = np.geomspace(min_period, max_period, dim // 2)
        self.register_buffer("omega", torch.tensor(2 * np.pi / periods, dtype=torch.float32), persistent=False)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        phase = torch.remainder(t.unsqueeze(-1).double() * self.omega.double(), 2 * math.pi).float()
        return torch.cat([phase.sin(), phase.cos()], dim=-1)


class PhotometryEncoder(nn.Module):
    """Transformer over light-curve points, ``[CLS]`` readout + auxiliary features -> unit vector."""

    def __init__(self, cfg: AstroM3Config):
        super().__init__()
        self.cfg = cfg
        self.point = nn.Linear(POINT_CHANNELS, cfg.phot_dim)
        self.time = TimeEncoding(cfg.phot_dim, cfg.time_min_period, cfg.time_max_period)
        self.cls = nn.Parameter(torch.zeros(1, 1, cfg.phot_dim))
        nn.init.normal_(self.cls, std=0.02)
        layer = nn.TransformerEncoderLayer(cfg.phot_dim, cfg.phot_heads, cfg.phot_ff, cfg.dropout,
                                           activation="gelu", batch_first=True, norm_first=True)
        # nested tensors would return padded rows as zeros in eval only; keep train and eval identical
        self.transformer = nn.TransformerEncoder(layer, cfg.phot_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(cfg.phot_dim)
        self.proj = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(cfg.phot_dim + cfg.n_aux, cfg.embed_dim))

    def forward(self, points: torch.Tensor, mask: torch.Tensor, aux: torch.Tensor | None = None) -> torch.Tensor:
        """``points`` (B, P, 3), ``mask`` (B, P) True at real points, ``aux`` (B, n_aux) -> (B, embed_dim)."""
        mask = mask.bool()
        # zero the padding first: masked attention gives it weight 0, but 0 x NaN would still be NaN
        points = points.masked_fill(~mask.unsqueeze(-1), 0.0)
        t = points[..., 0]
        span = t.amax(dim=1, keepdim=True).clamp_min(1e-6)
        tokens = self.point(torch.stack([t / span, points[..., 1], points[..., 2]], dim=-1)) + self.time(t)
        tokens = torch.cat([self.cls.expand(len(points), -1, -1).to(tokens.dtype), tokens], dim=1)
        pad = torch.cat([torch.zeros_like(mask[:, :1]), ~mask], dim=1)  # the [CLS] token is never padding
        h = self.norm(self.transformer(tokens, src_key_padding_mask=pad)[:, 0])
        if self.cfg.n_aux:
            if aux is None:
                raise ValueError(f"the photometry encoder expects {self.cfg.n_aux} auxiliary features")
            h = torch.cat([h, aux.to(h.dtype)], dim=1)
        return F.normalize(self.proj(h), dim=-1)


class SpectraEncoder(nn.Module):
    """GalSpecNet-style 1-D CNN (conv -> ReLU -> max-pool blocks, flatten) -> unit vector.

    Flattening (not global pooling) keeps where along the spectrum a feature sits, which is what
    identifies a line.
    """

    def __init__(self, cfg: AstroM3Config):
        super().__init__()
        layers: list[nn.Module] = []
        channels = SPECTRUM_CHANNELS
        for i, out in enumerate(cfg.spec_channels):
            layers += [nn.Conv1d(channels, out, cfg.spec_kernel, padding=cfg.spec_kernel // 2), nn.ReLU()]
            if i < len(cfg.spec_channels) - 1:
                layers.append(nn.MaxPool1d(cfg.spec_pool))
            channels = out
        self.conv = nn.Sequential(*layers)
        self.proj = nn.Sequential(nn.Flatten(), nn.Dropout(cfg.dropout),
                                  nn.Linear(spectra_flat_length(cfg), cfg.embed_dim))

    def forward(self, spectra: torch.Tensor) -> torch.Tensor:
        """``spectra`` (B, 2, spec_bins) from :func:`resample_spectrum` -> (B, embed_dim)."""
        return F.normalize(self.proj(self.conv(spectra)), dim=-1)


class MetadataEncoder(nn.Module):
    """MLP on standardised catalogue columns -> unit vector."""

    def __init__(self, cfg: AstroM3Config):
        super().__init__()
        layers: list[nn.Module] = []
        width = cfg.n_metadata
        for _ in range(cfg.meta_layers):
            layers += [nn.Linear(width, cfg.meta_hidden), nn.ReLU(), nn.Dropout(cfg.dropout)]
            width = cfg.meta_hidden
        self.mlp = nn.Sequential(*layers)
        self.proj = nn.Linear(width, cfg.embed_dim)

    def forward(self, metadata: torch.Tensor) -> torch.Tensor:
        """``metadata`` (B, n_metadata) standardised -> (B, embed_dim)."""
        return F.normalize(self.proj(self.mlp(metadata)), dim=-1)


_ENCODERS = {"photometry": PhotometryEncoder, "spectra": SpectraEncoder, "metadata": MetadataEncoder}


def _check_modalities(modalities: Sequence[str]) -> tuple[str, ...]:
    modalities = tuple(modalities)
    unknown = [m for m in modalities if m not in MODALITIES]
    if unknown or not modalities or len(set(modalities)) != len(modalities):
        raise ValueError(f"modalities must be distinct names from {MODALITIES}, got {modalities}")
    return modalities


class AstroM3(nn.Module):
    """The CLIP model: one encoder per modality and a learnable temperature.

    Parameters
    ----------
    cfg
        Architecture.
    modalities
        Which encoders to build (any non-empty subset of :data:`MODALITIES`).

    Attributes
    ----------
    logit_scale
        Log of the inverse temperature, initialised at ``log(cfg.logit_scale_init)``; the loss clamps
        its exponential at ``cfg.logit_scale_max`` and :func:`lcml.training.clip.pretrain` clamps the
        parameter itself after each step, as CLIP does. One scale serves every pair.
    """

    def __init__(self, cfg: AstroM3Config, modalities: Sequence[str] = MODALITIES):
        super().__init__()
        self.cfg = cfg
        self.modalities = _check_modalities(modalities)
        self.encoders = nn.ModuleDict({m: _ENCODERS[m](cfg) for m in self.modalities})
        self.logit_scale = nn.Parameter(torch.tensor(math.log(cfg.logit_scale_init), dtype=torch.float32))

    def encode(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Embed every modality that is both built and in ``batch``.

        ``batch`` keys: ``photometry`` (B, P, 3) with ``photometry_mask`` (B, P) and, when
        ``cfg.n_aux > 0``, ``photometry_aux`` (B, n_aux); ``spectra`` (B, 2, spec_bins);
        ``metadata`` (B, n_metadata). Returns ``{modality: (B, embed_dim)}`` unit vectors; rows of
        objects that lack a modality hold whatever their filler input encodes to, and the caller
        masks them (:func:`lcml.training.clip.clip_loss` does).
        """
        out: dict[str, torch.Tensor] = {}
        for m in self.modalities:
            if m not in batch:
                continue
            if m == "photometry":
                out[m] = self.encoders[m](batch["photometry"], batch["photometry_mask"], batch.get("photometry_aux"))
            else:
                out[m] = self.encoders[m](batch[m])
        return out

    def forward(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return self.encode(batch)


FUSIONS = ("average", "concat")


class Classifier(nn.Module):
    """Class head on AstroM3 embeddings, for fine-tuning.

    Parameters
    ----------
    cfg
        Encoder architecture.
    n_classes
        Output classes.
    inputs
        ``"photometry"``, ``"spectra"``, ``"metadata"`` (one encoder) or ``"all"`` (all three, fused).
    fusion
        With ``inputs="all"``: ``"average"`` of the embeddings an object has, or ``"concat"`` of all
        three with zeros for a missing one.
    dropout
        Before the linear head.
    """

    def __init__(self, cfg: AstroM3Config, n_classes: int, inputs: str = "all", fusion: str = "average",
                 dropout: float = 0.2):
        super().__init__()
        if inputs != "all" and inputs not in MODALITIES:
            raise ValueError(f"inputs must be 'all' or one of {MODALITIES}, got {inputs!r}")
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, got {fusion!r}")
        self.cfg, self.n_classes, self.inputs, self.fusion = cfg, n_classes, inputs, fusion
        self.backbone = AstroM3(cfg, MODALITIES if inputs == "all" else (inputs,))
        width = cfg.embed_dim * (len(self.backbone.modalities) if inputs == "all" and fusion == "concat" else 1)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(width, n_classes))

    @property
    def modalities(self) -> tuple[str, ...]:
        return self.backbone.modalities

    @classmethod
    def from_pretrained(cls, pretrained: AstroM3 | Mapping[str, torch.Tensor], n_classes: int,
                        cfg: AstroM3Config | None = None, **kwargs) -> Classifier:
        """A classifier whose encoders start from an AstroM3 model or its ``state_dict``.

        ``cfg`` is needed with a bare ``state_dict``. Every encoder the classifier uses must be in the
        pretrained weights; the head (and the temperature, unused here) start fresh.
        """
        if isinstance(pretrained, AstroM3):
            cfg = cfg or pretrained.cfg
            state = pretrained.state_dict()
        else:
            if cfg is None:
                raise ValueError("cfg is required when loading from a state_dict")
            state = dict(pretrained)
        model = cls(cfg, n_classes, **kwargs)
        own = model.backbone.state_dict()
        for m in model.modalities:
            prefix = f"encoders.{m}."
            keys = [k for k in own if k.startswith(prefix)]
            missing = [k for k in keys if k not in state]
            if missing:
                raise KeyError(f"pretrained weights lack the {m} encoder ({len(missing)} tensors, e.g. {missing[0]})")
            for k in keys:
                own[k] = state[k]
        model.backbone.load_state_dict(own)
        return model

    def embed(self, batch: Mapping[str, torch.Tensor], present: Mapping[str, torch.Tensor] | None = None
              ) -> torch.Tensor:
        """The (fused) embedding the head reads, scaled by sqrt(embed_dim) so components are O(1)."""
        emb = self.backbone.encode(batch)
        missing = [m for m in self.modalities if m not in emb]
        if self.inputs != "all":
            if missing:
                raise KeyError(f"batch has no {self.inputs} input")
            return emb[self.inputs] * math.sqrt(self.cfg.embed_dim)
        ref = next(iter(emb.values()), None)
        if ref is None:
            raise KeyError(f"batch has none of {self.modalities}")
        n = len(ref)
        weights = {m: (present[m].to(ref.device, ref.dtype) if present is not None and m in present
                       else torch.ones(n, device=ref.device, dtype=ref.dtype)) if m in emb
                   else torch.zeros(n, device=ref.device, dtype=ref.dtype) for m in self.modalities}
        zeros = torch.zeros_like(ref)
        parts = [emb[m] * weights[m].unsqueeze(1) if m in emb else zeros for m in self.modalities]
        if self.fusion == "concat":
            fused = torch.cat(parts, dim=1)
        else:
            count = sum(weights.values()).clamp_min(1.0).unsqueeze(1)
            fused = sum(parts) / count
        return fused * math.sqrt(self.cfg.embed_dim)

    def forward(self, batch: Mapping[str, torch.Tensor], present: Mapping[str, torch.Tensor] | None = None
                ) -> torch.Tensor:
        """Logits ``(B, n_classes)``; ``present`` ({modality: (B,) bool}) excludes missing modalities from fusion."""
        return self.head(self.embed(batch, present))

"""StarWhisper LightCurve's Swin Transformer on CWT images of light curves.

The paper classifies ``|CWT|`` images (see :mod:`lcml.features.cwt`) with a Swin-T. This module builds
that network with timm for one input channel and any number of classes, and loads optional local
weights -- e.g. an ImageNet Swin-T checkpoint copied onto the machine -- adapting them to one channel
and a new head. Weights are only ever read from a file path, never fetched from a hub.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from timm.models.swin_transformer import SwinTransformer, checkpoint_filter_fn

log = logging.getLogger("lcml.models.swin")

_PRESETS: dict[str, dict] = {
    # swin_tiny_patch4_window7_224; drop-path 0.2 as in the Swin-T ImageNet recipe
    "paper": dict(
        img_size=224, patch_size=4, window_size=7, embed_dim=96,
        depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24), drop_rate=0.0, drop_path_rate=0.2,
    ),
    # 64x64 CWT images -> 16x16 tokens, 4x4 windows; 0.14M parameters, seconds per epoch on 2 CPU cores
    "demo": dict(
        img_size=64, patch_size=4, window_size=4, embed_dim=32, depths=(2, 2), num_heads=(2, 4),
        drop_rate=0.0, drop_path_rate=0.0,
    ),
}


@dataclass(frozen=True)
class SwinConfig:
    """Swin Transformer geometry for ``img_size x img_size`` one-channel images and ``n_classes`` outputs.

    Stage ``i`` has ``depths[i]`` blocks of width ``embed_dim * 2**i`` with ``num_heads[i]`` heads;
    each stage after the first halves the token grid.
    """

    n_classes: int
    img_size: int = 224
    patch_size: int = 4
    window_size: int = 7
    embed_dim: int = 96
    depths: tuple[int, ...] = (2, 2, 6, 2)
    num_heads: tuple[int, ...] = (3, 6, 12, 24)
    drop_rate: float = 0.0
    drop_path_rate: float = 0.1

    def __post_init__(self) -> None:
        # lists (from JSON, YAML, MLflow params) become tuples so configs compare and hash equal
        for name in ("depths", "num_heads"):
            object.__setattr__(self, name, tuple(int(v) for v in getattr(self, name)))
        if self.n_classes < 1:
            raise ValueError(f"n_classes must be positive, got {self.n_classes}")
        if len(self.depths) != len(self.num_heads) or not self.depths:
            raise ValueError(f"depths {self.depths} and num_heads {self.num_heads} need one entry per stage")
        if self.img_size % self.patch_size:
            raise ValueError(f"img_size {self.img_size} is not a multiple of patch_size {self.patch_size}")
        grid = self.img_size // self.patch_size
        if grid % 2 ** (len(self.depths) - 1):
            raise ValueError(f"a {grid}x{grid} token grid cannot be halved {len(self.depths) - 1} times")
        for i, heads in enumerate(self.num_heads):
            if (self.embed_dim * 2**i) % heads:
                raise ValueError(f"stage {i} width {self.embed_dim * 2**i} is not divisible by {heads} heads")

    @classmethod
    def preset(cls, name: str, n_classes: int) -> SwinConfig:
        """Named geometry: ``paper`` (Swin-T, 224x224) or ``demo`` (a small Swin for 64x64 images).

        Parameters
        ----------
        name : str
            Preset name.
        n_classes : int
            Number of output classes.

        Returns
        -------
        SwinConfig
        """
        if name not in _PRESETS:
            raise ValueError(f"unknown Swin preset {name!r}; choose one of {sorted(_PRESETS)}")
        return cls(n_classes=n_classes, **_PRESETS[name])

    def as_dict(self) -> dict:
        d = asdict(self)
        d["depths"], d["num_heads"] = list(self.depths), list(self.num_heads)
        return d


@dataclass(frozen=True)
class WeightsReport:
    """What :func:`load_swin_weights` did with a checkpoint.

    Attributes
    ----------
    path : Path
        The file read.
    loaded : tuple of str
        Parameters and buffers taken from the file.
    missing : tuple of str
        Model entries the file did not provide (kept at their fresh initialisation).
    unexpected : tuple of str
        File entries the model has no place for (ignored).
    dropped_head : tuple of str
        Classifier entries whose shape differs (another number of classes), left initialised.
    adapted_channels : int or None
        Input channels of the file's patch embedding when they were summed down to one.
    """

    path: Path
    loaded: tuple[str, ...]
    missing: tuple[str, ...]
    unexpected: tuple[str, ...]
    dropped_head: tuple[str, ...]
    adapted_channels: int | None

    def summary(self) -> str:
        parts = [f"{len(self.loaded)} tensors loaded from {self.path}"]
        if self.adapted_channels:
            parts.append(f"patch embedding summed from {self.adapted_channels} input channels to 1")
        if self.dropped_head:
            parts.append(f"classifier head re-initialised (shape differs): {', '.join(self.dropped_head)}")
        if self.missing:
            parts.append(f"missing (left initialised): {', '.join(self.missing)}")
        if self.unexpected:
            parts.append(f"unexpected (ignored): {', '.join(self.unexpected)}")
        return "; ".join(parts)


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise FileNotFoundError(f"Swin weights file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path), device="cpu")
    if suffix in (".pt", ".pth", ".bin"):
        # weights_only: a checkpoint is data, and unpickling arbitrary objects would execute code
        obj = torch.load(path, map_location="cpu", weights_only=True)
        for key in ("model", "state_dict", "model_state_dict"):
            if isinstance(obj, dict) and isinstance(obj.get(key), dict):
                obj = obj[key]
        if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
            raise ValueError(f"{path} does not hold a state dict of tensors")
        return obj
    raise ValueError(f"unsupported weights format {suffix!r} for {path}; use .safetensors, .pt or .pth")


def load_swin_weights(model: SwinTransformer, weights: str | Path) -> WeightsReport:
    """Load a local Swin checkpoint into a one-channel ``model``, adapting what differs.

    Accepts timm and original Microsoft Swin checkpoints (timm's converter renames the latter). A
    3-channel (RGB) patch embedding is summed over channels -- the response of the RGB filters to a grey
    image -- and a classifier head of another shape is left initialised. Any other shape mismatch means
    a different geometry and is refused rather than half-loaded.

    Parameters
    ----------
    model : SwinTransformer
        Model from :func:`build_swin`; changed in place.
    weights : str or Path
        A ``.safetensors``, ``.pt`` or ``.pth`` file.

    Returns
    -------
    WeightsReport
        Also logged at INFO level (WARNING when entries are missing or unexpected).
    """
    path = Path(weights).expanduser()
    raw = _read_state_dict(path)
    own = model.state_dict()
    # timm's converter resizes relative-position tables through model.get_submodule, which fails for a
    # block this model does not have; such tables are reported as unexpected instead.
    absent = {k for k in raw if k.endswith("relative_position_bias_table") and k not in own}
    state = checkpoint_filter_fn({k: v for k, v in raw.items() if k not in absent}, model)

    adapted = None
    proj = "patch_embed.proj.weight"
    if proj in state and state[proj].shape[1] != 1:
        adapted = int(state[proj].shape[1])
        state[proj] = state[proj].sum(dim=1, keepdim=True)

    dropped: list[str] = []
    mismatched: list[str] = []
    for k, v in list(state.items()):
        if k in own and v.shape != own[k].shape:
            if k.startswith("head."):
                dropped.append(k)
            else:
                mismatched.append(f"{k} {tuple(v.shape)} vs {tuple(own[k].shape)}")
            del state[k]
    if mismatched:
        more = ", ..." if len(mismatched) > 5 else ""
        raise ValueError(
            f"{path} has a different Swin geometry: {len(mismatched)} tensors differ in shape "
            f"({', '.join(mismatched[:5])}{more}); build the model with the checkpoint's geometry"
        )

    result = model.load_state_dict(state, strict=False)
    report = WeightsReport(
        path=path,
        loaded=tuple(k for k in state if k in own),
        missing=tuple(k for k in result.missing_keys if k not in dropped),
        unexpected=tuple(sorted(set(result.unexpected_keys) | absent)),
        dropped_head=tuple(dropped),
        adapted_channels=adapted,
    )
    level = logging.WARNING if report.missing or report.unexpected else logging.INFO
    log.log(level, "Swin weights: %s", report.summary())
    return report


def build_swin(cfg: SwinConfig, weights: str | Path | None = None) -> SwinTransformer:
    """Swin Transformer for one-channel ``cfg.img_size`` images, optionally with local weights.

    Parameters
    ----------
    cfg : SwinConfig
        Geometry and number of classes.
    weights : str or Path, optional
        Local ``.safetensors`` / ``.pt`` / ``.pth`` checkpoint, see :func:`load_swin_weights`.

    Returns
    -------
    SwinTransformer
        Takes ``(batch, 1, img_size, img_size)`` float images, returns ``(batch, n_classes)`` logits.

    Raises
    ------
    FileNotFoundError
        ``weights`` names no file.
    """
    if weights is not None and not Path(weights).expanduser().is_file():
        # checked before building: a Swin-T takes a second to initialise
        raise FileNotFoundError(f"Swin weights file not found: {Path(weights).expanduser()}")
    model = SwinTransformer(
        img_size=cfg.img_size,
        patch_size=cfg.patch_size,
        in_chans=1,
        num_classes=cfg.n_classes,
        embed_dim=cfg.embed_dim,
        depths=cfg.depths,
        num_heads=cfg.num_heads,
        window_size=cfg.window_size,
        drop_rate=cfg.drop_rate,
        drop_path_rate=cfg.drop_path_rate,
    )
    if weights is not None:
        load_swin_weights(model, weights)
    return model


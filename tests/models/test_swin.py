"""Swin Transformer on CWT images: geometry, training step, local weights and their adaptation."""

from __future__ import annotations

import logging
import re

import pytest
import torch
from safetensors.torch import save_file
from timm.models.swin_transformer import SwinTransformer

from lcml.models.swin import SwinConfig, build_swin, load_swin_weights


def _demo(n_classes: int = 3) -> SwinConfig:
    return SwinConfig.preset("demo", n_classes)


def _timm_swin(cfg: SwinConfig, in_chans: int, num_classes: int) -> SwinTransformer:
    # stands in for a checkpoint made elsewhere (e.g. RGB ImageNet weights with their own head)
    return SwinTransformer(
        img_size=cfg.img_size, patch_size=cfg.patch_size, in_chans=in_chans, num_classes=num_classes,
        embed_dim=cfg.embed_dim, depths=cfg.depths, num_heads=cfg.num_heads, window_size=cfg.window_size,
    )


def test_demo_forward_shape():
    torch.manual_seed(0)
    cfg = _demo(5)
    model = build_swin(cfg).eval()
    assert model.patch_embed.proj.in_channels == 1
    out = model(torch.rand(3, 1, cfg.img_size, cfg.img_size))
    assert out.shape == (3, 5)
    assert torch.isfinite(out).all()


def test_paper_preset_is_swin_tiny_geometry():
    cfg = SwinConfig.preset("paper", 6)
    assert (cfg.img_size, cfg.patch_size, cfg.window_size, cfg.embed_dim) == (224, 4, 7, 96)
    assert cfg.depths == (2, 2, 6, 2) and cfg.num_heads == (3, 6, 12, 24)
    model = build_swin(cfg).eval()
    assert 27e6 < sum(p.numel() for p in model.parameters()) < 29e6  # Swin-T is ~28M
    with torch.no_grad():
        assert model(torch.rand(1, 1, 224, 224)).shape == (1, 6)


def test_config_round_trip_and_validation():
    cfg = _demo(4)
    d = cfg.as_dict()
    assert d["depths"] == [2, 2] and d["n_classes"] == 4
    assert SwinConfig(**d) == cfg
    with pytest.raises(ValueError, match="unknown Swin preset"):
        SwinConfig.preset("huge", 3)
    with pytest.raises(ValueError, match="one entry per stage"):
        SwinConfig(n_classes=2, depths=(2, 2), num_heads=(2,))
    with pytest.raises(ValueError, match="multiple of patch_size"):
        SwinConfig(n_classes=2, img_size=66, patch_size=4)


def test_a_few_steps_reduce_the_loss():
    torch.manual_seed(0)
    cfg = _demo(3)
    model = build_swin(cfg).train()
    y = torch.arange(9) % 3
    x = 0.1 * torch.rand(9, 1, cfg.img_size, cfg.img_size)
    for c in range(3):
        x[y == c, :, :, 21 * c : 21 * (c + 1)] += 1.0  # each class lights a different band of columns
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(6):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    # seeds 0-4 all end 8-20% below the start; a broken backward pass leaves the loss where it was
    assert losses[-1] < 0.95 * losses[0], losses


def test_weights_round_trip_through_safetensors(tmp_path, caplog):
    torch.manual_seed(1)
    cfg = _demo(4)
    trained = build_swin(cfg).eval()
    path = tmp_path / "swin.safetensors"
    save_file({k: v.contiguous() for k, v in trained.state_dict().items()}, str(path))

    torch.manual_seed(2)  # a different initialisation, so equality below comes from the file
    with caplog.at_level(logging.INFO, logger="lcml.models.swin"):
        loaded = build_swin(cfg, weights=path).eval()
    x = torch.rand(2, 1, cfg.img_size, cfg.img_size)
    with torch.no_grad():
        assert torch.equal(loaded(x), trained(x))
    assert str(path) in caplog.text and "loaded" in caplog.text

    report = load_swin_weights(build_swin(cfg), str(path))
    assert report.missing == () and report.unexpected == () and report.dropped_head == ()
    assert set(report.loaded) == set(trained.state_dict())


def test_rgb_weights_adapt_to_one_channel(tmp_path):
    torch.manual_seed(3)
    cfg = _demo(10)
    rgb = _timm_swin(cfg, in_chans=3, num_classes=10).eval()
    path = tmp_path / "rgb.pth"
    torch.save({"model": rgb.state_dict()}, path)  # wrapped as training scripts often save it

    grey = build_swin(cfg, weights=path).eval()
    assert torch.equal(grey.patch_embed.proj.weight, rgb.patch_embed.proj.weight.sum(1, keepdim=True))
    # summing the RGB filters is exact for a grey image: the same picture in all three channels
    x = torch.rand(2, 1, cfg.img_size, cfg.img_size)
    with torch.no_grad():
        assert torch.allclose(grey(x), rgb(x.expand(-1, 3, -1, -1)), atol=1e-5)


def test_head_of_another_shape_is_dropped_and_reported(tmp_path, caplog):
    torch.manual_seed(4)
    src_cfg = _demo(1000)
    src = _timm_swin(src_cfg, in_chans=3, num_classes=1000)
    state = dict(src.state_dict(), **{"extra.unused": torch.zeros(3)})
    path = tmp_path / "imagenet.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))

    model = build_swin(_demo(6))
    fresh_head = model.head.fc.weight.detach().clone()
    with caplog.at_level(logging.INFO, logger="lcml.models.swin"):
        report = load_swin_weights(model, path)
    assert set(report.dropped_head) == {"head.fc.weight", "head.fc.bias"}
    assert report.adapted_channels == 3
    assert report.unexpected == ("extra.unused",)
    assert report.missing == ()
    assert torch.equal(model.head.fc.weight, fresh_head)
    assert torch.equal(model.layers[1].blocks[0].mlp.fc1.weight, src.layers[1].blocks[0].mlp.fc1.weight)
    assert "head" in caplog.text and "summed from 3" in caplog.text and "extra.unused" in caplog.text
    assert any(r.levelno == logging.WARNING for r in caplog.records)


def test_other_geometry_is_refused(tmp_path):
    wide = _timm_swin(SwinConfig(n_classes=3, img_size=64, patch_size=4, window_size=4, embed_dim=48,
                                 depths=(2, 2), num_heads=(2, 4)), in_chans=1, num_classes=3)
    path = tmp_path / "wide.pt"
    torch.save(wide.state_dict(), path)
    with pytest.raises(ValueError, match="different Swin geometry"):
        build_swin(_demo(3), weights=path)


def test_missing_weights_file_is_a_clear_error(tmp_path):
    path = tmp_path / "nowhere" / "swin_tiny.safetensors"
    with pytest.raises(FileNotFoundError, match=re.escape(str(path))):
        build_swin(_demo(3), weights=path)
    with pytest.raises(FileNotFoundError, match=re.escape(str(path))):
        load_swin_weights(build_swin(_demo(3)), path)


def test_unknown_weights_format_is_refused(tmp_path):
    path = tmp_path / "weights.npz"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="unsupported weights format"):
        build_swin(_demo(3), weights=path)

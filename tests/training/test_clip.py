import math

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from lcml.models.astrom3 import AstroM3, AstroM3Config, Classifier, spectrum_grid
from lcml.training.clip import (
    MultimodalData,
    clip_loss,
    embed,
    finetune,
    pair_losses,
    predict_proba,
    pretrain,
    retrieval_accuracy,
)

TINY = AstroM3Config(embed_dim=16, max_points=64, phot_dim=16, phot_layers=1, phot_heads=2, phot_ff=32, n_aux=2,
                     time_min_period=0.1, time_max_period=200.0, spec_bins=64, spec_channels=(8, 8),
                     n_metadata=6, meta_hidden=32, dropout=0.0)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def unit(n, d, seed):
    return F.normalize(torch.randn(n, d, generator=torch.Generator().manual_seed(seed)), dim=-1)


def aligned(n=32, d=16, noise=0.1, names=("photometry", "spectra", "metadata"), seed=0):
    base = unit(n, d, seed)
    return {m: F.normalize(base + noise * unit(n, d, seed + 1 + i), dim=-1) for i, m in enumerate(names)}


# ---------------------------------------------------------------- loss

def test_aligned_embeddings_have_lower_loss_than_shuffled():
    emb = aligned()
    scale = torch.tensor(math.log(10.0))
    shuffled = dict(emb)
    shuffled["spectra"] = emb["spectra"][torch.randperm(32, generator=torch.Generator().manual_seed(1))]
    shuffled["metadata"] = emb["metadata"][torch.randperm(32, generator=torch.Generator().manual_seed(2))]
    good, bad = clip_loss(emb, None, scale), clip_loss(shuffled, None, scale)
    assert good < bad - 1.0
    # with perfect alignment and a sharp temperature each pair's loss approaches 0; random is ~log(n)
    assert float(clip_loss(aligned(noise=0.0), None, torch.tensor(math.log(100.0)))) < 0.05
    assert 3 * math.log(32) * 0.6 < float(bad)


def test_missing_rows_do_not_change_the_other_pairs():
    emb = aligned(n=20)
    scale = torch.tensor(math.log(20.0))
    has_spec = torch.tensor([i % 3 != 0 for i in range(20)])
    present = {"spectra": has_spec}  # photometry and metadata: everyone
    total = clip_loss(emb, present, scale)
    # by hand: p-m on all rows, the two pairs with spectra on the rows that have spectra
    sub = {m: e[has_spec] for m, e in emb.items()}
    expected = (clip_loss({"photometry": emb["photometry"], "metadata": emb["metadata"]}, None, scale)
                + clip_loss({"photometry": sub["photometry"], "spectra": sub["spectra"]}, None, scale)
                + clip_loss({"spectra": sub["spectra"], "metadata": sub["metadata"]}, None, scale))
    assert torch.allclose(total, expected, atol=1e-5)
    # whatever absent rows hold, NaN included, is never read
    garbage = dict(emb)
    garbage["spectra"] = emb["spectra"].clone()
    garbage["spectra"][~has_spec] = float("nan")
    assert torch.allclose(clip_loss(garbage, present, scale), total, atol=1e-6)
    pairs = pair_losses(garbage, present, scale)
    assert set(pairs) == {("photometry", "spectra"), ("photometry", "metadata"), ("spectra", "metadata")}


def test_a_pair_without_two_shared_rows_contributes_zero_and_no_nan():
    emb = aligned(n=8)
    scale = torch.nn.Parameter(torch.tensor(math.log(10.0)))
    nobody = {"spectra": torch.zeros(8, dtype=torch.bool)}
    one = {"spectra": torch.tensor([True] + [False] * 7)}
    pm_only = clip_loss({"photometry": emb["photometry"], "metadata": emb["metadata"]}, None, scale)
    for present in (nobody, one):
        loss = clip_loss(emb, present, scale)
        assert torch.isfinite(loss) and torch.allclose(loss, pm_only)
        assert ("photometry", "spectra") not in pair_losses(emb, present, scale)
    # no pair at all: exactly 0, finite, and backward still works (the loop never special-cases it)
    two = {"photometry": emb["photometry"], "spectra": emb["spectra"]}
    empty = clip_loss(two, nobody, scale)
    assert float(empty.detach()) == 0.0
    empty.backward()
    assert scale.grad is not None and torch.isfinite(scale.grad)
    assert float(clip_loss(two, nobody, scale, reduction="mean").detach()) == 0.0


def test_gradient_reaches_the_temperature_and_embeddings():
    emb = {m: e.clone().requires_grad_(True) for m, e in aligned(noise=0.5).items()}
    scale = torch.nn.Parameter(torch.tensor(math.log(1 / 0.07)))
    clip_loss(emb, None, scale).backward()
    assert scale.grad is not None and float(scale.grad.abs()) > 1e-4
    assert all(float(e.grad.abs().sum()) > 0 for e in emb.values())
    # fairly aligned embeddings: sharpening (a larger scale) lowers the loss, so the gradient is negative
    assert float(scale.grad) < 0


def test_temperature_is_clamped_at_the_maximum():
    emb = aligned(noise=0.5)
    at_cap = clip_loss(emb, None, torch.tensor(math.log(100.0)))
    beyond = torch.nn.Parameter(torch.tensor(math.log(1000.0)))
    loss = clip_loss(emb, None, beyond)
    assert torch.allclose(loss, at_cap)
    loss.backward()
    assert float(beyond.grad) == 0.0  # past the cap the scale no longer moves the loss
    below = clip_loss(emb, None, torch.tensor(math.log(50.0)))
    assert not torch.allclose(below, at_cap)
    assert torch.allclose(clip_loss(emb, None, math.log(1000.0), max_scale=1000.0),
                          clip_loss(emb, None, torch.tensor(math.log(1000.0)), max_scale=1e4))


def test_two_and_three_modalities_and_reductions():
    three = aligned(noise=0.3)
    two = {m: three[m] for m in ("photometry", "metadata")}
    scale = torch.tensor(math.log(20.0))
    l2, l3 = clip_loss(two, None, scale), clip_loss(three, None, scale)
    assert torch.isfinite(l2) and torch.isfinite(l3)
    per_pair = pair_losses(three, None, scale)
    assert len(per_pair) == 3
    assert torch.allclose(l3, sum(per_pair.values()))
    assert torch.allclose(clip_loss(three, None, scale, reduction="mean"), l3 / 3)
    assert torch.allclose(l2, per_pair[("photometry", "metadata")])
    # symmetric: swapping the two modalities gives the same value
    assert torch.allclose(l2, clip_loss({"metadata": two["metadata"], "photometry": two["photometry"]}, None, scale))
    with pytest.raises(ValueError, match="two modalities"):
        clip_loss({"photometry": three["photometry"]}, None, scale)
    with pytest.raises(ValueError, match="reduction"):
        clip_loss(three, None, scale, reduction="max")


def test_retrieval_accuracy_is_one_for_identical_and_low_for_shuffled():
    z = unit(50, 16, 3)
    assert retrieval_accuracy({"a": z, "b": z}, None, "a", "b") == 1.0
    perm = torch.roll(torch.arange(50), 1)
    assert retrieval_accuracy({"a": z, "b": z[perm]}, None, "a", "b") == 0.0
    assert math.isnan(retrieval_accuracy({"a": z, "b": z}, {"b": np.eye(1, 50, dtype=bool)[0]}, "a", "b"))


# ---------------------------------------------------------------- synthetic multimodal data

def synthetic(n, seed, n_classes=3):
    """Three views of one latent per object: class centre + per-object scatter.

    The light curve's period and shape, the spectrum's line positions and depths, and the metadata all
    depend on the same 4-d latent, so matching views needs the per-object part, not just the class.
    """
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(99).normal(0, 1.5, (n_classes, 4))
    y = rng.integers(0, n_classes, n)
    z = centres[y] + rng.normal(0, 0.7, (n, 4))
    lcs = []
    for zi in z:
        m = int(rng.integers(40, 100))
        t = np.sort(rng.uniform(0, 60, m))
        period = np.exp(0.4 * zi[0]) + 0.3
        amp = 0.1 * np.exp(0.3 * zi[1])
        f = 1 + amp * (np.sin(2 * np.pi * t / period) + 0.5 * np.tanh(zi[2]) * np.sin(4 * np.pi * t / period))
        lcs.append(np.stack([t, f + rng.normal(0, 0.01, m), np.full(m, 0.01)], 1))
    aux = np.stack([0.3 * z[:, 1], 0.4 * z[:, 0]], 1) + rng.normal(0, 0.05, (n, 2))
    bins = np.arange(TINY.spec_bins)
    spectra = np.zeros((n, 2, TINY.spec_bins), np.float32)
    for i, zi in enumerate(z):
        line1 = 20 + 4 * zi[0]
        line2 = 44 + 4 * zi[3]
        flux = 1 - 0.5 * np.exp(-0.5 * ((bins - line1) / 2) ** 2) - 0.3 * (1 + np.tanh(zi[2])) * np.exp(
            -0.5 * ((bins - line2) / 2) ** 2)
        spectra[i, 0] = (flux - 1) / 0.2 + rng.normal(0, 0.1, len(bins))
        spectra[i, 1] = 2.0
    w = np.random.default_rng(7).normal(0, 1, (4, TINY.n_metadata))
    metadata = (z @ w + rng.normal(0, 0.2, (n, TINY.n_metadata))) / 2
    return MultimodalData(lightcurves=lcs, aux=aux, spectra=spectra, metadata=metadata, labels=y)


@pytest.fixture(scope="module")
def pretrained():
    train, test = synthetic(256, seed=1), synthetic(64, seed=2)
    torch.manual_seed(0)
    model = AstroM3(TINY)
    before = embed(model, test)
    history = pretrain(model, train, epochs=25, lr=3e-3, batch_size=64, seed=0, device="cpu", val=test)
    after = embed(model, test)
    return model, train, test, before, after, history


def test_pretraining_raises_cross_modal_retrieval_well_above_chance(pretrained):
    model, train, test, before, after, history = pretrained
    pairs = [("photometry", "spectra"), ("photometry", "metadata"), ("spectra", "metadata")]
    acc_before = {p: retrieval_accuracy(before, test.present, *p) for p in pairs}
    acc_after = {p: retrieval_accuracy(after, test.present, *p) for p in pairs}
    chance = 1 / len(test)
    print("retrieval before", acc_before, "after", acc_after, "chance", chance)
    mean_after = np.mean(list(acc_after.values()))
    # measured over seeds 0-3 (64 test objects, chance 1/64 = 0.016): before 0.008-0.023 per pair;
    # after, photometry-spectra 0.07-0.13, photometry-metadata 0.14-0.23, spectra-metadata 0.44-0.63,
    # mean 0.25-0.30. The photometry transformer learns slowest in 25 tiny epochs.
    assert np.mean(list(acc_before.values())) < 3 * chance
    assert mean_after > 10 * chance
    assert all(acc_after[p] >= 3 * chance and acc_after[p] > acc_before[p] for p in pairs)
    assert acc_after[("spectra", "metadata")] > 0.3
    assert history[-1]["train_loss"] < history[0]["train_loss"] - 0.5
    assert history[-1]["val_retrieval_spectra_metadata"] == pytest.approx(acc_after[("spectra", "metadata")], abs=1e-6)
    assert 0 < history[-1]["logit_scale"] <= TINY.logit_scale_max + 1e-3


def test_finetune_from_clip_weights_runs_and_learns(pretrained):
    model, train, test, *_ = pretrained
    clf = Classifier.from_pretrained(model, n_classes=3, inputs="all", fusion="average")
    for k, v in model.state_dict().items():
        if k.startswith("encoders."):
            assert torch.equal(clf.backbone.state_dict()[k], v)
    history = finetune(clf, train, epochs=8, lr=3e-3, batch_size=64, seed=0, device="cpu", val=test)
    assert len(history) == 8 and {"train_loss", "val_balanced_accuracy"} <= set(history[-1])
    proba = predict_proba(clf, test, device="cpu")
    assert proba.shape == (64, 3) and np.allclose(proba.sum(1), 1, atol=1e-5)
    # chance is 1/3; measured 0.95 (logistic regression on the raw metadata: 0.98). The best
    # validation epoch is restored, so the final accuracy is the history's best.
    accuracy = (proba.argmax(1) == test.labels).mean()
    assert accuracy > 0.8
    assert accuracy == pytest.approx(max(h["val_accuracy"] for h in history))
    # single-modality linear probe on the frozen encoder also runs and leaves the encoder untouched
    probe = Classifier.from_pretrained(model, n_classes=3, inputs="metadata")
    frozen = {k: v.clone() for k, v in probe.backbone.state_dict().items()}
    finetune(probe, train, epochs=2, lr=1e-2, batch_size=64, seed=0, device="cpu", freeze_encoders=True)
    assert all(torch.equal(frozen[k], v) for k, v in probe.backbone.state_dict().items())


def test_pretrain_with_missing_modalities_and_on_epoch():
    data = synthetic(48, seed=3)
    data.present["spectra"][::2] = False
    data.present["photometry"][1::4] = False
    model = AstroM3(TINY, modalities=("photometry", "spectra"))
    seen = []
    history = pretrain(model, data, epochs=2, lr=1e-3, batch_size=16, seed=0, device="cpu",
                       on_epoch=lambda e, m: seen.append(e))
    assert seen == [0, 1] and all(np.isfinite(h["train_loss"]) for h in history)
    assert history[0]["batches"] == 3
    with pytest.raises(ValueError, match="two modalities"):
        pretrain(AstroM3(TINY, ("metadata",)), data, epochs=1, device="cpu")


def test_pretrain_is_repeatable():
    data = synthetic(32, seed=4)
    runs = []
    for _ in range(2):
        torch.manual_seed(123)
        model = AstroM3(TINY)
        runs.append(pretrain(model, data, epochs=2, lr=1e-3, batch_size=16, seed=5, device="cpu"))
    assert runs[0] == runs[1]


def test_from_frames_builds_the_astrom3_layout():
    rng = np.random.default_rng(0)
    ids = ["a", "b", "c", "d"]
    lcs = pd.DataFrame({
        "object_id": ids, "label": ["EW", "SR", None, "EW"],
        "time": [np.sort(rng.uniform(0, 100, k)) for k in (10, 300, 5, 1)],
        "flux": [rng.normal(1, 0.1, k) for k in (10, 300, 5, 1)],
        "flux_err": [np.full(k, 0.01) for k in (10, 300, 5, 1)],
    })
    meta_cols = [f"m{i}" for i in range(TINY.n_metadata)]
    objects = pd.DataFrame({"object_id": ["a", "b", "c"], **{c: [1.0, 2.0, np.nan] for c in meta_cols},
                            "amplitude": [0.5, 1.0, 0.1], "period": [0.3, 100.0, 2.0]})
    grid = spectrum_grid(TINY)
    spectra = pd.DataFrame({"object_id": ["b", "d"], "wavelength": [grid, grid],
                            "flux": [np.ones(64) + rng.normal(0, .1, 64)] * 2, "ivar": [np.full(64, 100.0)] * 2})
    data = MultimodalData.from_frames(lcs, objects, spectra, cfg=TINY, metadata_columns=meta_cols)
    assert data.classes == ["EW", "SR"] and data.labels.tolist() == [0, 1, -1, 0]
    assert data.present["spectra"].tolist() == [False, True, False, True]
    assert data.present["metadata"].tolist() == [True, True, False, False]  # c: all NaN; d: no row
    assert data.metadata.shape == (4, 6) and np.isfinite(data.metadata).all()
    assert data.aux.shape == (4, 2) and data.aux_scaler.columns == ["amplitude", "period"]
    inputs, present, labels = data.batch([0, 1], max_points=TINY.max_points, train=False)
    assert inputs["photometry"].shape == (2, 64, 3) and inputs["photometry_mask"].sum().item() == 10 + 64
    # the test split reuses the training scalers
    other = MultimodalData.from_frames(lcs, objects, None, cfg=TINY, metadata_columns=meta_cols,
                                       metadata_scaler=data.metadata_scaler, aux_scaler=data.aux_scaler,
                                       classes=["SR", "EW"])
    assert np.array_equal(other.metadata, data.metadata) and other.labels.tolist() == [1, 0, -1, 1]
    assert "spectra" not in other.present
    out = AstroM3(TINY).encode(inputs)
    assert set(out) == {"photometry", "spectra", "metadata"}

import math

import numpy as np
import pandas as pd
import pytest
import torch

from lcml.models.astrom3 import (
    AstroM3,
    AstroM3Config,
    Classifier,
    MetadataEncoder,
    PhotometryEncoder,
    SpectraEncoder,
    Standardizer,
    pad_lightcurves,
    resample_spectrum,
    spectrum_grid,
)

SMALL = AstroM3Config(embed_dim=12, max_points=50, phot_dim=16, phot_layers=2, phot_heads=2, phot_ff=32, n_aux=2,
                      spec_bins=96, spec_channels=(8, 8, 4), spec_pool=2, n_metadata=5, meta_hidden=16,
                      dropout=0.1)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def lightcurve(n, seed=0):
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(0, 300, n))
    return np.stack([t, 1 + 0.1 * np.sin(t) + rng.normal(0, 0.01, n), np.full(n, 0.01)], axis=1)


def batch(n=4, seed=0, lengths=(7, 80, 30, 0)):
    g = torch.Generator().manual_seed(seed)
    points, mask = pad_lightcurves([lightcurve(k, seed + i) for i, k in enumerate(lengths[:n])], SMALL.max_points,
                                   train=False)
    return {"photometry": points, "photometry_mask": mask, "photometry_aux": torch.randn(n, 2, generator=g),
            "spectra": torch.randn(n, 2, SMALL.spec_bins, generator=g),
            "metadata": torch.randn(n, SMALL.n_metadata, generator=g)}


# ---------------------------------------------------------------- inputs

def test_centre_crop_is_deterministic_and_centred():
    lc = lightcurve(130)
    a, mask_a = pad_lightcurves([lc], 50, train=False, normalise=False)
    b, _ = pad_lightcurves([lc], 50, train=False, normalise=False)
    assert torch.equal(a, b) and int(mask_a.sum()) == 50
    assert np.allclose(a[0, :, 0].numpy(), lc[40:90, 0].astype(np.float32))  # (130 - 50) // 2 = 40


def test_random_crops_are_contiguous_windows_that_vary():
    lc = lightcurve(130)
    rng = np.random.default_rng(0)
    starts = set()
    for _ in range(20):
        points, mask = pad_lightcurves([lc], 50, train=True, rng=rng, normalise=False)
        start = int(np.searchsorted(lc[:, 0], points[0, 0, 0].item() - 1e-4))
        assert np.allclose(points[0, :, 0].numpy(), lc[start : start + 50, 0].astype(np.float32), atol=1e-4)
        starts.add(start)
    assert len(starts) > 5
    # a light curve shorter than max_points is never cropped, in either mode
    short, mask = pad_lightcurves([lightcurve(20)], 50, train=True, rng=rng, pad_to=50)
    assert short.shape == (1, 50, 3) and int(mask.sum()) == 20 and float(short[0, 20:].abs().sum()) == 0.0


def test_normalisation_and_padding_layout():
    lc = lightcurve(40)
    lc[:, 1] = 1000 + 50 * lc[:, 1]  # an arbitrary flux scale must not leak into the tokens
    points, mask = pad_lightcurves([lc, lightcurve(10), np.zeros((0, 3))], 50, train=False)
    assert points.shape == (3, 40, 3) and mask.sum(1).tolist() == [40, 10, 0]
    first = points[0].numpy()
    assert first[0, 0] == 0.0 and np.all(np.diff(first[:, 0]) > 0)
    assert abs(np.median(first[:, 1])) < 1e-5
    mad = np.median(np.abs(first[:, 1] - np.median(first[:, 1])))
    assert mad == pytest.approx(1 / 1.4826, rel=1e-4)
    # a (time, flux, flux_err) triple is accepted as well as an (n, 3) array
    triple, _ = pad_lightcurves([tuple(lc.T)], 50, train=False)
    assert torch.equal(triple[0], points[0])
    with pytest.raises(ValueError, match=r"\(n, 3\)"):
        pad_lightcurves([np.zeros((5, 2))], 50, train=False)


def test_spectrum_resampling_keeps_lines_and_marks_gaps():
    grid = spectrum_grid(SMALL)
    assert len(grid) == 96 and grid[0] > 3850 and grid[-1] < 9000
    wl = np.linspace(4000, 8000, 3000)  # no coverage below 4000 or above 8000 Angstrom
    flux = 5 + np.random.default_rng(0).normal(0, 0.05, wl.size) - 3 * np.exp(-0.5 * ((wl - 6563) / 20) ** 2)
    ivar = np.full_like(wl, 4.0)
    ivar[(wl > 5000) & (wl < 5400)] = 0  # masked stretch
    out = resample_spectrum(wl, flux, ivar, grid)
    assert out.shape == (2, 96) and out.dtype == np.float32
    outside = (grid < 4000) | (grid > 8000)
    assert np.all(out[:, outside] == 0)
    assert grid[np.argmin(out[0])] == pytest.approx(6563, abs=60)
    gap = (grid > 5050) & (grid < 5350)
    good = ~outside & ((grid < 4950) | (grid > 5450))
    assert np.all(out[1, gap] == 0) and np.all(out[1, good] > 0)
    # the flux level is normalised away
    assert np.allclose(resample_spectrum(wl, 100 * flux, ivar / 1e4, grid), out, atol=1e-4)
    assert not resample_spectrum(wl, flux * np.nan, ivar, grid).any()


def test_standardizer_fits_round_trips_and_fills_gaps():
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0, np.nan], "b": [5.0, 5.0, 5.0, 5.0], "c": [0.0, 10.0, np.nan, np.inf]})
    scaler = Standardizer.fit(frame, ["a", "b", "c"])
    z = scaler.transform(frame)
    assert z.dtype == np.float32 and np.isfinite(z).all()
    assert np.allclose(z[:3, 0], [-1.2247449, 0, 1.2247449]) and z[3, 0] == 0.0  # missing -> the mean
    assert np.all(z[:, 1] == 0.0)  # constant column: centred, not divided by zero
    assert np.allclose(z[:2, 2], [-1, 1]) and np.all(z[2:, 2] == 0)
    again = Standardizer.from_dict(scaler.to_dict())
    assert np.array_equal(again.transform(frame), z)
    assert np.array_equal(scaler.transform(frame[["c", "b", "a"]]), z)  # by name, not by position
    with pytest.raises(KeyError, match="c"):
        scaler.transform(frame[["a", "b"]])


def test_config_round_trip_and_validation():
    cfg = AstroM3Config.from_dict(SMALL.as_dict())
    assert cfg == SMALL
    import json
    assert AstroM3Config.from_dict(json.loads(json.dumps(SMALL.as_dict()))) == SMALL  # lists back to tuples
    with pytest.raises(ValueError, match="phot_heads"):
        AstroM3Config(phot_dim=30, phot_heads=4)
    with pytest.raises(ValueError, match="spec_bins"):
        AstroM3Config(spec_bins=8)


# ---------------------------------------------------------------- encoders

def test_every_encoder_outputs_unit_vectors_of_the_shared_size():
    model = AstroM3(SMALL).eval()
    with torch.no_grad():
        out = model.encode(batch())
    assert set(out) == {"photometry", "spectra", "metadata"}
    for z in out.values():
        assert z.shape == (4, 12)
        assert torch.allclose(z.norm(dim=1), torch.ones(4), atol=1e-5)
    # an object without photometry (all padding) still gets a finite vector
    assert torch.isfinite(out["photometry"][3]).all()
    # encode only reads what the batch has
    partial = model.encode({"metadata": batch()["metadata"]})
    assert set(partial) == {"metadata"}


def test_padding_values_do_not_change_the_photometry_embedding():
    encoder = PhotometryEncoder(SMALL).eval()
    b = batch()
    with torch.no_grad():
        ref = encoder(b["photometry"], b["photometry_mask"], b["photometry_aux"])
        for filler in (1e3, float("nan")):
            points = b["photometry"].clone()
            points[~b["photometry_mask"]] = filler
            assert torch.allclose(encoder(points, b["photometry_mask"], b["photometry_aux"]), ref, atol=1e-5)
        # padding to a longer length is invisible too
        longer, mask = pad_lightcurves([lightcurve(k, i) for i, k in enumerate((7, 80, 30, 0))], SMALL.max_points,
                                       train=False, pad_to=SMALL.max_points + 10)
        assert torch.allclose(encoder(longer, mask, b["photometry_aux"]), ref, atol=1e-5)
        # ...while a real point does change it (the mask is not hiding everything)
        points = b["photometry"].clone()
        points[0, 3, 1] += 5.0
        assert not torch.allclose(encoder(points, b["photometry_mask"], b["photometry_aux"])[0], ref[0], atol=1e-4)
        # and so do the auxiliary features
        assert not torch.allclose(encoder(b["photometry"], b["photometry_mask"], b["photometry_aux"] + 1), ref)
    with pytest.raises(ValueError, match="auxiliary"):
        encoder(b["photometry"], b["photometry_mask"], None)


def test_spectra_and_metadata_encoders_respond_to_their_input():
    torch.manual_seed(0)  # the weights, not whatever earlier tests left in the global RNG
    spec, meta = SpectraEncoder(SMALL).eval(), MetadataEncoder(SMALL).eval()
    b = batch()
    with torch.no_grad():
        s, m = spec(b["spectra"]), meta(b["metadata"])
        assert torch.allclose(s.norm(dim=1), torch.ones(4), atol=1e-5)
        assert torch.allclose(m.norm(dim=1), torch.ones(4), atol=1e-5)
        assert not torch.allclose(s[0], s[1]) and not torch.allclose(m[0], m[1])
        # a line shifted along the wavelength axis moves the embedding: position is kept, not pooled away
        line = torch.zeros(1, 2, SMALL.spec_bins)
        line[0, 0, 20], line[0, 1] = -3.0, 1.0
        shifted = torch.roll(line, 40, dims=2)
        assert not torch.allclose(spec(line), spec(shifted), atol=1e-3)


def test_authors_size_model_builds_and_encodes():
    cfg = AstroM3Config()
    model = AstroM3(cfg).eval()
    assert model.logit_scale.exp().item() == pytest.approx(1 / 0.07, rel=1e-5)
    points, mask = pad_lightcurves([lightcurve(500), lightcurve(120)], cfg.max_points, train=False)
    assert points.shape == (2, 200, 3)
    grid = spectrum_grid(cfg)
    spectra = torch.from_numpy(np.stack([resample_spectrum(grid, 1 + 0 * grid, 1 + 0 * grid, grid)] * 2))
    with torch.no_grad():
        out = model.encode({"photometry": points, "photometry_mask": mask, "photometry_aux": torch.zeros(2, 2),
                            "spectra": spectra, "metadata": torch.zeros(2, 34)})
    assert all(z.shape == (2, 512) for z in out.values())


# ---------------------------------------------------------------- classifier

@pytest.mark.parametrize("inputs,fusion", [("photometry", "average"), ("spectra", "average"),
                                           ("metadata", "average"), ("all", "average"), ("all", "concat")])
def test_classifier_variants(inputs, fusion):
    clf = Classifier(SMALL, n_classes=5, inputs=inputs, fusion=fusion, dropout=0.3).eval()
    expected = ("photometry", "spectra", "metadata") if inputs == "all" else (inputs,)
    assert clf.modalities == expected
    width = SMALL.embed_dim * (3 if fusion == "concat" and inputs == "all" else 1)
    assert clf.head[1].in_features == width and clf.head[0].p == 0.3
    with torch.no_grad():
        logits = clf(batch())
    assert logits.shape == (4, 5) and torch.isfinite(logits).all()


def test_fusion_ignores_a_missing_modality():
    b = batch()
    present = {"photometry": torch.ones(4, dtype=torch.bool), "metadata": torch.ones(4, dtype=torch.bool),
               "spectra": torch.tensor([True, False, True, False])}
    for fusion in ("average", "concat"):
        clf = Classifier(SMALL, 3, fusion=fusion).eval()
        other = dict(b)
        other["spectra"] = b["spectra"] + 10.0
        with torch.no_grad():
            ref, changed = clf(b, present), clf(other, present)
        assert torch.allclose(ref[[1, 3]], changed[[1, 3]], atol=1e-5)  # rows without spectra: unchanged
        assert not torch.allclose(ref[[0, 2]], changed[[0, 2]], atol=1e-4)
    # averaging over what is present: photometry + metadata only equals the mean of those two
    clf = Classifier(SMALL, 3, fusion="average").eval()
    with torch.no_grad():
        emb = clf.backbone.encode(b)
        fused = clf.embed(b, present)
    expected = (emb["photometry"][1] + emb["metadata"][1]) / 2 * math.sqrt(SMALL.embed_dim)
    assert torch.allclose(fused[1], expected, atol=1e-5)


def test_classifier_from_pretrained_copies_encoders():
    torch.manual_seed(1)
    pre = AstroM3(SMALL)
    for inputs in ("all", "spectra"):
        torch.manual_seed(2)
        clf = Classifier.from_pretrained(pre.state_dict(), n_classes=4, cfg=SMALL, inputs=inputs)
        own = clf.backbone.state_dict()
        copied = [k for k in own if k.startswith("encoders.")]
        assert copied and all(torch.equal(own[k], pre.state_dict()[k]) for k in copied)
        assert not torch.equal(Classifier(SMALL, 4, inputs=inputs).backbone.state_dict()[copied[0]], own[copied[0]])
    with torch.no_grad():
        pre.eval()
        clf = Classifier.from_pretrained(pre, 4, inputs="metadata").eval()
        assert torch.allclose(clf.embed(batch()) / math.sqrt(SMALL.embed_dim), pre.encode(batch())["metadata"])
    with pytest.raises(KeyError, match="photometry"):
        Classifier.from_pretrained(AstroM3(SMALL, ("spectra", "metadata")), 4, inputs="photometry")
    with pytest.raises(ValueError, match="cfg"):
        Classifier.from_pretrained(pre.state_dict(), 4)
    with pytest.raises(ValueError, match="inputs"):
        Classifier(SMALL, 4, inputs="radio")
    with pytest.raises(ValueError, match="modalities"):
        AstroM3(SMALL, ("photometry", "photometry"))

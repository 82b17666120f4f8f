"""The astrom3 family: raw curves -> padded points + light-curve aux, training from scratch or from a CLIP encoder."""

import json

import numpy as np
import pytest
import torch

from lcml.config import FamilySearchParams, FeatureParams, PeriodParams
from lcml.errors import InputError
from lcml.families.astrom3 import AstroM3Family
from lcml.families.fitting import fitter
from lcml.models.astrom3 import AstroM3, AstroM3Config
from lcml.training.loop import Dataset

FEATURES = FeatureParams(fold_length=64, period=PeriodParams(min_period_days=0.05, max_period_days=15.0, oversample=5))
SEARCH = FamilySearchParams(n_trials=1, epochs=3, batch_size=32, patience=3, space={"lr": [1e-4, 1e-2, "log"]})
OPTIONS = {"stored_points": 128, "max_points": 96, "embed_dim": 32, "phot_dim": 32, "phot_layers": 1, "phot_ff": 64}
#: a pretrained encoder of other sizes than OPTIONS, so the fine-tuned config must come from it
ENCODER_CFG = AstroM3Config(embed_dim=16, max_points=64, phot_dim=16, phot_layers=1, phot_heads=2, phot_ff=32,
                            n_aux=2, spec_bins=64, spec_channels=(8, 8), n_metadata=4, meta_hidden=16)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def two_classes(n: int, seed: int):
    """Irregularly sampled curves: low-amplitude fast sinusoids (0) and large slow sawtooths (1)."""
    rng = np.random.default_rng(seed)
    curves, labels = [], []
    for i in range(n):
        t = 2_458_000.0 + np.sort(rng.uniform(0, 30, rng.integers(150, 250)))  # absolute JD, as surveys give
        if i % 2:
            period = rng.uniform(2, 5)
            shape = 0.4 * (((t - t[0]) / period + rng.uniform()) % 1.0 - 0.5)
        else:
            shape = 0.05 * np.sin(2 * np.pi * (t - t[0]) / rng.uniform(0.2, 0.5) + rng.uniform(0, 6.3))
        flux = 100.0 * (1 + shape + 0.005 * rng.standard_normal(len(t)))
        curves.append((t, flux, np.full(len(t), 0.5)))
        labels.append(i % 2)
    return curves, np.array(labels, np.int64)


@pytest.fixture(scope="module")
def split():
    fam = AstroM3Family()
    curves, y = two_classes(96, seed=0)
    x, aux = fam.inputs(curves, FEATURES, OPTIONS)
    return (Dataset(folded=x[:64], aux=aux[:64], y=y[:64]), Dataset(folded=x[64:], aux=aux[64:], y=y[64:]))


@pytest.fixture(scope="module")
def scratch(split):
    seen = []
    search = SEARCH.model_copy(update={"epochs": 8, "patience": 8})
    fitted = fitter("astrom3").fit({"lr": 3e-3, "dropout": 0.1}, *split, search=search, n_classes=2, seed=0,
                                 options=OPTIONS, report=lambda e, m: seen.append((e, m)))
    return fitted, seen


def test_inputs_are_padded_cleaned_points_and_light_curve_aux():
    from lcml.data.simulate.lightcurves import simulate_kepler

    frame = simulate_kepler(6, seed=1, duration_days=30).lightcurves.to_pandas()  # ~1400 points each
    curves = list(zip(frame["time"], frame["flux"], frame["flux_err"]))
    short_t = np.linspace(0, 10, 50)
    short_f = 1 + 0.1 * np.sin(short_t)
    short_f[3] = np.nan  # dropped by clean
    curves.append((short_t, 5 * short_f, None))
    x, aux = AstroM3Family().inputs(curves, FEATURES, {"stored_points": 200})
    assert x.shape == (7, 200, 3) and x.dtype == aux.dtype == np.float32 and aux.shape == (7, 2)
    assert np.isfinite(aux).all()
    assert np.isfinite(x[:6]).all()  # long curves: evenly subsampled to exactly P points
    t = np.asarray(frame["time"][0])
    assert x[0, 0, 0] == 0 and x[0, -1, 0] == pytest.approx(t.max() - t.min(), rel=1e-5)  # whole baseline
    assert np.all(np.diff(x[0, :, 0]) > 0)
    assert np.isfinite(x[6, :49]).all() and np.isnan(x[6, 49:]).all()  # 49 clean points, NaN padding
    assert np.nanmedian(x[6, :49, 1]) == pytest.approx(1.0)  # relative flux
    empty_x, empty_aux = AstroM3Family().inputs([], FEATURES, {})
    assert empty_x.shape == (0, 400, 3) and empty_aux.shape == (0, 2)


def test_scratch_fit_learns_two_separable_classes(scratch, split):
    fitted, seen = scratch
    assert [e for e, _ in seen] == list(range(len(seen))) and len(seen) == 8
    assert all(set(m) == {"val_balanced_accuracy", "train_loss"} for _, m in seen)
    assert fitted.best_score > 0.75
    assert fitted.best_score == max(m["val_balanced_accuracy"] for _, m in seen)
    assert seen[fitted.best_epoch][1]["val_balanced_accuracy"] == fitted.best_score
    arch = json.loads(json.dumps(fitted.architecture))  # JSON-able, as model.json stores it
    assert arch["config"]["phot_dim"] == 32 and arch["n_classes"] == 2 and arch["init"] == "scratch"
    assert np.allclose(arch["aux_mean"], split[0].aux.mean(0), atol=1e-5)


def test_save_and_load_give_the_same_probabilities(scratch, split, tmp_path):
    fam = AstroM3Family()
    fitted, _ = scratch
    val = split[1]
    proba = fam.predict_proba(fitted.model, val.folded, val.aux)
    assert proba.shape == (len(val), 2) and np.allclose(proba.sum(1), 1, atol=1e-5)
    path = tmp_path / fam.weights_file
    fam.save(fitted.model, path)
    again = fam.load(path, json.loads(json.dumps(fitted.architecture)))
    assert not again.training
    assert np.array_equal(fam.predict_proba(again, val.folded, val.aux), proba)
    assert fam.predict_proba(again, val.folded[:0], val.aux[:0]).shape == (0, 2)


def test_patience_stops_early_and_report_can_prune(split):
    class Pruned(Exception):
        pass

    seen = []
    fitted = fitter("astrom3").fit({"lr": 0.0}, *split, search=SEARCH.model_copy(update={"epochs": 5, "patience": 1}),
                                 n_classes=2, seed=0, options=OPTIONS, report=lambda e, m: seen.append(e))
    assert seen == [0, 1] and fitted.best_epoch == 0  # lr 0: epoch 1 cannot improve

    def prune(epoch, metrics):
        raise Pruned

    with pytest.raises(Pruned):
        fitter("astrom3").fit({"lr": 1e-3}, *split, search=SEARCH, n_classes=2, seed=0, options=OPTIONS, report=prune)


def write_encoder(folder, split):
    """One epoch of CLIP pretraining on photometry + metadata, saved as ``lcml.pipeline.pretrain`` logs it."""
    from safetensors.torch import save_file

    from lcml.models.astrom3 import Standardizer
    from lcml.training.clip import MultimodalData, pretrain

    train = split[0]
    aux = Standardizer.fit(train.aux.astype(float)).transform(train.aux.astype(float))
    meta = np.random.default_rng(0).standard_normal((len(train), ENCODER_CFG.n_metadata)).astype(np.float32)
    data = MultimodalData(lightcurves=[r[np.isfinite(r).all(1)] for r in train.folded], aux=aux, metadata=meta)
    torch.manual_seed(0)
    model = AstroM3(ENCODER_CFG, modalities=("photometry", "metadata"))
    pretrain(model, data, epochs=1, batch_size=32, seed=0, device="cpu")
    folder.mkdir(parents=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
              str(folder / "encoder.safetensors"))
    (folder / "encoder.json").write_text(json.dumps({"config": ENCODER_CFG.as_dict(),
                                                     "modalities": ["photometry", "metadata"]}))
    return model


def test_clip_init_starts_from_the_pretrained_photometry_encoder(split, tmp_path):
    folder = tmp_path / "encoder"
    encoder = write_encoder(folder, split)
    options = {**OPTIONS, "init": "clip", "encoder": str(folder)}
    # lr 0: AdamW neither steps nor decays, so the fitted encoder must be the pretrained one
    fitted = fitter("astrom3").fit({"lr": 0.0}, *split, search=SEARCH.model_copy(update={"epochs": 1}), n_classes=2,
                                 seed=0, options=options)
    assert AstroM3Config.from_dict(json.loads(json.dumps(fitted.architecture))["config"]) == ENCODER_CFG
    assert fitted.architecture["init"] == "clip"
    pretrained = encoder.encoders["photometry"].state_dict()
    tuned = fitted.model.backbone.encoders["photometry"].state_dict()
    assert pretrained.keys() == tuned.keys() and all(torch.equal(pretrained[k], tuned[k].cpu()) for k in pretrained)
    # and a real step moves it away
    moved = fitter("astrom3").fit({"lr": 1e-2}, *split, search=SEARCH.model_copy(update={"epochs": 1}), n_classes=2,
                                seed=0, options=options)
    assert not torch.equal(moved.model.backbone.encoders["photometry"].point.weight.cpu(),
                           pretrained["point.weight"])


def test_clip_encoder_from_an_mlflow_run(split, tmp_path, monkeypatch):
    import mlflow

    folder = tmp_path / "encoder"
    encoder = write_encoder(folder, split)
    before = mlflow.get_tracking_uri()
    # set_tracking_uri exports MLFLOW_TRACKING_URI, which lcml reads as the user's backend: monkeypatch
    # puts the variable back as it was for the tests that follow
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    mlflow.set_tracking_uri(uri)
    try:
        experiment = mlflow.create_experiment("clip-encoder", artifact_location=(tmp_path / "artifacts").as_uri())
        with mlflow.start_run(experiment_id=experiment) as run:
            mlflow.log_artifacts(str(folder), "encoder")
        model = AstroM3Family().build({"dropout": 0.1}, n_classes=3, x_shape=(128, 3), n_aux=2,
                                      options={"init": "clip", "encoder": f"runs:/{run.info.run_id}/encoder"})
    finally:
        mlflow.set_tracking_uri(before)
    assert model.n_classes == 3 and model.cfg == ENCODER_CFG
    assert torch.equal(model.backbone.encoders["photometry"].point.weight, encoder.encoders["photometry"].point.weight)


def test_missing_or_invalid_encoder_is_an_input_error(split, tmp_path):
    fam = fitter("astrom3")
    missing = tmp_path / "no-such-encoder"
    with pytest.raises(InputError, match="no-such-encoder"):
        fam.fit({"lr": 1e-3}, *split, search=SEARCH, n_classes=2, seed=0,
                options={"init": "clip", "encoder": str(missing)})
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "encoder.safetensors").write_bytes(b"not safetensors")
    (broken / "encoder.json").write_text(json.dumps({"config": ENCODER_CFG.as_dict(), "modalities": ["photometry"]}))
    with pytest.raises(InputError, match="broken"):
        fam.build({}, n_classes=2, x_shape=(128, 3), n_aux=2, options={"init": "clip", "encoder": str(broken)})
    with pytest.raises(InputError, match="options.encoder is required"):
        fam.build({}, n_classes=2, x_shape=(128, 3), n_aux=2, options={"init": "clip"})
    with pytest.raises(InputError, match="'scratch' or 'clip'"):
        fam.build({}, n_classes=2, x_shape=(128, 3), n_aux=2, options={"init": "imagenet"})


def test_family_aux_is_what_clip_pretraining_feeds_in_the_same_order():
    """A CLIP encoder's aux weights were trained on the study's columns: the family must feed the same."""
    import pandas as pd

    from lcml.training.multimodal import light_curve_aux

    curves, _ = two_classes(6, seed=3)
    _, aux = AstroM3Family().inputs(curves, FEATURES, OPTIONS)
    frame = pd.DataFrame({"time": [c[0] for c in curves], "flux": [c[1] for c in curves],
                          "flux_err": [c[2] for c in curves]})
    np.testing.assert_allclose(aux, light_curve_aux(frame, FEATURES), rtol=1e-6)
    assert aux[:, 0].std() > 0.2  # amplitudes of 0.05 vs 0.4: not two copies of one column


def test_model_saved_with_the_old_aux_order_standardises_in_its_own_order(scratch, split):
    fitted, _ = scratch
    arch = dict(fitted.architecture)
    old = {**arch, "aux": list(reversed(arch["aux"])), "aux_mean": list(reversed(arch["aux_mean"])),
           "aux_std": list(reversed(arch["aux_std"]))}
    now, before = AstroM3Family().from_architecture(arch), AstroM3Family().from_architecture(old)
    aux = split[1].aux
    np.testing.assert_allclose(before.standardise(aux)[:, ::-1], now.standardise(aux))
    with pytest.raises(InputError, match="trained on aux features"):
        AstroM3Family().from_architecture({**arch, "aux": ["log10_period", "ls_power"]})

"""Each model family on a small simulated release: inputs, one trained candidate, weights that round-trip."""

import collections

import numpy as np
import pytest

from lcml.config import load_params
from lcml.surveys import classes_for
from lcml.data.simulate.lightcurves import simulate_kepler
from lcml.families import FAMILIES, get_family
from lcml.families.fitting import fitter
from lcml.training.search import suggest_from_space
from lcml.training.loop import Dataset

CLASSES = list(classes_for("kepler"))


@pytest.fixture(scope="module")
def curves():
    sim = simulate_kepler(90, seed=3, duration_days=30)
    frame = sim.lightcurves.to_pandas()
    y = np.array([CLASSES.index(c) for c in frame["label"]])
    return list(zip(frame["time"], frame["flux"], frame["flux_err"])), y


@pytest.fixture(scope="module")
def params():
    return load_params(profile="ci")


def small(family: str, params):
    search = params.search.of(family) if family != "swin" else params.search.swin
    update = {"epochs": 3, "patience": 3}
    if family == "swin":  # a transformer from scratch on 60 stars needs a few more epochs to beat guessing
        update.update(epochs=6, patience=6, options={**search.options, "img_size": 32, "scales_max": 63})
    if family == "lc_text":  # full fine-tuning of the language model learns 60 stars in a few epochs; LoRA needs more
        update.update(epochs=4, patience=4, space={"lr": {"choices": [3e-4]}, "lora_rank": {"choices": [0]},
                                                   "bins": {"choices": [16]}})
    return search.model_copy(update=update)


@pytest.mark.parametrize("family", FAMILIES)
def test_family_trains_saves_and_loads_the_same_model(family, curves, params, tmp_path):
    import optuna

    fam = fitter(family)
    search = small(family, params)
    x, aux = fam.inputs(curves[0], params.features, search.options)
    assert len(x) == len(aux) == len(curves[0]) and np.isfinite(aux).all()
    # astrom3 keeps the raw points, NaN-padded to a fixed length; the others are dense
    assert np.isfinite(x).all() if family != "astrom3" else np.isfinite(x).all(axis=-1).sum(1).min() >= 100
    cut = 60
    train = Dataset(folded=x[:cut], aux=aux[:cut], y=curves[1][:cut])
    val = Dataset(folded=x[cut:], aux=aux[cut:], y=curves[1][cut:])
    trial = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0)).ask()
    hp = suggest_from_space(trial, search.space)
    seen = []
    fitted = fam.fit(hp, train, val, search=search, n_classes=len(CLASSES), seed=0, options=search.options,
                     report=lambda epoch, m: seen.append(m))
    assert seen and 0.0 <= fitted.best_score <= 1.0
    assert fitted.best_score > 1 / len(CLASSES)  # better than guessing on simulated stars
    proba = fam.predict_proba(fitted.model, val.folded, val.aux)
    assert proba.shape == (len(val), len(CLASSES)) and np.allclose(proba.sum(1), 1.0, atol=1e-5)
    path = tmp_path / fam.weights_file
    fam.save(fitted.model, path)
    again = fam.load(path, fitted.architecture)
    assert np.allclose(fam.predict_proba(again, val.folded, val.aux), proba, atol=1e-6)


def test_space_entries_sample_ints_floats_logs_steps_and_choices():
    import optuna

    space = {"a": [1, 3], "b": [0.1, 0.5], "c": [1e-5, 1e-1, "log"], "d": [32, 128, 16], "e": {"choices": ["x", "y"]}}
    values = [suggest_from_space(optuna.create_study().ask(), space) for _ in range(20)]
    assert all(isinstance(v["a"], int) and 1 <= v["a"] <= 3 for v in values)
    assert all(isinstance(v["b"], float) and 0.1 <= v["b"] <= 0.5 for v in values)
    assert all(1e-5 <= v["c"] <= 1e-1 for v in values)
    assert all(v["d"] % 16 == 0 for v in values)
    assert {v["e"] for v in values} <= {"x", "y"}


def test_bad_spaces_and_families_are_config_errors(tmp_path):
    from lcml.errors import ConfigError

    with pytest.raises(ConfigError, match="space.lr"):
        load_params(profile="ci", overrides={"search": {"conv_bilstm": {"space": {"lr": [0.1]}}}})
    with pytest.raises(ConfigError, match="unknown family 'xgb'"):
        load_params(profile="ci", overrides={"search": {"families": ["xgb"]}})
    with pytest.raises(ValueError, match="unknown model family"):
        get_family("xgb")


def test_baseline_models_saved_with_skops_still_load_trusting_only_the_tree_predictor(curves, params, tmp_path):
    """Before lcml.models.trees the baseline was saved with skops: such a file (also under its old name
    beside a member's new one) loads and scores the same; a skops file with other types is refused."""
    import skops.io as sio

    from lcml.families.baseline import LEGACY_WEIGHTS_FILE, TRUSTED_TYPES

    fam = fitter("baseline")
    x, aux = fam.inputs(curves[0][:40], params.features, {"n_jobs": 1})
    y = curves[1][:40]
    fitted = fam.fit({"max_iter": 20}, Dataset(x, aux, y), Dataset(x, aux, y), search=params.search.baseline,
                     n_classes=len(CLASSES), seed=0, options={})
    expected = fam.predict_proba(fitted.model, x, aux)
    legacy = tmp_path / f"baseline-{LEGACY_WEIGHTS_FILE}"
    sio.dump(fitted.model.model, legacy)
    assert set(sio.get_untrusted_types(file=legacy)) <= set(TRUSTED_TYPES)
    for path in (legacy, tmp_path / f"baseline-{fam.weights_file}"):  # the new name is not there: the old one is read
        loaded = fam.load(path, fitted.architecture)
        np.testing.assert_array_equal(fam.predict_proba(loaded, x, aux), expected)
    sio.dump({"model": fitted.model.model, "extra": collections.Counter(a=1)}, tmp_path / "other.skops")
    with pytest.raises(ValueError, match="refusing to load unexpected types"):
        fam.load(tmp_path / "other.skops", {"n_classes": len(CLASSES)})
    (tmp_path / "junk.npz").write_bytes(b"not an archive")
    with pytest.raises(ValueError, match="not a saved lcml tree model"):
        fam.load(tmp_path / "junk.npz", {"n_classes": len(CLASSES)})


def test_baseline_model_from_before_appended_features_still_scores(curves, params):
    """A model fitted on the leading feature columns (an older lcml) reads only those columns;
    one that expects more columns than lcml computes is refused with an explanation."""
    from lcml.features.baseline import FEATURE_NAMES

    fam = fitter("baseline")
    x, aux = fam.inputs(curves[0][:40], params.features, {"n_jobs": 1})
    y = curves[1][:40]
    assert x.shape[1] == len(FEATURE_NAMES)
    old = x[:, :34]
    fitted = fam.fit({"max_iter": 20}, Dataset(old, aux, y), Dataset(old, aux, y), search=params.search.baseline,
                     n_classes=len(CLASSES), seed=0, options={})
    np.testing.assert_allclose(fam.predict_proba(fitted.model, x, aux), fam.predict_proba(fitted.model, old, aux))
    with pytest.raises(ValueError, match="expects 34 features but lcml computes 20"):
        fam.predict_proba(fitted.model, x[:, :20], aux)


def test_baseline_refit_uses_train_and_validation_and_deep_families_refuse(curves, params):
    from lcml.training.search import refit_on_train_and_val

    fam = fitter("baseline")
    search = params.search.baseline
    x, aux = fam.inputs(curves[0], params.features, {"n_jobs": 1})
    y = curves[1]
    train, val = Dataset(x[:60], aux[:60], y[:60]), Dataset(x[60:], aux[60:], y[60:])
    hp = {"max_iter": 30, "learning_rate": 0.1}
    refitted = refit_on_train_and_val(train, val, hp=hp, n_classes=len(CLASSES), params=search, seed=1,
                                      family=fitter("baseline"))
    direct = fam.fit(hp, Dataset(x, aux, y), Dataset(x[:0], aux[:0], y[:0]), search=search,
                     n_classes=len(CLASSES), seed=1, options={}).model
    only_train = fam.fit(hp, train, val, search=search, n_classes=len(CLASSES), seed=1, options={}).model
    proba = fam.predict_proba(refitted, x, aux)
    assert np.allclose(proba, fam.predict_proba(direct, x, aux))
    assert not np.allclose(proba, fam.predict_proba(only_train, x, aux))  # the validation stars were learnt
    with pytest.raises(ValueError, match="conv_bilstm stops early on its validation split"):
        refit_on_train_and_val(train, val, hp=hp, n_classes=len(CLASSES), params=params.search.conv_bilstm,
                               seed=1, family=fitter("conv_bilstm"))


def test_baseline_features_are_cached_inside_a_training(curves, params, tmp_path):
    """The refit reads the search workers' feature matrices instead of searching every period again."""
    from lcml.features.extract import feature_cache, featurize_many

    fam = fitter("baseline")
    some = curves[0][:12]
    plain, _ = fam.inputs(some, params.features, {"n_jobs": 1})
    with feature_cache(tmp_path):
        first, _ = fam.inputs(some, params.features, {"n_jobs": 1})
        stored = sorted(tmp_path.glob("*.npz"))
        again, _ = fam.inputs(some, params.features, {"n_jobs": 1})
        featurize_many(some, params.features)  # another family's features of the same curves: its own entry
    assert len(stored) == 1 and len(list(tmp_path.glob("*.npz"))) == 2
    assert np.array_equal(first, plain) and np.array_equal(again, plain)
    # what the cache holds is what is served: overwrite it and the next read returns it
    np.savez(stored[0], x=np.zeros_like(plain, dtype=np.float64))
    with feature_cache(tmp_path):
        assert not fam.inputs(some, params.features, {"n_jobs": 1})[0].any()


def test_baseline_stops_early_unless_the_held_out_slice_cannot_hold_every_class(curves, params):
    from lcml.families.fitting import _early_stopping

    fam = fitter("baseline")
    x, aux = fam.inputs(curves[0], params.features, {"n_jobs": 1})
    y = curves[1]
    hp = {"max_iter": 200, "learning_rate": 0.3}
    fitted = fam.fit(hp, Dataset(x, aux, y), Dataset(x[:0], aux[:0], y[:0]), search=params.search.baseline,
                     n_classes=len(CLASSES), seed=0, options={"early_stopping": True})
    assert fitted.architecture["early_stopping"] and fitted.model.model.do_early_stopping_
    assert fitted.model.model.n_iter_ < 200  # stopped on the held-out slice
    off = fam.fit(hp, Dataset(x, aux, y), Dataset(x[:0], aux[:0], y[:0]), search=params.search.baseline,
                  n_classes=len(CLASSES), seed=0, options={"early_stopping": False})
    assert not off.architecture["early_stopping"] and off.model.model.n_iter_ == 200
    # a class with one star cannot be split off in a stratified slice: train without, do not fail
    y_one = y.copy()
    y_one[y_one == y_one[0]] = y_one[1] if y_one[1] != y_one[0] else y_one[2]
    y_one[0] = y[0]  # exactly one star of y[0]'s class
    assert (y_one == y[0]).sum() == 1 and not _early_stopping(y_one, True)
    fitted = fam.fit(hp, Dataset(x, aux, y_one), Dataset(x[:0], aux[:0], y[:0]), search=params.search.baseline,
                     n_classes=len(CLASSES), seed=0, options={"early_stopping": True})
    assert not fitted.architecture["early_stopping"]
    assert not _early_stopping(np.array([0, 0, 1, 1, 2, 2]), True)  # 10% of 6 stars cannot hold 3 classes
    assert _early_stopping(np.repeat([0, 1, 2], 10), True) and not _early_stopping(np.repeat([0, 1, 2], 10), False)


def test_balanced_bagging_gives_every_class_the_same_weight_and_round_trips(curves, params, tmp_path):
    """``options.bags``: members each see ``per_class`` stars of every class; saved and loaded like the baseline."""
    from lcml.models.balanced import BalancedBagging

    fam = fitter("baseline")
    x, aux = fam.inputs(curves[0], params.features, {"n_jobs": 1})
    y = curves[1]
    options = {**params.search.baseline.options, "bags": 4}
    fitted = fam.fit({"max_iter": 20, "per_class": 7}, Dataset(x[:60], aux[:60], y[:60]),
                     Dataset(x[60:], aux[60:], y[60:]), search=params.search.baseline, n_classes=len(CLASSES),
                     seed=0, options=options)
    bag = fitted.model.model
    assert isinstance(bag, BalancedBagging) and len(bag.estimators_) == 4
    assert fitted.architecture == {"n_classes": len(CLASSES), "bags": 4, "per_class": 7}
    for member in bag.estimators_:  # every member knows every class of the training split
        assert member.n_iter_ <= 20 and list(member.classes_) == list(bag.classes_)
    assert fitted.best_score > 1 / len(CLASSES)
    path = tmp_path / fam.weights_file
    fam.save(fitted.model, path)
    again = fam.load(path, fitted.architecture)
    assert np.allclose(fam.predict_proba(again, x[60:], aux[60:]), fam.predict_proba(fitted.model, x[60:], aux[60:]))
    # members fitted in 2 processes: the same draws and seeds, so the same model
    parallel = fam.fit({"max_iter": 20, "per_class": 7}, Dataset(x[:60], aux[:60], y[:60]),
                       Dataset(x[60:], aux[60:], y[60:]), search=params.search.baseline, n_classes=len(CLASSES),
                       seed=0, options={**options, "n_jobs": 2})
    assert parallel.model.model.n_jobs == 2 and bag.n_jobs == options.get("n_jobs", 1)
    assert np.array_equal(fam.predict_proba(parallel.model, x[60:], aux[60:]),
                          fam.predict_proba(fitted.model, x[60:], aux[60:]))


def test_fusion_folds_each_curve_at_the_features_period_and_twice_it(curves, params):
    """Its inputs are the baseline's feature matrix (one cache entry for both) and two folds per curve."""
    from lcml.features.baseline import FEATURE_NAMES, clean_light_curve
    from lcml.features.fold import fold_resample

    some = curves[0][:6]
    x, aux = fitter("fusion").inputs(some, params.features, {"n_jobs": 1, "fold_bins": 32})
    features, _ = fitter("baseline").inputs(some, params.features, {"n_jobs": 1})
    assert x.shape == (6, 2, 32) and np.array_equal(aux, features)
    period = 10 ** float(features[2, FEATURE_NAMES.index("log10_period")])
    t, f, _ = clean_light_curve(*some[2])
    assert np.allclose(x[2, 0], fold_resample(t, f, period, 32))
    assert np.allclose(x[2, 1], fold_resample(t, f, 2 * period, 32))
    assert not np.allclose(x[2, 0], x[2, 1])
    # a pre-folded curve (K2SC) has one cycle of unknown period: both channels hold that cycle
    folded_params = params.features.model_copy(update={"folded": True})
    phase = np.linspace(0, 1, 64, endpoint=False)
    one = [(phase, 1 + 0.1 * np.sin(2 * np.pi * phase), np.full(64, 0.01))]
    xf, _ = fitter("fusion").inputs(one, folded_params, {"fold_bins": 32})
    assert np.array_equal(xf[0, 0], xf[0, 1])


def test_fusion_network_bounds_odd_features_and_shifts_phase_only_while_training():
    import torch

    from lcml.models.fusion import FusionConfig, FusionNet

    torch.manual_seed(0)
    aux = torch.randn(50, 4)
    aux[:, 3] = aux[:, 3] * 1000 + 5000  # a heavy-tailed count (n_points)
    folded = torch.randn(5, 2, 16)
    outputs = {}
    for shift in (True, False):
        net = FusionNet(FusionConfig(n_classes=3, n_aux=4, fold_length=16, dropout=0.0, phase_shift=shift))
        net.set_aux_stats(aux)
        assert abs(float(net.aux_mean[3]) - float(torch.quantile(aux[:, 3], 0.5))) < 1e-2
        net.eval()
        odd = aux[:5].clone()
        odd[0, 3] = 1e12  # clipped to 5 scales: finite logits
        assert torch.isfinite(net(folded, odd)).all()
        assert torch.equal(net(folded, aux[:5]), net(folded, aux[:5]))  # scoring is deterministic
        net.train()  # no dropout here: two training passes differ only by the random phase shifts
        outputs[shift] = [net(folded, aux[:5]) for _ in range(2)]
    assert not torch.allclose(*outputs[True])
    assert torch.allclose(*outputs[False])


def test_vote_refits_without_a_validation_split_and_scores_nothing_as_nothing(curves, params):
    """Family voting refits like the baseline: an empty validation split is fine, and so is an empty batch."""
    fam = fitter("voting")
    search = small("voting", params)
    x, aux = fam.inputs(curves[0][:40], params.features, search.options)
    train = Dataset(folded=x, aux=aux, y=curves[1][:40])
    empty = Dataset(folded=x[:0], aux=aux[:0], y=curves[1][:0])
    fitted = fam.fit({}, train, empty, search=search, n_classes=len(CLASSES), seed=0, options=search.options)
    assert fitted.best_score == 0.0 and [m["family"] for m in fitted.architecture["members"]] == ["baseline", "fusion"]
    assert fam.predict_proba(fitted.model, x[:0], aux[:0]).shape == (0, len(CLASSES))
    assert fam.predict_proba(fitted.model, x[:5], aux[:5]).shape == (5, len(CLASSES))

import numpy as np
import pytest
import torch

from lcml.models.conv_bilstm import ConvBiLSTM, ConvBiLSTMConfig
from lcml.training.loop import Dataset, class_weights, pick_device, predict_proba, seed_everything, train_model


def toy(n, seed):
    """Two classes told apart by shape (sine vs. dip) and an auxiliary feature."""
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 1, 32)
    y = rng.integers(0, 2, n)
    folded = np.where(y[:, None] == 0, np.sin(2 * np.pi * x), -np.exp(-((x - 0.5) / 0.05) ** 2))
    folded = (folded + 0.1 * rng.normal(size=folded.shape)).astype(np.float32)
    aux = (y[:, None] + 0.1 * rng.normal(size=(n, 3))).astype(np.float32)
    return Dataset(folded=folded, aux=aux, y=y.astype(np.int64))


def test_device_follows_cuda_availability():
    assert pick_device().type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_class_weights_favour_rare_classes():
    w = class_weights(np.array([0, 0, 0, 0, 1, 2]), 4)
    assert w[1] == w[2] > w[0] and w[3] == 0


def test_training_learns_and_stops_early():
    cfg = ConvBiLSTMConfig(n_classes=2, n_aux=3, fold_length=32, n_layers=1, filters=8, lstm_hidden=16, fc=8)
    seen = []
    seed_everything(0)  # the initial weights, not whatever earlier tests left in the global RNG
    result = train_model(ConvBiLSTM(cfg), toy(200, 0), toy(60, 1), epochs=30, lr=3e-3, batch_size=32,
                         patience=2, seed=0, on_epoch=lambda e, m: seen.append(m))
    assert result.best_score > 0.9
    assert len(seen) == len(result.history) < 30  # early stopping ended it
    assert result.best_epoch == max(range(len(seen)), key=lambda i: seen[i]["val_balanced_accuracy"])


def test_same_seed_same_model():
    cfg = ConvBiLSTMConfig(n_classes=2, n_aux=3, fold_length=32, n_layers=1, filters=8, lstm_hidden=16, fc=8)
    probs = []
    for _ in range(2):
        torch.manual_seed(5)
        model = ConvBiLSTM(cfg)
        train_model(model, toy(64, 0), toy(32, 1), epochs=2, lr=1e-3, batch_size=16, patience=5, seed=3)
        probs.append(predict_proba(model, toy(16, 2).folded, toy(16, 2).aux))
    assert np.array_equal(probs[0], probs[1])


class Crash(Exception):
    """Stands for a worker killed after an epoch's checkpoint was written."""


@pytest.mark.parametrize("workers", [0, 2])
def test_interrupted_training_resumes_to_the_same_weights(tmp_path, workers):
    # dropout 0.3 (the default): its draws must continue exactly where the crashed run stopped
    cfg = ConvBiLSTMConfig(n_classes=2, n_aux=3, fold_length=32, n_layers=1, filters=8, lstm_hidden=16, fc=8)
    assert cfg.dropout > 0
    kwargs = dict(epochs=5, lr=3e-3, batch_size=16, patience=10, seed=3, loader_workers=workers)
    train, val = toy(80, 0), toy(32, 1)

    torch.manual_seed(5)
    whole = ConvBiLSTM(cfg)
    full = train_model(whole, train, val, **kwargs)

    def crash_after_epoch_two(epoch, metrics):
        if epoch == 2:
            raise Crash

    state = tmp_path / "trial-0-state.pt"
    torch.manual_seed(5)
    with pytest.raises(Crash):
        train_model(ConvBiLSTM(cfg), train, val, checkpoint=state, on_epoch=crash_after_epoch_two, **kwargs)
    assert state.is_file()

    torch.manual_seed(99)  # a fresh process: other initial weights, other global RNG
    replayed = []
    resumed_model = ConvBiLSTM(cfg)
    resumed = train_model(resumed_model, train, val, checkpoint=tmp_path / "trial-1-state.pt", resume_from=state,
                          on_epoch=lambda e, m: replayed.append(e), **kwargs)
    assert replayed == [0, 1, 2, 3, 4]  # epochs 0-2 replayed from the checkpoint, 3-4 trained
    assert [h["val_balanced_accuracy"] for h in resumed.history] == [h["val_balanced_accuracy"] for h in full.history]
    for key, value in whole.state_dict().items():
        assert torch.equal(value, resumed_model.state_dict()[key]), key
    assert not (tmp_path / "trial-1-state.pt").exists()  # a finished training leaves no state behind


def test_search_plots_history_and_parameter_importance(tmp_path):
    import json

    import optuna

    from lcml.training.study import save_optuna_plots

    storage = f"sqlite:///{tmp_path}/optuna.db"
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize",
                                sampler=optuna.samplers.RandomSampler(seed=0))
    # the score depends on x only: its importance must dominate y's
    study.optimize(lambda t: -((t.suggest_float("x", -3, 3) - 1) ** 2) + 0 * t.suggest_float("y", -3, 3), n_trials=12)
    files = {p.name: p for p in save_optuna_plots("s", storage, tmp_path / "plots")}
    assert {"optuna_history.png", "param_importance.png", "param_importance.json"} <= set(files)
    importance = json.loads(files["param_importance.json"].read_text())
    assert importance["x"] > importance["y"]

    few = optuna.create_study(study_name="few", storage=storage, direction="maximize")
    few.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    assert [p.name for p in save_optuna_plots("few", storage, tmp_path / "few")] == ["optuna_history.png"]

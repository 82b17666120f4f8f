"""Optuna "AutoDL" search for the Conv+BiLSTM family; each trial is a nested MLflow run."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lcml.config import FamilySearchParams
from lcml.models.conv_bilstm import ConvBiLSTM, ConvBiLSTMConfig
from lcml.training.loop import Dataset, TrainResult, seed_everything, train_model

FAMILY = "conv_bilstm"


@dataclass
class SearchResult:
    study_name: str
    n_trials: int
    n_pruned: int
    n_complete: int
    best_trial: int
    best_value: float
    best_params: dict
    config: ConvBiLSTMConfig
    model: ConvBiLSTM
    result: TrainResult


def make_pruner(name: str):
    import optuna

    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=3)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner()
    if name == "none":
        return optuna.pruners.NopPruner()
    raise ValueError(f"unknown pruner {name!r} (median, hyperband, none)")


def suggest_config(trial, space, *, n_classes: int, n_aux: int, fold_length: int) -> tuple[ConvBiLSTMConfig, float]:
    """Sample the StarWhisper space: conv layers, filters, dropout, and a log-uniform learning rate."""
    cfg = ConvBiLSTMConfig(
        n_classes=n_classes,
        n_aux=n_aux,
        fold_length=fold_length,
        n_layers=trial.suggest_int("n_layers", *space.n_layers),
        filters=trial.suggest_int("filters", *space.filters, step=16),
        dropout=trial.suggest_float("dropout", *space.dropout),
    )
    lr = trial.suggest_float("lr", *space.lr, log=True)
    return cfg, lr


def run_search(
    train: Dataset,
    val: Dataset,
    *,
    n_classes: int,
    params: FamilySearchParams,
    study_name: str,
    storage: str,
) -> SearchResult:
    """Run the study; must be called inside an active MLflow (parent) run.

    Each trial logs its parameters and per-epoch validation metrics to a nested MLflow run and
    reports to Optuna, whose pruner may stop it early. Returns the best trial's trained model.
    """
    import mlflow
    import optuna

    optuna.logging.set_verbosity(logging.WARNING)
    study = optuna.create_study(
        study_name=study_name,
        storage=storage,
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=params.seed),
        pruner=make_pruner(params.pruner),
        load_if_exists=True,
    )
    fold_length = train.folded.shape[1]
    n_aux = train.aux.shape[1]
    models: dict[int, tuple[ConvBiLSTMConfig, ConvBiLSTM, TrainResult]] = {}

    def objective(trial: optuna.Trial) -> float:
        cfg, lr = suggest_config(trial, params.space, n_classes=n_classes, n_aux=n_aux, fold_length=fold_length)
        with mlflow.start_run(run_name=f"trial-{trial.number}", nested=True):
            mlflow.log_params({**trial.params, "trial": trial.number, "family": FAMILY})

            def report(epoch: int, metrics: dict) -> None:
                mlflow.log_metrics(metrics, step=epoch)
                trial.report(metrics["val_balanced_accuracy"], epoch)
                if trial.should_prune():
                    mlflow.set_tag("state", "pruned")
                    raise optuna.TrialPruned(f"pruned at epoch {epoch}")

            seed = params.seed + trial.number
            seed_everything(seed)  # weight initialisation is part of what must be reproducible
            model = ConvBiLSTM(cfg)
            result = train_model(
                model, train, val,
                epochs=params.epochs, lr=lr, batch_size=params.batch_size, patience=params.patience,
                seed=seed, weighted=params.class_weighted, on_epoch=report,
            )
            mlflow.log_metrics({"best_val_balanced_accuracy": result.best_score, "best_epoch": result.best_epoch})
            mlflow.set_tag("state", "complete")
        models[trial.number] = (cfg, model.cpu(), result)
        # keep memory flat: only the best model so far is retained
        best_so_far = max(models, key=lambda n: models[n][2].best_score)
        for n in [n for n in models if n != best_so_far]:
            del models[n]
        return result.best_score

    study.optimize(objective, n_trials=params.n_trials, gc_after_trial=True)
    n_pruned = sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials)
    n_complete = sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    if not models:
        raise RuntimeError(f"study {study_name}: no trial completed ({n_pruned} pruned)")
    best_number = next(iter(models))
    cfg, model, result = models[best_number]
    return SearchResult(
        study_name=study_name,
        n_trials=len(study.trials),
        n_pruned=n_pruned,
        n_complete=n_complete,
        best_trial=best_number,
        best_value=result.best_score,
        best_params=study.trials[best_number].params,
        config=cfg,
        model=model,
        result=result,
    )


def save_optuna_plots(study_name: str, storage: str, folder: Path) -> list[Path]:
    """Optimisation history as an image (logged to MLflow by the caller)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna

    study = optuna.load_study(study_name=study_name, storage=storage)
    values = [t.value for t in study.trials if t.value is not None]
    if not values:
        return []
    folder.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(values, "o", label="trial")
    ax.plot(np.maximum.accumulate(values), "-", label="best so far")
    ax.set_xlabel("completed trial")
    ax.set_ylabel("val balanced accuracy")
    ax.legend()
    fig.tight_layout()
    path = folder / "optuna_history.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return [path]

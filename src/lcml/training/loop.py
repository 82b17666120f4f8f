"""Training loop: device choice, bf16 autocast on CUDA, class-weighted loss, early stopping on
validation balanced accuracy, and a checkpoint every epoch that a restarted trial resumes from."""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import balanced_accuracy_score
from torch import nn

from lcml.models.runtime import autocast, pick_device, predict_proba, seed_everything  # noqa: F401 - used and re-exported


@dataclass
class Dataset:
    """Features and integer labels of one split."""

    folded: np.ndarray  # (N, L) float32
    aux: np.ndarray     # (N, A) float32
    y: np.ndarray       # (N,) int64

    def __len__(self) -> int:
        return len(self.y)


@dataclass
class TrainResult:
    state_dict: dict
    best_epoch: int
    best_score: float
    history: list[dict] = field(default_factory=list)


def class_weights(y: np.ndarray, n_classes: int) -> torch.Tensor:
    """Inverse-frequency weights, so rare classes (T2CEP) count as much as common ones."""
    counts = np.bincount(y, minlength=n_classes).astype(float)
    weights = np.where(counts > 0, counts.sum() / (n_classes * np.maximum(counts, 1)), 0.0)
    return torch.tensor(weights, dtype=torch.float32)


def _save_state(path: Path, state: dict) -> None:
    partial = path.with_name(path.name + f".{os.getpid()}.tmp")
    torch.save(state, partial)
    os.replace(partial, path)  # a crash mid-write leaves the previous epoch's state intact


def _resume(path: Path, model: nn.Module, optimiser, generator: torch.Generator, device: torch.device,
            on_epoch: Callable[[int, dict], None] | None) -> tuple[TrainResult, int, int]:
    """Model, optimiser, shuffling and dropout RNG as the interrupted trial left them; ``(best, stale, first epoch)``."""
    state = torch.load(path, map_location=device, weights_only=True)
    model.load_state_dict(state["model"])
    optimiser.load_state_dict(state["optimiser"])
    generator.set_state(state["generator"].cpu())
    torch.set_rng_state(state["torch_rng"].cpu())  # dropout draws continue as if never stopped
    if device.type == "cuda" and "cuda_rng" in state:
        torch.cuda.set_rng_state(state["cuda_rng"].cpu(), device)
    best = TrainResult(state_dict=state["best_state_dict"], best_epoch=int(state["best_epoch"]),
                       best_score=float(state["best_score"]), history=list(state["history"]))
    if on_epoch is not None:
        for entry in best.history:  # the new trial's record starts where the old one stopped
            on_epoch(int(entry["epoch"]), {k: v for k, v in entry.items() if k != "epoch"})
    return best, int(state["stale"]), int(state["epoch"]) + 1


def _train_epoch(model: nn.Module, loader, optimiser, loss_fn, device: torch.device) -> float:
    """One pass over the training batches; the summed loss."""
    model.train()
    total = 0.0
    for x, a, y in loader:
        if len(y) < 2:  # BatchNorm needs two samples
            continue
        x, a, y = x.to(device, non_blocking=True), a.to(device, non_blocking=True), y.to(device, non_blocking=True)
        optimiser.zero_grad(set_to_none=True)
        with autocast(device):
            logits = model(x, a)
        loss = loss_fn(logits.float(), y)
        if not torch.isfinite(loss):
            break  # diverged (e.g. lr at the top of the search range); the epoch scores as is
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimiser.step()
        total += loss.item() * len(y)
    return total


def _training_state(model: nn.Module, optimiser, generator: torch.Generator, best: TrainResult, stale: int,
                    epoch: int, device: torch.device) -> dict:
    """Everything a restarted trial needs to continue exactly after ``epoch``."""
    return {
        "model": model.state_dict(), "optimiser": optimiser.state_dict(), "generator": generator.get_state(),
        "best_state_dict": best.state_dict, "best_epoch": best.best_epoch, "best_score": best.best_score,
        "history": best.history, "stale": stale, "epoch": epoch, "torch_rng": torch.get_rng_state(),
        **({"cuda_rng": torch.cuda.get_rng_state(device)} if device.type == "cuda" else {}),
    }


def train_model(
    model: nn.Module,
    train: Dataset,
    val: Dataset,
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    patience: int,
    seed: int,
    weighted: bool = True,
    on_epoch: Callable[[int, dict], None] | None = None,
    loader_workers: int = 0,
    checkpoint: Path | None = None,
    resume_from: Path | None = None,
) -> TrainResult:
    """Train with Adam; keep the weights of the best validation epoch.

    ``on_epoch(epoch, metrics)`` is called after every epoch (Optuna reports and prunes there,
    MLflow logs there); an exception it raises stops training. ``loader_workers`` processes feed the
    batches (0: this process, best for in-memory CPU training). With ``checkpoint``, the whole training
    state (weights, optimiser, best epoch, shuffling RNG) is written there after every epoch and the
    file removed at the end; ``resume_from`` (such a file of an interrupted run) continues after its
    last epoch, replaying its history through ``on_epoch``, and ends with the same weights as an
    uninterrupted run.
    """
    from torch.utils.data import DataLoader, TensorDataset

    seed_everything(seed)
    device = pick_device()
    model.to(device)
    n_classes = model.cfg.n_classes
    if hasattr(model, "set_aux_stats"):
        model.set_aux_stats(torch.as_tensor(train.aux, device=device))
    weight = class_weights(train.y, n_classes).to(device) if weighted else None
    loss_fn = nn.CrossEntropyLoss(weight=weight)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    loader = DataLoader(
        TensorDataset(torch.as_tensor(train.folded), torch.as_tensor(train.aux), torch.as_tensor(train.y)),
        batch_size=batch_size, shuffle=True, generator=generator, num_workers=loader_workers,
        pin_memory=device.type == "cuda",  # not persistent: a resumed run must draw worker seeds alike
    )

    best = TrainResult(state_dict=copy.deepcopy(model.state_dict()), best_epoch=-1, best_score=-1.0)
    stale, start = 0, 0
    if resume_from is not None and Path(resume_from).is_file():
        best, stale, start = _resume(Path(resume_from), model, optimiser, generator, device, on_epoch)
    for epoch in range(start, epochs):
        if stale >= patience:
            break
        total = _train_epoch(model, loader, optimiser, loss_fn, device)
        proba = predict_proba(model, val.folded, val.aux)
        score = float(balanced_accuracy_score(val.y, proba.argmax(1))) if len(val) else 0.0
        metrics = {"train_loss": total / max(len(train), 1), "val_balanced_accuracy": score}
        best.history.append({"epoch": epoch, **metrics})
        if score > best.best_score:
            best.state_dict = copy.deepcopy(model.state_dict())
            best.best_epoch, best.best_score, stale = epoch, score, 0
        else:
            stale += 1
        if checkpoint is not None:
            _save_state(Path(checkpoint), _training_state(model, optimiser, generator, best, stale, epoch, device))
        if on_epoch is not None:
            on_epoch(epoch, metrics)
    model.load_state_dict(best.state_dict)
    if checkpoint is not None:
        Path(checkpoint).unlink(missing_ok=True)
    return best

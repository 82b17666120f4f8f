"""Training loop: device choice, class-weighted loss, early stopping on validation balanced accuracy."""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from sklearn.metrics import balanced_accuracy_score
from torch import nn


def pick_device() -> torch.device:
    """CUDA when present, else CPU (every code path runs on both)."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


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


@torch.no_grad()
def predict_proba(model: nn.Module, folded: np.ndarray, aux: np.ndarray, batch_size: int = 256) -> np.ndarray:
    device = next(model.parameters()).device
    model.eval()
    out = []
    for i in range(0, len(folded), batch_size):
        x = torch.as_tensor(folded[i : i + batch_size], device=device)
        a = torch.as_tensor(aux[i : i + batch_size], device=device)
        out.append(torch.softmax(model(x, a).float(), dim=1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


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
) -> TrainResult:
    """Train with Adam; keep the weights of the best validation epoch.

    ``on_epoch(epoch, metrics)`` is called after every epoch (Optuna reports and prunes there,
    MLflow logs there); an exception it raises stops training.
    """
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
    x_all = torch.as_tensor(train.folded)
    a_all = torch.as_tensor(train.aux)
    y_all = torch.as_tensor(train.y)

    best = TrainResult(state_dict=copy.deepcopy(model.state_dict()), best_epoch=-1, best_score=-1.0)
    stale = 0
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(train), generator=generator)
        total = 0.0
        for i in range(0, len(order), batch_size):
            idx = order[i : i + batch_size]
            if len(idx) < 2:  # BatchNorm needs two samples
                continue
            x, a, y = x_all[idx].to(device), a_all[idx].to(device), y_all[idx].to(device)
            optimiser.zero_grad(set_to_none=True)
            loss = loss_fn(model(x, a), y)
            if not torch.isfinite(loss):
                break  # diverged (e.g. lr at the top of the search range); the epoch scores as is
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimiser.step()
            total += loss.item() * len(idx)
        proba = predict_proba(model, val.folded, val.aux)
        score = float(balanced_accuracy_score(val.y, proba.argmax(1))) if len(val) else 0.0
        metrics = {"train_loss": total / max(len(train), 1), "val_balanced_accuracy": score}
        best.history.append({"epoch": epoch, **metrics})
        if score > best.best_score:
            best.state_dict = copy.deepcopy(model.state_dict())
            best.best_epoch, best.best_score, stale = epoch, score, 0
        else:
            stale += 1
        if on_epoch is not None:
            on_epoch(epoch, metrics)
        if stale >= patience:
            break
    model.load_state_dict(best.state_dict)
    return best

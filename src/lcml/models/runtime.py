"""Where and how torch models run: device choice, bf16 autocast on CUDA, seeding, batched inference.

Shared by training (:mod:`lcml.training`) and serving (:mod:`lcml.serving`), so serving never imports
the training code to score.
"""

from __future__ import annotations

import random

import numpy as np
import torch
from torch import nn


def pick_device() -> torch.device:
    """CUDA when present, else CPU (every code path runs on both)."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def autocast(device: torch.device):
    """bf16 autocast on GPUs only: on a CPU it is slower than float32 here and changes results."""
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@torch.no_grad()
def predict_proba(model: nn.Module, folded: np.ndarray, aux: np.ndarray, batch_size: int = 256) -> np.ndarray:
    device = next(model.parameters()).device
    model.eval()
    out = []
    for i in range(0, len(folded), batch_size):
        x = torch.as_tensor(folded[i : i + batch_size], device=device)
        a = torch.as_tensor(aux[i : i + batch_size], device=device)
        with autocast(device):
            logits = model(x, a)
        out.append(torch.softmax(logits.float(), dim=1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)

"""Contrastive (CLIP) pre-training of AstroM3 and fine-tuning of its classifiers.

:func:`clip_loss` is the symmetric InfoNCE loss of CLIP applied to every pair of modalities, with
objects that lack a modality left out of that modality's pairs. :class:`MultimodalData` holds one
split in memory (ragged light curves, gridded spectra, standardised metadata, presence masks, optional
labels) and cuts batches for :func:`pretrain` and :func:`finetune`. Both loops run on CUDA when present
(bf16 autocast there, float32 on CPU) and return a per-epoch history.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Callable, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import balanced_accuracy_score
from torch import nn

from lcml.models.astrom3 import AstroM3, Classifier
from lcml.models.multimodal import MultimodalData, predict_proba  # noqa: F401 - re-exported for the loops' callers
from lcml.models.runtime import autocast, pick_device, seed_everything
from lcml.training.loop import class_weights

REDUCTIONS = ("sum", "mean")


# --------------------------------------------------------------------------------------------------
# loss
# --------------------------------------------------------------------------------------------------

def _scale(logit_scale: torch.Tensor | float, max_scale: float, device: torch.device) -> torch.Tensor:
    log_scale = torch.as_tensor(logit_scale, dtype=torch.float32, device=device)
    # clamping the log keeps the gradient alive below the cap and cuts it above, as CLIP's clamp does
    return log_scale.clamp(max=math.log(max_scale)).exp()


def pair_losses(
    embeddings: Mapping[str, torch.Tensor],
    present: Mapping[str, torch.Tensor] | None,
    logit_scale: torch.Tensor | float,
    *,
    max_scale: float = 100.0,
) -> dict[tuple[str, str], torch.Tensor]:
    """Symmetric InfoNCE of each pair of modalities that has at least two objects with both.

    Parameters
    ----------
    embeddings
        ``{modality: (n, d)}``, the same ``n`` objects in the same order in every entry. They are
        L2-normalised here again (a no-op for encoder outputs), in float32.
    present
        ``{modality: (n,) bool}``; a missing entry (or ``None``) means every object has it. A pair's
        loss reads only rows where both modalities are present, so absent rows may hold anything,
        NaN included.
    logit_scale
        Log of the inverse temperature (a learnable scalar); its exponential is capped at ``max_scale``.

    Returns
    -------
    dict
        ``{(a, b): loss}`` in the order of ``embeddings``; pairs with fewer than two shared rows are
        absent (one row is its own only candidate: nothing to contrast).
    """
    names = list(embeddings)
    if len(names) < 2:
        raise ValueError(f"clip_loss needs at least two modalities, got {names}")
    n = {len(e) for e in embeddings.values()}
    if len(n) != 1:
        raise ValueError(f"modalities have different row counts: { {m: len(e) for m, e in embeddings.items()} }")
    device = embeddings[names[0]].device
    scale = _scale(logit_scale, max_scale, device)
    rows_all = torch.ones(n.pop(), dtype=torch.bool, device=device)
    out: dict[tuple[str, str], torch.Tensor] = {}
    for a, b in itertools.combinations(names, 2):
        rows = rows_all
        for m in (a, b):
            if present is not None and m in present:
                rows = rows & present[m].to(device=device, dtype=torch.bool)
        if int(rows.sum()) < 2:
            continue
        # select before normalising so NaN in absent rows never enters the arithmetic
        za = F.normalize(embeddings[a][rows].float(), dim=-1)
        zb = F.normalize(embeddings[b][rows].float(), dim=-1)
        logits = scale * za @ zb.T
        target = torch.arange(len(logits), device=device)
        out[(a, b)] = 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
    return out


def clip_loss(
    embeddings: Mapping[str, torch.Tensor],
    present: Mapping[str, torch.Tensor] | None,
    logit_scale: torch.Tensor | float,
    *,
    max_scale: float = 100.0,
    reduction: str = "sum",
) -> torch.Tensor:
    """CLIP loss over every pair of modalities (any number >= 2).

    Each pair contributes the symmetric InfoNCE loss ``(CE(s za zb^T) + CE(s zb za^T)) / 2`` over the
    objects that have both modalities (see :func:`pair_losses`); a pair with fewer than two such
    objects contributes 0.

    Parameters
    ----------
    reduction
        ``"sum"`` (default, AstroM3's L_PS + L_SM + L_MP) adds the pair losses; ``"mean"`` averages
        over the pairs that contributed (0 when none did).

    Returns
    -------
    torch.Tensor
        A scalar, finite even when no pair has rows, and always attached to ``logit_scale``'s graph
        so ``backward()`` works on every batch.
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    losses = pair_losses(embeddings, present, logit_scale, max_scale=max_scale)
    device = next(iter(embeddings.values())).device
    zero = _scale(logit_scale, max_scale, device) * 0.0
    if not losses:
        return zero
    total = zero + sum(losses.values())
    return total / len(losses) if reduction == "mean" else total


@torch.no_grad()
def retrieval_accuracy(
    embeddings: Mapping[str, torch.Tensor | np.ndarray],
    present: Mapping[str, torch.Tensor | np.ndarray] | None,
    a: str,
    b: str,
) -> float:
    """Top-1 cross-modal matching accuracy between ``a`` and ``b``, both directions averaged.

    Among the objects that have both modalities, an object counts as matched from ``a`` when its own
    ``b`` embedding is the most similar of all ``b`` embeddings, and vice versa. Chance is ``1/n``;
    NaN when fewer than two objects have both.
    """
    za, zb = (torch.as_tensor(np.asarray(embeddings[m]) if not torch.is_tensor(embeddings[m]) else embeddings[m])
              for m in (a, b))
    rows = torch.ones(len(za), dtype=torch.bool)
    for m in (a, b):
        if present is not None and m in present:
            rows &= torch.as_tensor(np.asarray(present[m]) if not torch.is_tensor(present[m])
                                    else present[m].cpu()).bool()
    if int(rows.sum()) < 2:
        return float("nan")
    sim = F.normalize(za[rows].float().cpu(), dim=-1) @ F.normalize(zb[rows].float().cpu(), dim=-1).T
    target = torch.arange(len(sim))
    return 0.5 * float((sim.argmax(1) == target).float().mean() + (sim.argmax(0) == target).float().mean())


# --------------------------------------------------------------------------------------------------
# loops
# --------------------------------------------------------------------------------------------------

def _device(device: torch.device | str | None) -> torch.device:
    return torch.device(device) if device is not None else pick_device()


def _optimiser(model: nn.Module, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    # CLIP's recipe: no weight decay on gains, biases and the temperature (all tensors with ndim < 2)
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim >= 2]
    rest = [p for p in params if p.ndim < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                              {"params": rest, "weight_decay": 0.0}], lr=lr)


@torch.no_grad()
def embed(model: AstroM3, data: MultimodalData, batch_size: int = 256,
          device: torch.device | str | None = None) -> dict[str, np.ndarray]:
    """``{modality: (N, embed_dim)}`` float32 unit vectors in evaluation mode (centre crops).

    Rows of objects lacking a modality are filled in anyway; use ``data.present`` to mask them.
    """
    device = _device(device)
    model.to(device).eval()
    parts: dict[str, list[np.ndarray]] = {}
    for i in range(0, len(data), batch_size):
        inputs, _, _ = data.batch(np.arange(i, min(i + batch_size, len(data))),
                                  max_points=model.cfg.max_points, train=False, device=device)
        with autocast(device):
            out = model.encode(inputs)
        for m, z in out.items():
            parts.setdefault(m, []).append(F.normalize(z.float(), dim=-1).cpu().numpy())
    return {m: np.concatenate(v) for m, v in parts.items()}


def _clip_metrics(model: AstroM3, data: MultimodalData, batch_size: int, device: torch.device,
                  reduction: str) -> dict[str, float]:
    emb = embed(model, data, batch_size, device)
    present = {m: torch.from_numpy(data.present[m]) for m in emb}
    tensors = {m: torch.from_numpy(v) for m, v in emb.items()}
    metrics = {"val_loss": float(clip_loss(tensors, present, model.logit_scale.detach().cpu(),
                                           max_scale=model.cfg.logit_scale_max, reduction=reduction))}
    for a, b in itertools.combinations(emb, 2):
        metrics[f"val_retrieval_{a}_{b}"] = retrieval_accuracy(emb, data.present, a, b)
    return metrics


def pretrain(
    model: AstroM3,
    data: MultimodalData,
    epochs: int = 10,
    lr: float = 1e-3,
    batch_size: int = 256,
    seed: int = 0,
    device: torch.device | str | None = None,
    on_epoch: Callable[[int, dict], None] | None = None,
    *,
    val: MultimodalData | None = None,
    weight_decay: float = 0.01,
    reduction: str = "sum",
    grad_clip: float = 45.0,
) -> list[dict]:
    """Contrastive pre-training with :func:`clip_loss` on every pair of the data's modalities.

    AdamW (no decay on biases, norms and the temperature), gradient-norm clipping at ``grad_clip`` as
    the authors do, and the log temperature clamped to ``[0, log(cfg.logit_scale_max)]`` after every
    step. Light curves get a new random crop each epoch. Batches in which no pair has two objects are
    skipped.

    Returns
    -------
    list of dict
        One entry per epoch: ``epoch``, ``train_loss`` (mean over trained batches), ``logit_scale``
        (the inverse temperature), ``batches``; with ``val`` also ``val_loss`` and
        ``val_retrieval_<a>_<b>`` (top-1 cross-modal matching, see :func:`retrieval_accuracy`).
        ``on_epoch(epoch, entry)`` is called after each epoch; an exception it raises stops training.
    """
    shared = [m for m in model.modalities if m in data.modalities]
    if len(shared) < 2:
        raise ValueError(f"pre-training needs two modalities in both model {model.modalities} "
                         f"and data {data.modalities}")
    seed_everything(seed)
    device = _device(device)
    model.to(device)
    optimiser = _optimiser(model, lr, weight_decay)
    rng = np.random.default_rng(seed)
    max_log = math.log(model.cfg.logit_scale_max)
    history: list[dict] = []
    for epoch in range(epochs):
        model.train()
        total, batches = 0.0, 0
        order = rng.permutation(len(data))
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            inputs, present, _ = data.batch(idx, max_points=model.cfg.max_points, train=True, rng=rng, device=device)
            if not any(int((present[a] & present[b]).sum()) >= 2
                       for a, b in itertools.combinations(shared, 2)):
                continue
            with autocast(device):
                emb = model.encode(inputs)
            loss = clip_loss(emb, present, model.logit_scale, max_scale=model.cfg.logit_scale_max,
                             reduction=reduction)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            optimiser.step()
            with torch.no_grad():
                model.logit_scale.clamp_(0.0, max_log)
            total += float(loss.detach())
            batches += 1
        entry = {"epoch": epoch, "train_loss": total / max(batches, 1),
                 "logit_scale": float(model.logit_scale.detach().exp()), "batches": batches}
        if val is not None:
            entry.update(_clip_metrics(model, val, batch_size, device, reduction))
        history.append(entry)
        if on_epoch is not None:
            on_epoch(epoch, entry)
    model.eval()
    return history


def _usable(classifier: Classifier, data: MultimodalData) -> np.ndarray:
    """Objects the classifier can read: labelled, with its modality (or any of them when fusing)."""
    have = [data.present[m] for m in classifier.modalities if m in data.present]
    if not have:
        raise ValueError(f"data has none of the classifier's modalities {classifier.modalities}")
    rows = np.logical_or.reduce(have) if classifier.inputs == "all" else have[0]
    return rows


def _trainable(classifier: Classifier, freeze_encoders: bool) -> None:
    for p in classifier.backbone.parameters():
        p.requires_grad_(not freeze_encoders)
    classifier.backbone.logit_scale.requires_grad_(False)  # unused by the classification loss


def _val_scores(classifier: Classifier, val: MultimodalData, device: torch.device) -> dict[str, float]:
    """Validation accuracy and balanced accuracy (NaN without a usable labelled object)."""
    keep = np.flatnonzero(_usable(classifier, val) & (val.labels >= 0))
    if not len(keep):
        return {"val_accuracy": float("nan"), "val_balanced_accuracy": float("nan")}
    pred = predict_proba(classifier, val.subset(keep), device=device).argmax(1)
    truth = val.labels[keep]
    return {"val_accuracy": float((pred == truth).mean()),
            "val_balanced_accuracy": float(balanced_accuracy_score(truth, pred))}


def finetune(
    classifier: Classifier, data: MultimodalData, epochs: int = 10, lr: float = 1e-4, batch_size: int = 64,
    seed: int = 0, device: torch.device | str | None = None, on_epoch: Callable[[int, dict], None] | None = None,
    *, val: MultimodalData | None = None, weight_decay: float = 0.01, weighted: bool = True,
    freeze_encoders: bool = False, grad_clip: float = 45.0,
) -> list[dict]:
    """Supervised fine-tuning of a :class:`~lcml.models.astrom3.Classifier`.

    Trains on labelled objects (``labels >= 0``) that have the classifier's modality (any of them for
    fusion), with class-weighted cross-entropy and AdamW. ``freeze_encoders`` trains the head only
    (a linear probe; the encoders stay frozen afterwards). With ``val``, the weights of the epoch with
    the best validation balanced accuracy are restored at the end.

    Returns
    -------
    list of dict
        Per epoch: ``epoch``, ``train_loss``, ``train_accuracy``; with ``val`` also ``val_accuracy``
        and ``val_balanced_accuracy``. ``on_epoch(epoch, entry)`` is called after each epoch.
    """
    if data.labels is None:
        raise ValueError("fine-tuning needs labels")
    seed_everything(seed)
    device = _device(device)
    _trainable(classifier.to(device), freeze_encoders)
    rows = np.flatnonzero(_usable(classifier, data) & (data.labels >= 0))
    if len(rows) == 0:
        raise ValueError("no labelled object has the classifier's modalities")
    loss_fn = nn.CrossEntropyLoss(
        weight=class_weights(data.labels[rows], classifier.n_classes).to(device) if weighted else None)
    optimiser = _optimiser(classifier, lr, weight_decay)
    rng = np.random.default_rng(seed)
    history, best_score, best_state = [], -1.0, None
    for epoch in range(epochs):
        classifier.train()
        if freeze_encoders:
            classifier.backbone.eval()  # no dropout in a frozen feature extractor
        total, correct, seen = 0.0, 0, 0
        order = rng.permutation(rows)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            inputs, present, labels = data.batch(idx, max_points=classifier.cfg.max_points, train=True, rng=rng,
                                                 device=device)
            with autocast(device):
                logits = classifier(inputs, present)
            loss = loss_fn(logits.float(), labels)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(classifier.parameters(), grad_clip)
            optimiser.step()
            total += float(loss.detach()) * len(idx)
            correct += int((logits.argmax(1) == labels).sum())
            seen += len(idx)
        entry = {"epoch": epoch, "train_loss": total / max(seen, 1), "train_accuracy": correct / max(seen, 1)}
        if val is not None and val.labels is not None:
            entry.update(_val_scores(classifier, val, device))
            if entry["val_balanced_accuracy"] > best_score:  # NaN (no usable object) never is
                best_score, best_state = entry["val_balanced_accuracy"], copy.deepcopy(classifier.state_dict())
        history.append(entry)
        if on_epoch is not None:
            on_epoch(epoch, entry)
    if best_state is not None:
        classifier.load_state_dict(best_state)
    classifier.eval()
    return history

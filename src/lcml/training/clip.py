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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from sklearn.metrics import balanced_accuracy_score
from torch import nn

from lcml.models.astrom3 import (
    MODALITIES,
    AstroM3,
    AstroM3Config,
    Classifier,
    Standardizer,
    pad_lightcurves,
    resample_spectrum,
    spectrum_grid,
)
from lcml.training.loop import autocast, class_weights, pick_device, seed_everything

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
# data
# --------------------------------------------------------------------------------------------------

@dataclass
class MultimodalData:
    """One split of multimodal objects, in memory.

    Attributes
    ----------
    lightcurves
        One ``(n_i, 3)`` array (time, flux, flux_err; sorted by time) per object; an empty array for an
        object without photometry. ``None`` when the split has no photometry at all.
    aux
        ``(N, n_aux)`` float32 per-object photometry features, standardised (e.g. log amplitude, log
        period); required when the photometry encoder has ``n_aux > 0``.
    spectra
        ``(N, 2, spec_bins)`` float32 from :func:`~lcml.models.astrom3.resample_spectrum`.
    metadata
        ``(N, n_metadata)`` float32 from a :class:`~lcml.models.astrom3.Standardizer`.
    present
        ``{modality: (N,) bool}``; defaults: photometry where the light curve has a point, spectra
        where the spectrum has a nonzero precision channel, metadata everywhere.
    labels
        ``(N,)`` int64 class indices, ``-1`` for unlabelled objects (ignored by :func:`finetune`).
    object_ids, classes
        Optional bookkeeping (:meth:`from_frames` fills them, with the fitted scalers).
    """

    lightcurves: list[np.ndarray] | None = None
    aux: np.ndarray | None = None
    spectra: np.ndarray | None = None
    metadata: np.ndarray | None = None
    present: dict[str, np.ndarray] = field(default_factory=dict)
    labels: np.ndarray | None = None
    object_ids: np.ndarray | None = None
    classes: list[str] | None = None
    metadata_scaler: Standardizer | None = None
    aux_scaler: Standardizer | None = None

    def __post_init__(self) -> None:
        sizes = {name: len(v) for name, v in (("lightcurves", self.lightcurves), ("aux", self.aux),
                                               ("spectra", self.spectra), ("metadata", self.metadata),
                                               ("labels", self.labels), ("object_ids", self.object_ids))
                 if v is not None}
        sizes.update({f"present[{m}]": len(v) for m, v in self.present.items()})
        if not sizes or len(set(sizes.values())) != 1:
            raise ValueError(f"MultimodalData needs at least one modality, all of one length; got {sizes}")
        self._n = next(iter(sizes.values()))
        self.present = dict(self.present)  # defaults are filled in below: never into the caller's dict
        unknown = [m for m in self.present if m not in MODALITIES]
        if unknown:
            raise ValueError(f"unknown modality in present: {unknown}")
        if self.lightcurves is not None:
            self.lightcurves = [np.asarray(lc, np.float64).reshape(-1, 3) for lc in self.lightcurves]
            self.present.setdefault("photometry", np.array([len(lc) > 0 for lc in self.lightcurves], bool))
        if self.spectra is not None:
            self.spectra = np.asarray(self.spectra, np.float32)
            self.present.setdefault("spectra", np.abs(self.spectra[:, 1:]).reshape(self._n, -1).max(1) > 0
                                    if self.spectra.shape[1] > 1 else np.ones(self._n, bool))
        if self.metadata is not None:
            self.metadata = np.nan_to_num(np.asarray(self.metadata, np.float32))
            self.present.setdefault("metadata", np.ones(self._n, bool))
        if self.aux is not None:
            self.aux = np.nan_to_num(np.asarray(self.aux, np.float32))
        for m in self.modalities:
            self.present[m] = np.asarray(self.present[m], bool)
        if self.labels is not None:
            self.labels = np.asarray(self.labels, np.int64)

    def __len__(self) -> int:
        return self._n

    @property
    def modalities(self) -> tuple[str, ...]:
        have = {"photometry": self.lightcurves, "spectra": self.spectra, "metadata": self.metadata}
        return tuple(m for m in MODALITIES if have[m] is not None)

    def subset(self, index: Sequence[int] | np.ndarray) -> MultimodalData:
        """The objects at ``index`` (integer positions or a boolean mask), fitted scalers kept."""
        idx = np.arange(self._n)[np.asarray(index)]
        pick = (lambda v: None if v is None else v[idx])
        return MultimodalData(
            lightcurves=None if self.lightcurves is None else [self.lightcurves[i] for i in idx],
            aux=pick(self.aux), spectra=pick(self.spectra), metadata=pick(self.metadata),
            present={m: v[idx] for m, v in self.present.items()}, labels=pick(self.labels),
            object_ids=pick(self.object_ids), classes=self.classes,
            metadata_scaler=self.metadata_scaler, aux_scaler=self.aux_scaler,
        )

    def batch(
        self,
        index: Sequence[int] | np.ndarray,
        *,
        max_points: int,
        train: bool,
        rng: np.random.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], torch.Tensor | None]:
        """``(inputs, present, labels)`` tensors for the objects at ``index``.

        ``inputs`` is the batch :meth:`~lcml.models.astrom3.AstroM3.encode` reads; light curves are
        randomly (``train``) or centrally cropped to ``max_points``.
        """
        idx = np.asarray(index)
        inputs: dict[str, torch.Tensor] = {}
        if self.lightcurves is not None:
            points, mask = pad_lightcurves([self.lightcurves[i] for i in idx], max_points, train=train, rng=rng)
            inputs["photometry"], inputs["photometry_mask"] = points, mask
            if self.aux is not None:
                inputs["photometry_aux"] = torch.from_numpy(self.aux[idx])
        if self.spectra is not None:
            inputs["spectra"] = torch.from_numpy(self.spectra[idx])
        if self.metadata is not None:
            inputs["metadata"] = torch.from_numpy(self.metadata[idx])
        present = {m: torch.from_numpy(self.present[m][idx]) for m in self.modalities}
        labels = None if self.labels is None else torch.from_numpy(self.labels[idx])
        if device is not None:
            inputs = {k: v.to(device, non_blocking=True) for k, v in inputs.items()}
            present = {k: v.to(device) for k, v in present.items()}
            labels = None if labels is None else labels.to(device)
        return inputs, present, labels

    @classmethod
    def from_frames(
        cls,
        lightcurves: pd.DataFrame,
        objects: pd.DataFrame | None = None,
        spectra: pd.DataFrame | None = None,
        *,
        cfg: AstroM3Config,
        metadata_columns: Sequence[str] | None = None,
        aux_columns: Sequence[str] = ("amplitude", "period"),
        metadata_scaler: Standardizer | None = None,
        aux_scaler: Standardizer | None = None,
        classes: Sequence[str] | None = None,
        label_column: str = "label",
    ) -> MultimodalData:
        """Build a split from a release's frames (the AstroM3 layout of :mod:`lcml.data.sources.astrom3`).

        Parameters
        ----------
        lightcurves
            ``object_id``, ``time``, ``flux``, ``flux_err`` list columns (and ``label_column``); its
            rows fix the object order.
        objects
            ``object_id`` plus the metadata and auxiliary columns; objects without a row have no
            metadata (and zero aux features).
        spectra
            ``object_id``, ``wavelength``, ``flux``, ``ivar``; put on ``cfg``'s grid here.
        metadata_columns
            Default :data:`lcml.data.sources.astrom3.ASTROM3_METADATA_COLUMNS`; must have
            ``cfg.n_metadata`` entries. Ignored (no metadata) when ``objects`` is ``None``.
        aux_columns
            Photometry features taken as ``log10(|x|)`` then standardised; ``cfg.n_aux`` of them.
        metadata_scaler, aux_scaler
            Fitted on the training split and passed to the others; fitted here when ``None``.
        classes
            Class order for the integer labels; default the sorted labels found. Labels outside it
            (and missing ones) become ``-1``.
        """
        ids = lightcurves["object_id"].astype(str).to_numpy()
        n = len(ids)
        lcs = [np.stack([np.asarray(t, np.float64), np.asarray(f, np.float64),
                         np.asarray(e if e is not None else np.zeros(len(f)), np.float64)], axis=1)
               for t, f, e in zip(lightcurves["time"], lightcurves["flux"],
                                  lightcurves["flux_err"] if "flux_err" in lightcurves else [None] * n)]
        lcs = [lc[np.argsort(lc[:, 0], kind="stable")] for lc in lcs]

        metadata = aux = None
        present: dict[str, np.ndarray] = {}
        if objects is not None:
            from lcml.data.sources.astrom3 import ASTROM3_METADATA_COLUMNS

            table = objects.assign(object_id=objects["object_id"].astype(str)).drop_duplicates("object_id")
            table = table.set_index("object_id").reindex(ids)
            columns = list(metadata_columns if metadata_columns is not None else ASTROM3_METADATA_COLUMNS)
            if len(columns) != cfg.n_metadata:
                raise ValueError(f"{len(columns)} metadata columns but cfg.n_metadata={cfg.n_metadata}")
            missing = [c for c in [*columns, *aux_columns] if c not in table.columns]
            if missing:
                raise KeyError(f"objects frame lacks column(s): {', '.join(missing)}")
            meta_raw = table[columns].apply(pd.to_numeric, errors="coerce")
            metadata_scaler = metadata_scaler or Standardizer.fit(meta_raw, columns)
            metadata = metadata_scaler.transform(meta_raw)
            present["metadata"] = meta_raw.notna().any(axis=1).to_numpy()
            if len(aux_columns) != cfg.n_aux:
                raise ValueError(f"{len(aux_columns)} aux columns but cfg.n_aux={cfg.n_aux}")
            if aux_columns:
                with np.errstate(all="ignore"):
                    aux_raw = np.log10(np.abs(table[list(aux_columns)].apply(pd.to_numeric, errors="coerce")))
                aux_raw = aux_raw.replace([np.inf, -np.inf], np.nan)
                aux_scaler = aux_scaler or Standardizer.fit(aux_raw, list(aux_columns))
                aux = aux_scaler.transform(aux_raw)
        if aux is None and cfg.n_aux:
            aux = np.zeros((n, cfg.n_aux), np.float32)  # no catalogue features: a neutral (mean) value

        spec = None
        if spectra is not None:
            grid = spectrum_grid(cfg)
            spec = np.zeros((n, 2, cfg.spec_bins), np.float32)
            position = {oid: i for i, oid in enumerate(ids)}
            for oid, wl, fl, iv in zip(spectra["object_id"].astype(str), spectra["wavelength"],
                                       spectra["flux"], spectra["ivar"]):
                if oid in position:
                    spec[position[oid]] = resample_spectrum(wl, fl, iv, grid)

        labels = None
        if label_column in lightcurves:
            raw = lightcurves[label_column]
            found = sorted({str(v) for v in raw if isinstance(v, str) and v})
            classes = list(classes) if classes is not None else found
            lookup = {c: i for i, c in enumerate(classes)}
            labels = np.array([lookup.get(v, -1) if isinstance(v, str) else -1 for v in raw], np.int64)
        return cls(lightcurves=lcs, aux=aux, spectra=spec, metadata=metadata, present=present, labels=labels,
                   object_ids=ids, classes=None if classes is None else list(classes),
                   metadata_scaler=metadata_scaler, aux_scaler=aux_scaler)


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


@torch.no_grad()
def predict_proba(classifier: Classifier, data: MultimodalData, batch_size: int = 256,
                  device: torch.device | str | None = None) -> np.ndarray:
    """``(N, n_classes)`` class probabilities (centre crops, evaluation mode)."""
    device = _device(device)
    classifier.to(device).eval()
    out = []
    for i in range(0, len(data), batch_size):
        inputs, present, _ = data.batch(np.arange(i, min(i + batch_size, len(data))),
                                        max_points=classifier.cfg.max_points, train=False, device=device)
        with autocast(device):
            logits = classifier(inputs, present)
        out.append(torch.softmax(logits.float(), dim=1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, classifier.n_classes), np.float32)


def finetune(
    classifier: Classifier,
    data: MultimodalData,
    epochs: int = 10,
    lr: float = 1e-4,
    batch_size: int = 64,
    seed: int = 0,
    device: torch.device | str | None = None,
    on_epoch: Callable[[int, dict], None] | None = None,
    *,
    val: MultimodalData | None = None,
    weight_decay: float = 0.01,
    weighted: bool = True,
    freeze_encoders: bool = False,
    grad_clip: float = 45.0,
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
    classifier.to(device)
    for p in classifier.backbone.parameters():
        p.requires_grad_(not freeze_encoders)
    classifier.backbone.logit_scale.requires_grad_(False)  # unused by the classification loss
    rows = np.flatnonzero(_usable(classifier, data) & (data.labels >= 0))
    if len(rows) == 0:
        raise ValueError("no labelled object has the classifier's modalities")
    weight = class_weights(data.labels[rows], classifier.n_classes).to(device) if weighted else None
    loss_fn = nn.CrossEntropyLoss(weight=weight)
    optimiser = _optimiser(classifier, lr, weight_decay)
    rng = np.random.default_rng(seed)
    history: list[dict] = []
    best_score, best_state = -1.0, None
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
            keep = np.flatnonzero(_usable(classifier, val) & (val.labels >= 0))
            pred = predict_proba(classifier, val.subset(keep), device=device).argmax(1) if len(keep) else np.array([])
            truth = val.labels[keep]
            entry["val_accuracy"] = float((pred == truth).mean()) if len(keep) else float("nan")
            entry["val_balanced_accuracy"] = float(balanced_accuracy_score(truth, pred)) if len(keep) else float("nan")
            if len(keep) and entry["val_balanced_accuracy"] > best_score:
                best_score, best_state = entry["val_balanced_accuracy"], copy.deepcopy(classifier.state_dict())
        history.append(entry)
        if on_epoch is not None:
            on_epoch(epoch, entry)
    if best_state is not None:
        classifier.load_state_dict(best_state)
    classifier.eval()
    return history

"""AstroM3's inputs in memory and inference with its classifiers.

:class:`MultimodalData` holds one split (ragged light curves, gridded spectra, standardised metadata,
presence masks, optional labels) and cuts batches; :func:`predict_proba` scores a
:class:`~lcml.models.astrom3.Classifier` on it. Training (:mod:`lcml.training.clip`) and serving (the
``astrom3`` family) share both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from lcml.models.astrom3 import (
    MODALITIES,
    AstroM3Config,
    Classifier,
    Standardizer,
    pad_lightcurves,
    resample_spectrum,
    spectrum_grid,
)
from lcml.models.runtime import autocast, pick_device


def _device(device: torch.device | str | None) -> torch.device:
    return torch.device(device) if device is not None else pick_device()


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
            Required with ``objects`` (the AstroM3 catalog: :data:`lcml.data.sources.astrom3.ASTROM3_METADATA_COLUMNS`); must have
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
            if metadata_columns is None:  # the AstroM3 catalog's are lcml.data.sources.astrom3.ASTROM3_METADATA_COLUMNS
                raise ValueError("metadata_columns: name the objects table's columns the metadata encoder reads")
            table = objects.assign(object_id=objects["object_id"].astype(str)).drop_duplicates("object_id")
            table = table.set_index("object_id").reindex(ids)
            columns = list(metadata_columns)
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

        spec = _gridded_spectra(spectra, ids, cfg) if spectra is not None else None
        labels = None
        if label_column in lightcurves:
            labels, classes = _label_indices(lightcurves[label_column], classes)
        return cls(lightcurves=lcs, aux=aux, spectra=spec, metadata=metadata, present=present, labels=labels,
                   object_ids=ids, classes=None if classes is None else list(classes),
                   metadata_scaler=metadata_scaler, aux_scaler=aux_scaler)


def _gridded_spectra(spectra: pd.DataFrame, ids: np.ndarray, cfg: AstroM3Config) -> np.ndarray:
    """``(N, 2, spec_bins)`` flux and inverse variance on ``cfg``'s grid, in ``ids`` order (zeros: none)."""
    grid = spectrum_grid(cfg)
    spec = np.zeros((len(ids), 2, cfg.spec_bins), np.float32)
    position = {oid: i for i, oid in enumerate(ids)}
    for oid, wl, fl, iv in zip(spectra["object_id"].astype(str), spectra["wavelength"], spectra["flux"],
                               spectra["ivar"]):
        if oid in position:
            spec[position[oid]] = resample_spectrum(wl, fl, iv, grid)
    return spec


def _label_indices(raw: pd.Series, classes: Sequence[str] | None) -> tuple[np.ndarray, list[str]]:
    """Class indices of ``raw`` labels (-1: unlabelled or unknown) and the classes (default: those found, sorted)."""
    found = sorted({str(v) for v in raw if isinstance(v, str) and v})
    classes = list(classes) if classes is not None else found
    lookup = {c: i for i, c in enumerate(classes)}
    return np.array([lookup.get(v, -1) if isinstance(v, str) else -1 for v in raw], np.int64), classes


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

"""The interface every model family implements, and the torch families' shared training."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lcml.training.loop import Dataset

Curves = Iterable[tuple[np.ndarray, np.ndarray, np.ndarray | None]]
Report = Callable[[int, dict], None]


def suggest_from_space(trial, space: dict[str, Any]) -> dict[str, Any]:
    """Sample one value per entry of a ``params.yaml`` search space.

    ``[low, high]`` is an int range when both are ints, else a float range; a third item ``log``
    samples log-uniformly, a number is the step; ``{choices: [...]}`` is categorical.
    """
    values: dict[str, Any] = {}
    for name, spec in space.items():
        if isinstance(spec, dict):
            values[name] = trial.suggest_categorical(name, list(spec["choices"]))
            continue
        low, high, *extra = spec
        log = "log" in extra
        step = next((e for e in extra if isinstance(e, (int, float)) and not isinstance(e, bool)), None)
        if isinstance(low, int) and isinstance(high, int) and not log:
            values[name] = trial.suggest_int(name, low, high, step=int(step or 1))
        else:
            values[name] = trial.suggest_float(name, float(low), float(high), log=log,
                                               step=None if log or step is None else float(step))
    return values


@dataclass
class Fitted:
    """One trained candidate: the model, its best validation score and what rebuilds it."""

    model: Any
    best_score: float
    best_epoch: int
    architecture: dict[str, Any]


class Family(ABC):
    """A model family (see :mod:`lcml.families`)."""

    name: str
    #: file name of the saved weights (inside a trial checkpoint folder or a logged model)
    weights_file: str
    #: ``fit`` takes ``checkpoint``/``resume_from`` (per-epoch training state; see ``train_model``)
    resumable: bool = False
    #: ``fit`` needs no validation split (no early stopping on it), so the best hyperparameters can be
    #: fitted again on train + validation (``search.<family>.refit``)
    refits: bool = False

    @abstractmethod
    def inputs(self, curves: Curves, features: Any, options: dict[str, Any] | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """Model inputs ``(X, aux)`` from raw ``(time, flux, flux_err)`` curves, ``FeatureParams`` and
        the family's ``search.<family>.options``."""

    @abstractmethod
    def fit(self, hp: dict[str, Any], train: Dataset, val: Dataset, *, search: Any, n_classes: int,
            seed: int, options: dict[str, Any], report: Report | None = None) -> Fitted:
        """Train one candidate with hyperparameters ``hp``; ``report(epoch, metrics)`` may prune."""

    @abstractmethod
    def save(self, model: Any, path: Path) -> None:
        """Write the weights to ``path``."""

    @abstractmethod
    def load(self, path: Path, architecture: dict[str, Any]) -> Any:
        """Rebuild the model from its architecture and the weights at ``path``."""

    @abstractmethod
    def predict_proba(self, model: Any, x: np.ndarray, aux: np.ndarray) -> np.ndarray:
        """Class probabilities ``(N, n_classes)`` for inputs made by :meth:`inputs`."""


class TorchFamily(Family):
    """A family whose model is a torch module with ``.cfg.n_classes`` and ``forward(x, aux)``."""

    weights_file = "weights.safetensors"
    resumable = True

    @abstractmethod
    def build(self, hp: dict[str, Any], *, n_classes: int, x_shape: tuple[int, ...], n_aux: int,
              options: dict[str, Any]) -> Any:
        """A fresh model for hyperparameters ``hp``."""

    @abstractmethod
    def from_architecture(self, architecture: dict[str, Any]) -> Any:
        """An untrained model of a saved architecture."""

    def fit(self, hp, train, val, *, search, n_classes, seed, options, report=None, checkpoint: Path | None = None,
            resume_from: Path | None = None) -> Fitted:
        from lcml.training.loop import seed_everything, train_model

        seed_everything(seed)  # weight initialisation is part of what must be reproducible
        model = self.build(hp, n_classes=n_classes, x_shape=train.folded.shape[1:], n_aux=train.aux.shape[1],
                           options=options)
        result = train_model(model, train, val, epochs=search.epochs, lr=hp["lr"], batch_size=search.batch_size,
                             patience=search.patience, seed=seed, weighted=search.class_weighted, on_epoch=report,
                             loader_workers=search.loader_workers, checkpoint=checkpoint, resume_from=resume_from)
        return Fitted(model, result.best_score, result.best_epoch, model.cfg.as_dict())

    def save(self, model, path: Path) -> None:
        from safetensors.torch import save_file

        save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(path))

    def load(self, path: Path, architecture: dict[str, Any]):
        from safetensors.torch import load_file

        model = self.from_architecture(architecture)
        model.load_state_dict(load_file(str(path)))
        return model.eval()

    def predict_proba(self, model, x, aux) -> np.ndarray:
        from lcml.training.loop import predict_proba

        return predict_proba(model, x, aux)

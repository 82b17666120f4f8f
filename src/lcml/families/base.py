"""The serving side of every model family: inputs from raw curves, save, load, predict.

Nothing here trains: the fitting side is :mod:`lcml.families.fitting`, so serving never imports training.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


Curves = Iterable[tuple[np.ndarray, np.ndarray, np.ndarray | None]]
Report = Callable[[int, dict], None]


def feature_jobs(options: dict[str, Any] | None) -> int:
    """Processes a family's feature extraction may use: ``search.<family>.options.n_jobs`` (default 1)."""
    return int((options or {}).get("n_jobs", 1))


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

    def save(self, model, path: Path) -> None:
        from safetensors.torch import save_file

        save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(path))

    def load(self, path: Path, architecture: dict[str, Any]):
        from safetensors.torch import load_file

        model = self.from_architecture(architecture)
        model.load_state_dict(load_file(str(path)))
        return model.eval()

    def predict_proba(self, model, x, aux) -> np.ndarray:
        from lcml.models.runtime import predict_proba

        return predict_proba(model, x, aux)

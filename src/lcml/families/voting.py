"""A voting family: a weighted average of other families' class probabilities, registered as one pyfunc.

Its members and their weights are fixed in ``search.voting.options.members`` before anything is measured
(the weights are not tuned on the data they are scored on), each member with its own hyperparameters
(``hp``) and options; the search trains every member once per trial (:class:`lcml.families.fitting.VotingFitter`).
One registered version then holds all members: the card lists them (``architecture.members``), the
gates judge the vote like any other family, and serving scores it through the same pyfunc loader.

Inputs are every member's ``(x, aux)`` flattened side by side into one matrix ``x``, in the order of
``options.members``; the vote's ``aux`` holds, on every row, the members' per-object shapes
(:func:`layout_row`), so any subset of rows can be cut back into the members' inputs. Members that read the same features compute them once per call (a scratch feature cache when none
is active): the fusion network's auxiliary input *is* the baseline's feature matrix.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lcml.families.base import Family

#: the architecture file beside the members' weight files
LAYOUT = "voting.json"


def members_of(options: dict[str, Any] | None, known: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """``options.members`` checked against the ``known`` families: ``{family: {weight, hp, options}}``,
    weights positive; ``ValueError`` otherwise."""
    members = dict((options or {}).get("members") or {})
    if not members:
        raise ValueError("search.voting.options.members is empty: name at least one family with its weight")
    for name, spec in members.items():
        if name not in known or name == "voting":
            raise ValueError(f"search.voting.options.members: {name!r} is not a family lcml can vote with "
                             f"({', '.join(f for f in known if f != 'voting')})")
        if not isinstance(spec, dict) or float(spec.get("weight", 0)) <= 0:
            raise ValueError(f"search.voting.options.members.{name}: needs a positive weight")
    return members


def member_options(options: dict[str, Any] | None, name: str) -> dict[str, Any]:
    """A member's options: the vote's ``n_jobs`` unless the member's own ``options`` say otherwise."""
    shared = {k: v for k, v in (options or {}).items() if k == "n_jobs"}
    return {**shared, **dict(((options or {}).get("members") or {})[name].get("options") or {})}


@dataclass
class Member:
    """One family inside a vote: its fitted model, weight and the per-object shapes of its inputs."""

    name: str
    weight: float
    model: Any
    x_shape: tuple[int, ...]
    aux_shape: tuple[int, ...]
    architecture: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {"family": self.name, "weight": self.weight, "x_shape": list(self.x_shape),
                "aux_shape": list(self.aux_shape), "architecture": self.architecture}


@dataclass
class Vote:
    """The fitted vote: members in the order of their inputs, and the number of classes."""

    members: list[Member]
    n_classes: int

    def to(self, device: Any) -> "Vote":
        """Torch members onto ``device`` (the pyfunc loader's call); the others stay where they are."""
        for m in self.members:
            if hasattr(m.model, "to"):
                m.model = m.model.to(device)
        return self

    def architecture(self) -> dict[str, Any]:
        return {"n_classes": self.n_classes, "members": [m.describe() for m in self.members]}


#: numbers per shape in a layout row: the number of dimensions, then up to this many minus one sizes
SHAPE_SLOTS = 4


def layout_row(shapes: list[tuple[int, ...]]) -> np.ndarray:
    """Per-object shapes (each member's x, then its aux) as one float row of ``SHAPE_SLOTS`` numbers each."""
    row = []
    for shape in shapes:
        if len(shape) >= SHAPE_SLOTS:
            raise ValueError(f"a voting member's inputs have {len(shape)} dimensions per object; at most "
                             f"{SHAPE_SLOTS - 1} fit a layout row")
        row += [len(shape), *shape, *[0] * (SHAPE_SLOTS - 1 - len(shape))]
    return np.asarray(row, np.float32)


def shapes_of(aux: np.ndarray) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """The members' ``(x_shape, aux_shape)`` from a layout row (:func:`layout_row`) of the vote's ``aux``."""
    row = np.asarray(aux[0], int).reshape(-1, SHAPE_SLOTS)
    shapes = [tuple(int(v) for v in r[1:1 + r[0]]) for r in row]
    return list(zip(shapes[0::2], shapes[1::2]))


def split_inputs(x: np.ndarray, members: list[Member]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each member's ``(x, aux)`` cut back out of the vote's flat input matrix."""
    parts, start = [], 0
    for m in members:
        for shape in (m.x_shape, m.aux_shape):
            width = int(np.prod(shape)) if shape else 0
            parts.append(x[:, start:start + width].reshape((len(x), *shape)))
            start += width
    if start != x.shape[1]:
        raise ValueError(f"voting inputs hold {x.shape[1]} columns per object, its members expect {start}: "
                         "options.members differ from the ones the vote was trained with")
    return [(parts[2 * i], parts[2 * i + 1]) for i in range(len(members))]


class VotingFamily(Family):
    """The vote; ``lookup(name)`` gives a member's family and ``known`` names them all (both from
    :mod:`lcml.families`, which builds this one: passed in, so this module never imports its package)."""

    name = "voting"
    weights_file = "members"  # a folder: one weights file per member and the layout
    refits = True  # each member that stops early holds out its own share of the training objects

    def __init__(self, lookup: Callable[[str], Family], known: tuple[str, ...]) -> None:
        self.lookup, self.known = lookup, known

    def inputs(self, curves, features, options: dict[str, Any] | None = None) -> tuple[np.ndarray, np.ndarray]:
        from lcml.features.extract import shared_features

        curves = list(curves)
        columns, shapes = [], []
        with shared_features():  # otherwise each member would run the period search again
            for name in members_of(options, self.known):
                for part in self.lookup(name).inputs(curves, features, member_options(options, name)):
                    columns.append(np.asarray(part, np.float32).reshape(len(curves), -1))
                    shapes.append(tuple(int(d) for d in np.shape(part)[1:]))
        return np.concatenate(columns, axis=1), np.tile(layout_row(shapes), (len(curves), 1))

    def save(self, model: Vote, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        for m in model.members:
            family = self.lookup(m.name)
            family.save(m.model, path / f"{m.name}-{family.weights_file}")
        (path / LAYOUT).write_text(json.dumps(model.architecture(), indent=2))

    def load(self, path: Path, architecture: dict[str, Any]) -> Vote:
        members = []
        for spec in architecture["members"]:
            family = self.lookup(spec["family"])
            model = family.load(path / f"{spec['family']}-{family.weights_file}", spec["architecture"])
            members.append(Member(spec["family"], float(spec["weight"]), model, tuple(spec["x_shape"]),
                                  tuple(spec["aux_shape"]), spec["architecture"]))
        return Vote(members, int(architecture["n_classes"]))

    def predict_proba(self, model: Vote, x: np.ndarray, aux: np.ndarray) -> np.ndarray:
        total = sum(m.weight for m in model.members)
        out = np.zeros((len(x), model.n_classes))
        if not len(x):  # nothing to score (a refit's empty validation split)
            return out
        for m, (mx, maux) in zip(model.members, split_inputs(x, model.members)):
            out += (m.weight / total) * self.lookup(m.name).predict_proba(m.model, mx, maux)
        return out

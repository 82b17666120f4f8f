"""The fitting side of every model family: one candidate trained for one set of hyperparameters.

A :class:`Fitter` wraps a family's serving side (:mod:`lcml.families`: inputs, save, load, predict) and
adds ``fit``, which uses :mod:`lcml.training`. The search (:mod:`lcml.training.search`) receives a fitter
and never looks a family up itself; serving imports only the serving side.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lcml.families import FAMILIES, get_family
from lcml.families.base import Family, Fitted, Report, feature_jobs
from lcml.models.runtime import seed_everything

#: share of the training data held out inside a baseline fit for early stopping
VALIDATION_FRACTION = 0.1


class Fitter:
    """A family that can also be trained: every attribute of the family, plus :meth:`fit`."""

    def __init__(self, family: Family) -> None:
        self.family = family

    def __getattr__(self, name: str) -> Any:  # name, weights_file, resumable, refits, inputs, save, load, ...
        if name == "family":  # not set yet (copy, unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.family, name)

    def fit(self, hp: dict[str, Any], train: Any, val: Any, *, search: Any, n_classes: int, seed: int,
            options: dict[str, Any], report: Report | None = None) -> Fitted:
        """Train one candidate with hyperparameters ``hp``; ``report(epoch, metrics)`` may prune."""
        raise NotImplementedError


class TorchFitter(Fitter):
    """Conv+BiLSTM, Swin and the fusion network: :func:`lcml.training.loop.train_model`, resumable from per-epoch state."""

    def fit(self, hp, train, val, *, search, n_classes, seed, options, report=None, checkpoint: Path | None = None,
            resume_from: Path | None = None) -> Fitted:
        from lcml.training.loop import train_model

        seed_everything(seed)  # weight initialisation is part of what must be reproducible
        model = self.family.build(hp, n_classes=n_classes, x_shape=train.folded.shape[1:], n_aux=train.aux.shape[1],
                           options=options)
        result = train_model(model, train, val, epochs=search.epochs, lr=hp["lr"], batch_size=search.batch_size,
                             patience=search.patience, seed=seed, weighted=search.class_weighted, on_epoch=report,
                             loader_workers=search.loader_workers, checkpoint=checkpoint, resume_from=resume_from)
        return Fitted(model, result.best_score, result.best_epoch, model.cfg.as_dict())


class BaselineFitter(Fitter):
    """HistGradientBoosting on the baseline features, or (``options.bags``) a balanced bagging of it; no
    validation split needed (it can refit)."""

    def fit(self, hp, train, val, *, search, n_classes, seed, options, report=None) -> Fitted:
        from sklearn.ensemble import HistGradientBoostingClassifier

        from lcml.families.baseline import WithClasses
        from sklearn.metrics import balanced_accuracy_score

        options = options or {}
        if int(options.get("bags", 0)):
            return self._fit_bagging(hp, train, val, search=search, n_classes=n_classes, seed=seed, options=options,
                                     report=report)
        early = _early_stopping(train.y, bool(options.get("early_stopping", True)))
        model = HistGradientBoostingClassifier(
            learning_rate=float(hp.get("learning_rate", 0.1)), max_leaf_nodes=int(hp.get("max_leaf_nodes", 31)),
            l2_regularization=float(hp.get("l2_regularization", 0.0)), max_iter=int(hp.get("max_iter", 200)),
            class_weight="balanced" if search.class_weighted else None, random_state=seed,
            early_stopping=early, validation_fraction=VALIDATION_FRACTION,
        )
        model.fit(train.folded, train.y)
        proba = self.family.predict_proba(WithClasses(model, n_classes), val.folded, val.aux)
        score = float(balanced_accuracy_score(val.y, proba.argmax(1))) if len(val) else 0.0
        if report is not None:
            report(0, {"train_loss": float("nan"), "val_balanced_accuracy": score})
        return Fitted(WithClasses(model, n_classes), score, 0, {"n_classes": n_classes, "early_stopping": early})

    def _fit_bagging(self, hp, train, val, *, search, n_classes, seed, options, report) -> Fitted:
        """``options.bags`` > 0: balanced bagging (:class:`lcml.models.balanced.BalancedBagging`)."""
        from sklearn.metrics import balanced_accuracy_score

        from lcml.families.baseline import WithClasses
        from lcml.models.balanced import BalancedBagging

        per_class = int(hp.get("per_class", options.get("per_class", 100)))
        model = BalancedBagging(
            n_estimators=int(options["bags"]), per_class=per_class,
            learning_rate=float(hp.get("learning_rate", 0.1)), max_leaf_nodes=int(hp.get("max_leaf_nodes", 31)),
            l2_regularization=float(hp.get("l2_regularization", 0.0)), max_iter=int(hp.get("max_iter", 100)),
            random_state=seed, n_jobs=feature_jobs(options),
        ).fit(train.folded, train.y)
        proba = self.family.predict_proba(WithClasses(model, n_classes), val.folded, val.aux)
        score = float(balanced_accuracy_score(val.y, proba.argmax(1))) if len(val) else 0.0
        if report is not None:
            report(0, {"train_loss": float("nan"), "val_balanced_accuracy": score})
        return Fitted(WithClasses(model, n_classes), score, 0,
                      {"n_classes": n_classes, "bags": int(options["bags"]), "per_class": per_class})


class _EarlyStop(Exception):
    """Raised from ``finetune``'s epoch callback once validation stopped improving for ``patience`` epochs."""


class AstroM3Fitter(Fitter):
    """AstroM3's photometry classifier, fine-tuned through :func:`lcml.training.clip.finetune`."""

    def fit(self, hp, train, val, *, search, n_classes, seed, options, report=None) -> Fitted:
        from lcml.families.astrom3 import AUX, _data
        from lcml.models.astrom3 import Standardizer
        from lcml.training.clip import finetune

        seed_everything(seed)  # the head (and a scratch encoder) start from seeded weights
        model = self.family.build(hp, n_classes=n_classes, x_shape=train.folded.shape[1:], n_aux=train.aux.shape[1],
                           options=options)
        scaler = Standardizer.fit(np.asarray(train.aux, np.float64), list(AUX))  # train split only
        model.aux_mean.copy_(torch.from_numpy(scaler.mean))
        model.aux_std.copy_(torch.from_numpy(scaler.std))
        train_data = _data(model, train.folded, train.aux, train.y)
        val_data = _data(model, val.folded, val.aux, val.y)

        best = {"score": -1.0, "epoch": -1, "state": None, "stale": 0}

        def on_epoch(epoch: int, entry: dict) -> None:
            score = entry.get("val_balanced_accuracy", float("nan"))
            score = float(score) if np.isfinite(score) else 0.0  # an empty val split scores 0, as train_model does
            if score > best["score"]:
                best.update(score=score, epoch=epoch, state=copy.deepcopy(model.state_dict()), stale=0)
            else:
                best["stale"] += 1
            if report is not None:  # Optuna's pruner raises here; that must stop training
                report(epoch, {"val_balanced_accuracy": score, "train_loss": float(entry["train_loss"])})
            if best["stale"] >= search.patience:
                raise _EarlyStop

        try:
            finetune(model, train_data, epochs=search.epochs, lr=float(hp["lr"]), batch_size=search.batch_size,
                     seed=seed, val=val_data, weight_decay=float(hp.get("weight_decay", 0.01)),
                     weighted=search.class_weighted, freeze_encoders=bool(options.get("freeze_encoders", False)),
                     on_epoch=on_epoch)
        except _EarlyStop:
            pass  # finetune restores its best epoch only when it runs to the end
        if best["state"] is not None:
            model.load_state_dict(best["state"])
        model.eval()
        architecture = {
            "config": model.cfg.as_dict(), "n_classes": int(n_classes), "dropout": float(hp.get("dropout", 0.2)),
            "aux_mean": scaler.mean.tolist(), "aux_std": scaler.std.tolist(), "aux": list(AUX),
            "init": options.get("init", "scratch"), "stored_points": int(train.folded.shape[1]),
        }
        return Fitted(model, best["score"], best["epoch"], architecture)


class VotingFitter(Fitter):
    """Every member of ``options.members`` trained once with its own ``hp`` and options; the vote scored on ``val``.

    A member that stops early on a validation split (the networks) holds out a stratified share of
    ``train`` for it (:func:`lcml.training.cv.fit_split`), so ``val`` stays unseen and the vote can be
    refitted on train + validation like the baseline. The networks train under the vote's own search
    settings (epochs, patience, batch size).
    """

    def fit(self, hp, train, val, *, search, n_classes, seed, options, report=None) -> Fitted:
        from sklearn.metrics import balanced_accuracy_score

        from lcml.families.voting import Member, Vote, member_options, members_of, shapes_of, split_inputs
        from lcml.training.cv import fit_split
        from lcml.training.loop import Dataset

        specs = members_of(options, FAMILIES)
        # each member's share of the flat inputs, from the layout row every input row carries
        layout = [Member(name, float(spec["weight"]), None, xs, auxs)
                  for (name, spec), (xs, auxs) in zip(specs.items(), shapes_of(train.aux))]
        members = []
        for m, (x, aux) in zip(layout, split_inputs(train.folded, layout)):
            member = fitter(m.name)
            fit, held = fit_split(member, Dataset(folded=x, aux=aux, y=train.y), seed)
            fitted = member.fit(dict(specs[m.name].get("hp") or {}), fit, held, search=search, n_classes=n_classes,
                                seed=seed, options=member_options(options, m.name))
            members.append(Member(m.name, m.weight, fitted.model, m.x_shape, m.aux_shape, fitted.architecture))
        vote = Vote(members, n_classes)
        proba = self.family.predict_proba(vote, val.folded, val.aux)
        score = float(balanced_accuracy_score(val.y, proba.argmax(1))) if len(val) else 0.0
        if report is not None:
            report(0, {"train_loss": float("nan"), "val_balanced_accuracy": score})
        return Fitted(vote, score, 0, vote.architecture())


_FITTERS = {"conv_bilstm": TorchFitter, "swin": TorchFitter, "baseline": BaselineFitter, "astrom3": AstroM3Fitter,
            "fusion": TorchFitter, "voting": VotingFitter, "lc_text": TorchFitter, "lc_image": TorchFitter,
            "lc_audio": TorchFitter}
assert set(_FITTERS) == set(FAMILIES)


def fitter(name: str) -> Fitter:
    """The family called ``name`` with its fitting side; ``ValueError`` naming the known ones otherwise."""
    family = get_family(name)
    return _FITTERS[family.name](family)


def _early_stopping(y: np.ndarray, wanted: bool) -> bool:
    """Stop boosting on a held-out slice of the training data, whenever that slice can hold every class.

    scikit-learn's default ('auto') switches early stopping on only above 10,000 samples, so the same
    search overfitted CRTS (4,900 stars in train + validation, up to 400 iterations) but not Catalina
    SSS (13,700). With one fixed set of hyperparameters, 5-fold CV balanced accuracy on CRTS's train +
    validation stars rose from 0.651 to 0.672 with it, and on Catalina SSS's it is 0.766 against 0.719
    without; on the simulated demo release it changes nothing (0.914-0.924 either way). The slice is
    stratified, so it needs two objects of every class and one slot per class; tiny training sets
    (tests, CI) train without it.
    """
    counts = np.bincount(y)
    present = counts[counts > 0]
    return wanted and present.size > 0 and int(present.min()) >= 2 and (
        math.ceil(VALIDATION_FRACTION * len(y)) >= present.size)

"""What a scientist sees in every training run's MLflow artifacts, beside the metrics.

* ``confusion_matrix.png`` — the row-normalised test confusion matrix (counts in the cells);
* ``per_class.json`` — precision, recall, F1 and support per class on the test split (an MLflow table:
  the UI's artifact view shows it as a table, ``mlflow.load_table`` reads it back);
* ``learning_curves.png`` — validation balanced accuracy (and training loss) per epoch of every trial,
  read back from the trials' nested runs;
* ``search/optuna_history.png`` and ``search/param_importances.png`` (written by the search);
* ``mistakes.png`` — the model's most confident wrong answers on the test split: each curve folded at
  its Lomb–Scargle period, with the true and the predicted class and the probability given.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

#: how many confident mistakes the gallery shows
GALLERY_SIZE = 12


def per_class_table(y_true: Sequence[str], y_pred: Sequence[str], classes: Sequence[str]) -> pd.DataFrame:
    """Precision, recall, F1 and support of every class present in ``y_true`` (rows in ``classes`` order)."""
    from sklearn.metrics import precision_recall_fscore_support

    present = [c for c in classes if c in set(y_true)]
    p, r, f, s = precision_recall_fscore_support(list(y_true), list(y_pred), labels=present, zero_division=0)
    return pd.DataFrame({"class": present, "precision": p.round(4), "recall": r.round(4), "f1": f.round(4),
                         "support": s.astype(int)})


def learning_curve_figure(histories: dict[str, dict[str, list[tuple[int, float]]]], title: str = ""):
    """Per-epoch curves of every trial: ``{trial: {metric: [(epoch, value), ...]}}``; ``None`` when no trial has
    more than one epoch (a tree model: nothing to draw)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not any(len(points) > 1 for metrics in histories.values() for points in metrics.values()):
        return None
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for trial, metrics in sorted(histories.items()):
        for ax, metric in zip(axes, ("val_balanced_accuracy", "train_loss")):
            points = sorted(metrics.get(metric, []))
            if points:
                ax.plot([e for e, _ in points], [v for _, v in points], marker=".", label=trial)
    for ax, label in zip(axes, ("validation balanced accuracy", "training loss")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
    axes[0].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def trial_histories(client, parent_run_id: str) -> dict[str, dict[str, list[tuple[int, float]]]]:
    """The per-epoch metrics of the trials (nested runs) of one search run."""
    runs = client.search_runs(experiment_ids=[client.get_run(parent_run_id).info.experiment_id],
                              filter_string=f"tags.mlflow.parentRunId = '{parent_run_id}'")
    out: dict[str, dict[str, list[tuple[int, float]]]] = {}
    for run in runs:
        name = run.info.run_name or run.info.run_id[:8]
        out[name] = {m: [(h.step, h.value) for h in client.get_metric_history(run.info.run_id, m)]
                     for m in ("val_balanced_accuracy", "train_loss")}
    return out


def confident_mistakes(frame: pd.DataFrame, predictions: pd.DataFrame, n: int = GALLERY_SIZE) -> pd.DataFrame:
    """The ``n`` test objects predicted wrongly with the highest probability: ``frame``'s rows plus
    ``label_pred`` and ``proba``, most confident first."""
    joined = frame.reset_index(drop=True).assign(label_pred=predictions["label_pred"].to_numpy(),
                                                 proba=predictions["proba"].to_numpy())
    wrong = joined[joined["label"] != joined["label_pred"]]
    return wrong.sort_values("proba", ascending=False, kind="stable").head(n)


def mistakes_figure(mistakes: pd.DataFrame, periods: Sequence[float], title: str = ""):
    """Folded curves of ``mistakes`` (see :func:`confident_mistakes`) at ``periods``; ``None`` when empty."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if mistakes.empty:
        return None
    cols = 4
    rows = int(np.ceil(len(mistakes) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 2.4 * rows), squeeze=False)
    for ax, (_, row), period in zip(axes.flat, mistakes.iterrows(), periods):
        t, f = np.asarray(row["time"], float), np.asarray(row["flux"], float)
        phase = ((t - t.min()) / period) % 1.0
        ax.plot(np.concatenate([phase, phase + 1]), np.concatenate([f, f]), ".", ms=2, color="k")
        ax.set_title(f"{row['object_id']}\ntrue {row['label']} -> {row['label_pred']} ({row['proba']:.2f})",
                     fontsize=7)
        ax.set_xlabel(f"phase (P = {period:.4g} d)", fontsize=7)
        ax.tick_params(labelsize=6)
    for ax in list(axes.flat)[len(mistakes):]:
        ax.axis("off")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def log_test_artifacts(frame: pd.DataFrame, predictions: pd.DataFrame, classes: list[str], features: Any,
                       title: str) -> None:
    """Log the confusion matrix, the per-class table and the mistakes gallery to the active run."""
    import mlflow

    from lcml.evaluation import confusion_figure

    _log_figure(confusion_figure(frame["label"], predictions["label_pred"], classes, title=title),
                "confusion_matrix.png")
    mlflow.log_table(per_class_table(frame["label"].tolist(), predictions["label_pred"].tolist(), classes),
                     "per_class.json")
    mistakes = confident_mistakes(frame, predictions)
    periods = [_period(t, f, features) for t, f in zip(mistakes["time"], mistakes["flux"])]
    fig = mistakes_figure(mistakes, periods, title=f"most confident mistakes: {title}")
    if fig is not None:
        _log_figure(fig, "mistakes.png")


def _period(time, flux, features: Any) -> float:
    """The Lomb-Scargle period the gallery folds at (1 for a pre-folded release or a curve too short to search)."""
    from lcml.features.period import lomb_scargle_period

    if getattr(features, "folded", False):
        return 1.0
    t, f = np.asarray(time, float), np.asarray(flux, float)
    ok = np.isfinite(t) & np.isfinite(f)
    p = features.period
    try:
        return lomb_scargle_period(t[ok], f[ok], None, min_period=p.min_period_days, max_period=p.max_period_days,
                                   oversample=p.oversample).period
    except ValueError:
        return 1.0


def log_learning_curves(run_id: str, title: str) -> None:
    """``learning_curves.png`` in run ``run_id``, from its trials (skipped when there is nothing per epoch)."""
    import mlflow

    fig = learning_curve_figure(trial_histories(mlflow.MlflowClient(), run_id), title=title)
    if fig is not None:
        _log_figure(fig, "learning_curves.png", run_id=run_id)


def _log_figure(fig, name: str, run_id: str | None = None) -> None:
    """Log ``fig`` to ``run_id`` (the active run when None) and close it: pyplot keeps every open figure."""
    import matplotlib.pyplot as plt
    import mlflow

    try:
        if run_id is None:
            mlflow.log_figure(fig, name)
        else:
            mlflow.MlflowClient().log_figure(run_id, fig, name)
    finally:
        plt.close(fig)

"""Classification metrics shared by search, gates, registry status and model cards."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    precision_score,
    recall_score,
)


def classification_metrics(y_true: Sequence[str], y_pred: Sequence[str], classes: Sequence[str]) -> dict[str, float]:
    """accuracy, balanced_accuracy, macro_f1 over ``classes`` present in y_true, recall_<class> and
    precision_<class> (0 for a class never predicted), support_<class> (test objects of the class)."""
    y_true = np.asarray(y_true, dtype=object)
    y_pred = np.asarray(y_pred, dtype=object)
    if y_true.size == 0:
        raise ValueError("no labelled objects to evaluate")
    present = [c for c in classes if (y_true == c).any()]
    out = {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)),
    }
    recalls = recall_score(y_true, y_pred, labels=present, average=None, zero_division=0)
    out.update({f"recall_{c}": float(r) for c, r in zip(present, recalls)})
    precisions = precision_score(y_true, y_pred, labels=present, average=None, zero_division=0)
    out.update({f"precision_{c}": float(p) for c, p in zip(present, precisions)})
    out.update({f"support_{c}": float(np.sum(y_true == c)) for c in present})
    out["n_test"] = float(y_true.size)
    return out


def wilson_interval(successes: float, n: float, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion (95% for ``z=1.96``); ``(0, 1)`` when ``n`` is 0.

    A rare class's recall rests on a handful of test objects (5 of 15 has 0.15-0.58): the interval
    says how much one more or one fewer right answer would move it.
    """
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * float(np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def confusion_figure(y_true: Sequence[str], y_pred: Sequence[str], classes: Sequence[str], title: str = ""):
    """Row-normalised confusion matrix as a matplotlib Figure (for ``mlflow.log_figure``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = confusion_matrix(y_true, y_pred, labels=list(classes)).astype(float)
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(classes)), classes, rotation=45)
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(j, i, int(cm[i, j]), ha="center", va="center", fontsize=8,
                    color="white" if norm[i, j] > 0.5 else "black")
    ax.set_title(title)
    fig.tight_layout()
    return fig

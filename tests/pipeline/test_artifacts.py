"""The figures and tables every training run logs (lcml.pipeline.artifacts)."""

import numpy as np
import pandas as pd
import pytest

from lcml.pipeline.artifacts import (
    confident_mistakes,
    learning_curve_figure,
    mistakes_figure,
    per_class_table,
)


def test_per_class_table_counts_each_class():
    table = per_class_table(["A", "A", "B", "B", "B"], ["A", "B", "B", "B", "A"], ["A", "B", "C"])
    assert table["class"].tolist() == ["A", "B"]  # C has no test object: no row
    a, b = table.set_index("class").loc["A"], table.set_index("class").loc["B"]
    assert (a.recall, a.precision, a.support) == (0.5, 0.5, 2)
    assert b.recall == pytest.approx(2 / 3, abs=1e-4) and b.precision == pytest.approx(2 / 3, abs=1e-4)


def test_confident_mistakes_are_the_wrong_answers_most_sure_first():
    frame = pd.DataFrame({"object_id": list("abcd"), "label": ["X", "X", "Y", "Y"],
                          "time": [np.arange(5.0)] * 4, "flux": [np.ones(5)] * 4})
    predictions = pd.DataFrame({"label_pred": ["Y", "X", "X", "X"], "proba": [0.6, 0.99, 0.9, 0.7]})
    mistakes = confident_mistakes(frame, predictions, n=2)
    assert mistakes["object_id"].tolist() == ["c", "d"]  # b is right; a is wrong but least sure
    assert mistakes["label_pred"].tolist() == ["X", "X"]
    fig = mistakes_figure(mistakes, [1.0, 2.0], title="t")
    assert len([ax for ax in fig.axes if ax.has_data()]) == 2
    assert mistakes_figure(mistakes.head(0), [], title="t") is None


def test_learning_curves_need_more_than_one_epoch():
    assert learning_curve_figure({"trial-0": {"val_balanced_accuracy": [(0, 0.5)]}}) is None
    fig = learning_curve_figure({"trial-0": {"val_balanced_accuracy": [(0, 0.5), (1, 0.6)],
                                             "train_loss": [(0, 1.0), (1, 0.8)]},
                                 "trial-1": {"val_balanced_accuracy": [(0, 0.4), (1, 0.7)]}})
    assert len(fig.axes[0].lines) == 2 and len(fig.axes[1].lines) == 1

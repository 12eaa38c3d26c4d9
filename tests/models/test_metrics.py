"""Metric helpers: calibration error, classification summary, confusion-matrix figure."""

from __future__ import annotations

import numpy as np
import pytest

from models.metrics import (
    classification_summary,
    confusion_matrix_figure,
    expected_calibration_error,
)

CLASSES = np.array(["A", "B", "C"])


def test_ece_is_zero_when_confidence_matches_accuracy() -> None:
    # 10 predictions at 0.8 confidence, 8 of them right: perfectly calibrated
    proba = np.tile([0.8, 0.1, 0.1], (10, 1))
    truth = ["A"] * 8 + ["B"] * 2
    assert expected_calibration_error(truth, proba, CLASSES) == pytest.approx(0.0, abs=1e-12)


def test_ece_of_overconfident_wrong_predictions() -> None:
    proba = np.tile([0.0, 1.0, 0.0], (4, 1))
    assert expected_calibration_error(["A"] * 4, proba, CLASSES) == pytest.approx(1.0)


def test_ece_weights_bins_by_their_share() -> None:
    proba = np.array([[0.95, 0.05, 0.0]] * 2 + [[0.55, 0.45, 0.0]] * 2)
    truth = ["A", "A", "A", "B"]  # bin 0.95: acc 1.0, bin 0.55: acc 0.5
    expected = 0.5 * abs(1.0 - 0.95) + 0.5 * abs(0.5 - 0.55)
    assert expected_calibration_error(truth, proba, CLASSES) == pytest.approx(expected)


def test_classification_summary() -> None:
    truth = ["A", "A", "B", "C", "C", "C"]
    pred = ["A", "B", "B", "C", "C", "A"]
    summary = classification_summary(truth, pred, labels=["A", "B", "C"])
    assert summary["accuracy"] == pytest.approx(4 / 6)
    assert summary["n"] == 6
    per = summary["per_class"]
    assert per["A"]["precision"] == pytest.approx(0.5)
    assert per["A"]["recall"] == pytest.approx(0.5)
    assert per["C"]["support"] == 3
    assert per["C"]["recall"] == pytest.approx(2 / 3)
    f1s = [per[c]["f1"] for c in "ABC"]
    assert summary["macro_f1"] == pytest.approx(np.mean(f1s))
    # macro-F1 over a subset of labels averages only those
    only_a_b = classification_summary(truth, pred, labels=["A", "B"])
    assert only_a_b["macro_f1"] == pytest.approx(np.mean(f1s[:2]))


def test_confusion_matrix_figure() -> None:
    fig = confusion_matrix_figure(["A", "B", "C"], ["A", "C", "C"], labels=list(CLASSES), title="t")
    ax = fig.axes[0]
    assert ax.get_title() == "t"
    assert [t.get_text() for t in ax.get_xticklabels()] == list(CLASSES)

"""Metric helpers shared by every model family (pure functions; plots load matplotlib lazily)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support


def expected_calibration_error(
    y_true: Sequence[Any] | np.ndarray,
    proba: np.ndarray,
    classes: Sequence[Any] | np.ndarray,
    n_bins: int = 15,
) -> float:
    """Top-label expected calibration error: sum over equal-width confidence bins of
    |accuracy - mean confidence| weighted by the bin's share of samples.

    `proba` is (n, len(classes)); `classes` gives the label of each column.
    """
    proba = np.asarray(proba, dtype=float)
    labels = np.asarray(classes)
    truth = np.asarray(y_true)
    if len(truth) == 0:
        return 0.0
    confidence = proba.max(axis=1)
    correct = labels[proba.argmax(axis=1)] == truth
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # bins are (lo, hi]; a confidence of exactly 0 goes to the first bin
    bins = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        in_bin = bins == b
        if in_bin.any():
            gap = abs(correct[in_bin].mean() - confidence[in_bin].mean())
            ece += in_bin.mean() * gap
    return float(ece)


def classification_summary(
    y_true: Sequence[Any] | np.ndarray,
    y_pred: Sequence[Any] | np.ndarray,
    labels: Sequence[Any],
) -> dict[str, Any]:
    """Accuracy, macro-F1 over `labels`, and precision/recall/f1/support per label.

    Returns ``{"accuracy", "macro_f1", "n", "per_class": {label: {precision, recall, f1,
    support}}}``; accuracy is over all samples, macro-F1 only over `labels` (so a metric over
    the codes present in an evaluation set is `labels=present_codes`).
    """
    truth = np.asarray(y_true)
    pred = np.asarray(y_pred)
    labels = list(labels)
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, pred, labels=labels, zero_division=0
    )
    return {
        "n": len(truth),
        "accuracy": float(accuracy_score(truth, pred)) if len(truth) else 0.0,
        "macro_f1": float(f1_score(truth, pred, labels=labels, average="macro", zero_division=0)),
        "per_class": {
            str(label): {
                "precision": float(p),
                "recall": float(r),
                "f1": float(f),
                "support": int(s),
            }
            for label, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
        },
    }


def confusion_matrix_figure(
    y_true: Sequence[Any] | np.ndarray,
    y_pred: Sequence[Any] | np.ndarray,
    labels: Sequence[Any],
    title: str = "",
    normalize: bool = True,
) -> Any:
    """A matplotlib Figure of the confusion matrix (rows = truth, normalised per row by default).

    Uses the non-interactive Agg canvas, so it works without a display; log it with
    `mlflow.log_figure(fig, "confusion.png")` and close it with `matplotlib.pyplot.close(fig)`.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from sklearn.metrics import confusion_matrix

    labels = list(labels)
    matrix = confusion_matrix(np.asarray(y_true), np.asarray(y_pred), labels=labels).astype(float)
    if normalize:
        totals = matrix.sum(axis=1, keepdims=True)
        matrix = np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)
    size = max(4.0, 0.55 * len(labels) + 2.0)
    fig = Figure(figsize=(size + 1.0, size))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(matrix, cmap="Blues", vmin=0.0, vmax=1.0 if normalize else None)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    names = [str(label) for label in labels]
    ax.set_xticks(range(len(labels)), names, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(len(labels)), names, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    threshold = matrix.max() / 2.0 if matrix.size else 0.0
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            if matrix[i, j] > 0:
                text = f"{matrix[i, j]:.2f}" if normalize else f"{int(matrix[i, j])}"
                colour = "white" if matrix[i, j] > threshold else "black"
                ax.text(j, i, text, ha="center", va="center", fontsize=6, color=colour)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig

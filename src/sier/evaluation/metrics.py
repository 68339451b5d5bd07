"""Overall, per-class and confusion metrics, per fold and pooled over folds.

Definitions (scikit-learn does the counting):
- WA: accuracy, the share of utterances classified right.
- UA: unweighted accuracy, the mean of per-class recall over the classes that occur in
  the reference labels of the rows measured (a class a speaker never shows has no recall).
- macro-F1: the mean F1 over the classes that occur in the reference or the predictions
  (scikit-learn's default label set), weighted-F1 the support-weighted mean.
- mean and std over folds or speakers use the population std (ddof=0).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from sier.evaluation.predictions import Predictions

HEADLINE = ("wa", "ua", "macro_f1", "weighted_f1")


def unweighted_accuracy(y_true: Sequence[str], y_pred: Sequence[str]) -> float:
    """Mean recall over the classes present in `y_true` (nan when empty)."""
    y_true = np.asarray(y_true, dtype=object)
    y_pred = np.asarray(y_pred, dtype=object)
    if y_true.size == 0:
        return float("nan")
    present = sorted(set(y_true.tolist()))
    return float(np.mean([np.mean(y_pred[y_true == c] == c) for c in present]))


def classification_metrics(y_true: Sequence[str], y_pred: Sequence[str], classes: Sequence[str]) -> dict[str, Any]:
    """WA, UA, macro/weighted F1, per-class precision/recall/F1/support, confusion matrices.

    `confusion[i][j]` counts utterances of class `classes[i]` predicted as `classes[j]`;
    `confusion_normalized` divides each row by its total (rows without utterances stay 0).
    """
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    y_true = np.asarray(y_true, dtype=object)
    y_pred = np.asarray(y_pred, dtype=object)
    classes = list(classes)
    n = int(y_true.size)
    if n == 0:
        nan = float("nan")
        return {"n": 0, "wa": nan, "ua": nan, "macro_f1": nan, "weighted_f1": nan, "per_class": [],
                "confusion": [[0] * len(classes) for _ in classes],
                "confusion_normalized": [[0.0] * len(classes) for _ in classes]}
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=classes, zero_division=0
    )
    cm = confusion_matrix(y_true, y_pred, labels=classes)
    rows = cm.sum(axis=1, keepdims=True)
    cm_norm = np.divide(cm, rows, out=np.zeros(cm.shape, dtype=float), where=rows > 0)
    return {
        "n": n,
        "wa": float(accuracy_score(y_true, y_pred)),
        "ua": unweighted_accuracy(y_true, y_pred),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
        "weighted_f1": float(f1_score(y_true, y_pred, average="weighted", zero_division=0)),
        "per_class": [
            {"class": c, "precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for c, p, r, f, s in zip(classes, precision, recall, f1, support)
        ],
        "confusion": cm.astype(int).tolist(),
        "confusion_normalized": cm_norm.tolist(),
    }


def table_metrics(table: Predictions) -> dict[str, Any]:
    """`classification_metrics` of a prediction table, over its model's classes."""
    return classification_metrics(table.label, table.pred, table.classes)


def mean_std(values: Sequence[float]) -> dict[str, float]:
    """Mean and population std of the finite values (nan when there are none)."""
    arr = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    if arr.size == 0:
        return {"mean": float("nan"), "std": float("nan")}
    return {"mean": float(arr.mean()), "std": float(arr.std())}


def fold_metrics(table: Predictions) -> dict[str, Any]:
    """Metrics of each fold, pooled over all rows, and mean/std over folds of the headline.

    Returns {"folds": {fold: metrics}, "pooled": metrics, "over_folds": {metric: {mean, std}}}.
    """
    folds = {k: table_metrics(table.subset(table.fold == k)) for k in table.folds()}
    return {
        "folds": folds,
        "pooled": table_metrics(table),
        "over_folds": {m: mean_std([f[m] for f in folds.values()]) for m in HEADLINE},
    }

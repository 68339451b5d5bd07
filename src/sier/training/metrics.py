"""Test-set scores of emotion predictions: WA, UA and macro-F1."""

from __future__ import annotations

from typing import Sequence


def classification_scores(labels: Sequence[int], preds: Sequence[int]) -> dict[str, float]:
    """{"wa": accuracy, "ua": macro recall (unweighted accuracy), "f1": macro F1, "n": count}.

    Macro averages run over the classes present in labels or predictions (scikit-learn's
    default, and what torchmetrics' macro average does), so a class absent from both is
    not counted as 0."""
    from sklearn.metrics import accuracy_score, f1_score, recall_score

    if len(labels) == 0:
        return {"wa": float("nan"), "ua": float("nan"), "f1": float("nan"), "n": 0}
    return {
        "wa": float(accuracy_score(labels, preds)),
        "ua": float(recall_score(labels, preds, average="macro", zero_division=0)),
        "f1": float(f1_score(labels, preds, average="macro", zero_division=0)),
        "n": len(labels),
    }

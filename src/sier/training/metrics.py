"""Scores of emotion predictions: WA, UA and macro-F1 of classes, concordance of dimensions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    import torch


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


def concordance(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Lin's concordance correlation coefficient of two 1-D tensors, with population moments:
    2 cov / (var_pred + var_target + (mean_pred - mean_target)^2). 1 is perfect agreement; it
    punishes a shifted or rescaled prediction that a Pearson correlation would forgive. NaN
    with fewer than 2 values or when both are constant."""
    import torch

    pred, target = pred.float(), target.float()  # float32 also under mixed precision
    if pred.numel() < 2:
        return torch.tensor(float("nan"))
    dp, dt = pred - pred.mean(), target - target.mean()
    denominator = dp.pow(2).mean() + dt.pow(2).mean() + (pred.mean() - target.mean()) ** 2
    return 2 * (dp * dt).mean() / denominator

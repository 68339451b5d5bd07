"""Which upstream layers a layer-weighted model listens to (`--layer_weighted`, SUPERB style).

Such a model learns one softmax weight per hidden state of the frozen upstream (index 0: the
input of the first transformer layer, index k: the output of layer k, as transformers'
`hidden_states`). Read from each fold's checkpoint, the weights say where in HuBERT (or
WavLM, ...) the emotion information the model uses lies, and whether the folds agree.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

LAYER_SUM_KEY = "layer_sum.weights"  # the LayerWeightedSum parameter in a model's state dict


def checkpoint_layer_weights(state_dict: Mapping[str, Any]) -> np.ndarray | None:
    """Softmax weights [L+1] over the upstream's hidden states of a layer-weighted model's
    checkpoint; None for a model of one layer's features."""
    raw = state_dict.get(LAYER_SUM_KEY)
    if raw is None:
        return None
    logits = np.asarray(raw.detach().cpu().double() if hasattr(raw, "detach") else raw, dtype=np.float64)
    weights = np.exp(logits - logits.max())
    return weights / weights.sum()


def layer_weight_summary(per_fold: Mapping[int, np.ndarray]) -> dict[str, Any]:
    """Per fold, mean and std (ddof=0) over folds of each hidden state's weight; `top`, the
    hidden state of the largest mean weight; `centre`, the weighted mean layer index (of the
    mean weights), one number for where the model listens."""
    folds = {int(k): np.asarray(w, dtype=np.float64) for k, w in sorted(per_fold.items())}
    stacked = np.stack(list(folds.values()))
    mean = stacked.mean(axis=0)
    return {
        "folds": {k: w.tolist() for k, w in folds.items()},
        "mean": mean.tolist(),
        "std": stacked.std(axis=0).tolist(),
        "top": int(mean.argmax()),
        "centre": float((np.arange(len(mean)) * mean).sum()),
        "uniform": 1.0 / len(mean),  # every weight at the start of training
    }

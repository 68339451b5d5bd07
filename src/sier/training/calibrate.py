"""Temperature scaling (Guo et al. 2017): one number per fold model that makes its class
probabilities mean what they say, fitted on the fold's validation speakers.

After a fold has trained, its best model classifies the validation utterances (speakers in
neither its training nor its test set); the temperature T > 0 that minimises their negative
log-likelihood of softmax(logits / T) is stored in the checkpoint's meta, and every later use
of the checkpoint (test predictions, evaluation, predict/stream/serve, ONNX export) divides
the emotion logits by it. The argmax, and so every accuracy, UA and F1, is unchanged.
Off by default (`--calibrate`): with the few validation speakers of a fold, the fitted
temperature need not carry over to the test speakers (docs/training.md gives the demo's case).
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import Tensor

log = logging.getLogger(__name__)

MIN_UTTERANCES = 20  # fewer labelled validation utterances: no temperature is fitted (stays 1)
BOUNDS = (0.05, 20.0)  # the temperatures searched


def nll(logits: Tensor, labels: Tensor, temperature: float) -> float:
    """Mean negative log-likelihood of `labels` [N] under softmax(logits [N, C] / temperature)."""
    return float(torch.nn.functional.cross_entropy(logits.double() / temperature, labels))


def fit_temperature(logits: Tensor, labels: Tensor) -> float:
    """The T in BOUNDS that minimises `nll`. The NLL is convex in 1/T, so a bounded scalar
    search over 1/T finds the optimum."""
    from scipy.optimize import minimize_scalar

    low, high = BOUNDS
    result = minimize_scalar(lambda beta: nll(logits, labels, 1.0 / beta), bounds=(1.0 / high, 1.0 / low),
                             method="bounded", options={"xatol": 1e-5})
    return float(1.0 / result.x)


def calibrate_checkpoint(path: Any, val_set: Any, batch_size: int, device: Any = "cpu") -> dict[str, Any] | None:
    """Fit the temperature of the checkpoint at `path` on `val_set` (an UtteranceDataset of the
    fold's validation utterances; those of no class do not count) and store it in the
    checkpoint's meta ("temperature", and "calibration": n, NLL at T = 1 and at T). Returns
    that record, or None (and T stays 1) with fewer than MIN_UTTERANCES labelled utterances."""
    from sier.models.checkpoint import save_checkpoint
    from sier.models.pipeline import load_ser_model
    from sier.training.data import NO_CLASS, run_model

    model, ckpt = load_ser_model(path)
    model.temperature = 1.0  # the raw logits, also when an interrupted run had fitted one already
    model.to(device)
    logits, labels = [], []
    for batch, out in run_model(model, val_set, batch_size, device):
        logits.append(out["emotion_logits"].float().cpu())
        labels.append(batch["labels"])
    logits_t, labels_t = (torch.cat(logits), torch.cat(labels)) if logits else (torch.zeros(0, 1), torch.zeros(0))
    known = labels_t != NO_CLASS
    if int(known.sum()) < MIN_UTTERANCES:
        log.warning("%s: %d labelled validation utterances; no temperature fitted (probabilities stay raw)",
                    path, int(known.sum()))
        return None
    logits_t, labels_t = logits_t[known], labels_t[known].long()
    temperature = fit_temperature(logits_t, labels_t)
    record = {"n": int(known.sum()), "nll_raw": nll(logits_t, labels_t, 1.0),
              "nll": nll(logits_t, labels_t, temperature)}
    model.cpu()
    save_checkpoint(path, model.head, ckpt.model_config, {**ckpt.meta, "temperature": temperature,
                                                          "calibration": record}, upstream_top=model.upstream_top)
    return {"temperature": temperature, **record}

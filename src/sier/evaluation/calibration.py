"""Are the class probabilities worth their numbers? Calibration of a model's test predictions.

`sier predict`, `stream` and `serve` report probabilities, and users threshold them; a model
that says 0.9 and is right half the time misleads. Measured on the top class (the predicted
one), over equal-width confidence bins:

- ECE, expected calibration error: sum over bins of (share of rows) x |accuracy - mean confidence|;
- MCE, the largest such gap in a bin of at least MIN_BIN_ROWS rows;
- Brier score: mean over rows of sum_c (p_c - [c is the label])^2 (0 best, 2 worst);
- NLL: mean negative log-probability of the label (natural log);
- and per speaker, the ECE of each test speaker's rows, with mean, std (ddof=0) and worst:
  a model can be well calibrated on average and overconfident on the speakers it handles worst.

A model trained with `--calibrate` divides its logits by a temperature fitted on
each fold's validation speakers (sier.training.calibrate); given those temperatures, the ECE
and NLL of the raw softmax (T = 1) are reported beside, recovered from the probabilities:
softmax(T log p) is the raw softmax, since log p is the logits over T up to a constant.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from sier.evaluation.predictions import Predictions

BINS = 10
MIN_BIN_ROWS = 5  # a bin of fewer rows says little about its gap: left out of MCE
PROB_FLOOR = 1e-12  # keeps the log of a zero probability finite


def _bins(confidence: np.ndarray, correct: np.ndarray, bins: int) -> list[dict[str, Any]]:
    """Rows of each non-empty equal-width bin of (0, 1]: range, n, mean confidence, accuracy."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    rows = []
    for b in range(bins):
        inside = which == b
        if inside.any():
            rows.append({"low": float(edges[b]), "high": float(edges[b + 1]), "n": int(inside.sum()),
                         "confidence": float(confidence[inside].mean()), "accuracy": float(correct[inside].mean())})
    return rows


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = BINS) -> float:
    """ECE of top-class confidences [N] against whether the top class was right [N]; nan for N = 0."""
    if len(confidence) == 0:
        return float("nan")
    return float(sum(r["n"] * abs(r["accuracy"] - r["confidence"]) for r in _bins(confidence, correct, bins))
                 / len(confidence))


def raw_probabilities(table: Predictions, temperatures: Mapping[int, float]) -> np.ndarray:
    """[N, C] softmax of the logits before each row's fold temperature (T = 1 where not given)."""
    t = np.array([temperatures.get(int(k), 1.0) for k in table.fold], dtype=np.float64)[:, None]
    scaled = t * np.log(np.maximum(table.probs, PROB_FLOOR))
    scaled -= scaled.max(axis=1, keepdims=True)
    return np.exp(scaled) / np.exp(scaled).sum(axis=1, keepdims=True)


def _raw_figures(table: Predictions, temperatures: Mapping[int, float], bins: int) -> dict[str, Any]:
    """The temperatures, and the ECE and NLL the raw softmax would have had."""
    raw = raw_probabilities(table, temperatures)
    return {"temperatures": {int(k): float(v) for k, v in sorted(temperatures.items())},
            "ece_raw": expected_calibration_error(raw.max(axis=1), table.correct.astype(float), bins),
            "nll_raw": _nll(raw, _onehot(table))}


def _onehot(table: Predictions) -> np.ndarray:
    return np.asarray(table.label, dtype=object)[:, None] == np.asarray(table.classes, dtype=object)[None, :]


def _nll(probs: np.ndarray, onehot: np.ndarray) -> float:
    """Mean negative log-probability of the labels (rows of `onehot`); nan for no rows."""
    return float(-np.log(np.maximum((probs * onehot).sum(axis=1), PROB_FLOOR)).mean()) if len(probs) else float("nan")


def calibration(table: Predictions, bins: int = BINS, temperatures: Mapping[int, float] | None = None) -> dict[str, Any]:
    """The figures of the module docstring for a table of labelled rows (see Predictions.labelled);
    `temperatures` (fold -> T) of a calibrated model add the raw softmax's ECE and NLL."""
    confidence, correct = table.probs.max(axis=1), table.correct.astype(float)
    rows = _bins(confidence, correct, bins)
    onehot = _onehot(table)
    per_speaker = {str(s): expected_calibration_error(*(a[table.speaker == s] for a in (confidence, correct)), bins)
                   for s in sorted(set(table.speaker.tolist()))}
    values = np.array(list(per_speaker.values()), dtype=float)
    worst = max(per_speaker, key=per_speaker.get) if per_speaker else None
    raw = _raw_figures(table, temperatures, bins) if temperatures and len(table) else {}
    return {
        **raw,
        "n": len(table),
        "bins": rows,
        "ece": expected_calibration_error(confidence, correct, bins),
        "mce": max((abs(r["accuracy"] - r["confidence"]) for r in rows if r["n"] >= MIN_BIN_ROWS),
                   default=float("nan")),
        "brier": float(((table.probs - onehot) ** 2).sum(axis=1).mean()) if len(table) else float("nan"),
        "nll": _nll(table.probs, onehot),
        "mean_confidence": float(confidence.mean()) if len(table) else float("nan"),
        "accuracy": float(correct.mean()) if len(table) else float("nan"),
        "per_speaker": per_speaker,
        "speaker_ece": {"mean": float(values.mean()) if values.size else float("nan"),
                        "std": float(values.std()) if values.size else float("nan"),
                        "worst": worst, "max": float(values.max()) if values.size else float("nan")},
    }

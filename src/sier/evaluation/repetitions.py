"""Repeated training runs of one model (other seeds, same data and folds): how far its results
move from run to run, and whether two models differ by more than that.

Speech emotion results move by a point or more of UA between seeds, often as much as the
gain a paper claims. So `sier evaluate` takes several experiments per model, one per
repetition. For each it computes the pooled WA, UA and macro-F1 and the spread of UA over
speakers, then their mean and sample standard deviation (ddof=1: the repetitions are a
sample of what another seed would give, unlike folds, which partition the data). Two models
with two or more repetitions each are compared by Welch's t-test per quantity, which does not
assume equal variance; with three repetitions per model it only detects large differences,
and the report says how many runs it rests on.
"""

from __future__ import annotations

import warnings
from typing import Any, Sequence

import numpy as np

from sier.evaluation.metrics import table_metrics
from sier.evaluation.predictions import Predictions
from sier.evaluation.speakers import group_table, spread

# quantity -> which direction is better
REPEAT_QUANTITIES = {"wa": "higher", "ua": "higher", "macro_f1": "higher", "speaker_ua_std": "lower",
                     "speaker_ua_min": "higher"}
QUANTITY_LABELS = {"wa": "WA", "ua": "UA", "macro_f1": "macro-F1", "speaker_ua_std": "UA std over speakers",
                   "speaker_ua_min": "worst speaker UA"}


def repetition_row(table: Predictions) -> dict[str, Any]:
    """The pooled WA, UA, macro-F1 of one repetition, and the std and minimum of its per-speaker UA."""
    pooled = table_metrics(table)
    speakers = spread(group_table(table, "speaker"), "ua")
    return {"n": pooled["n"], "wa": pooled["wa"], "ua": pooled["ua"], "macro_f1": pooled["macro_f1"],
            "speaker_ua_std": speakers.get("std", np.nan), "speaker_ua_min": speakers.get("min", np.nan)}


def summarize_repetitions(tables: Sequence[Predictions], sources: Sequence[str]) -> dict[str, Any]:
    """{"n": k, "per_repetition": [{"source", "n", quantity...}], "mean": {quantity: x},
    "std": {quantity: x (ddof=1; NaN for one repetition)}}."""
    rows = [{"source": str(src), **repetition_row(t)} for src, t in zip(sources, tables)]
    values = {q: np.array([r[q] for r in rows], dtype=float) for q in REPEAT_QUANTITIES}
    return {
        "n": len(rows),
        "per_repetition": rows,
        "mean": {q: float(np.mean(v)) for q, v in values.items()},
        "std": {q: float(np.std(v, ddof=1)) if len(v) > 1 else float("nan") for q, v in values.items()},
    }


def compare_repetitions(original: dict[str, Any], enhanced: dict[str, Any]) -> list[dict[str, Any]]:
    """Per quantity: both means, the delta (enhanced - original), Welch's t-test p-value and the
    better model (by the means; None on a tie). Needs two or more repetitions of each model."""
    from scipy.stats import ttest_ind

    if original["n"] < 2 or enhanced["n"] < 2:
        raise ValueError("comparing repetitions needs two or more of each model")
    rows = []
    for q, direction in REPEAT_QUANTITIES.items():
        a = np.array([r[q] for r in original["per_repetition"]], dtype=float)
        b = np.array([r[q] for r in enhanced["per_repetition"]], dtype=float)
        delta = float(b.mean() - a.mean())
        with warnings.catch_warnings():  # runs that do not differ at all: NaN, not a warning
            warnings.simplefilter("ignore", RuntimeWarning)
            p = float(ttest_ind(b, a, equal_var=False).pvalue)
        better = None if delta == 0 else ("enhanced" if (delta > 0) == (direction == "higher") else "original")
        rows.append({"quantity": q, "original_mean": float(a.mean()), "enhanced_mean": float(b.mean()),
                     "delta": delta, "p_welch": p, "better_is": direction, "better": better,
                     "n_original": len(a), "n_enhanced": len(b)})
    return rows

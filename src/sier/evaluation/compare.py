"""Original vs enhanced: deltas of every headline number and two paired tests.

- McNemar on the utterances both models classified: it counts the discordant pairs
  (right by one model, wrong by the other). With fewer than `EXACT_BELOW` discordant
  pairs the p-value is the exact two-sided binomial test; otherwise the chi-square
  statistic with continuity correction (1 degree of freedom).
- A bootstrap over speakers of the UA difference (enhanced - original): speakers are
  drawn with replacement, all their utterances come along, and UA of both models is
  computed on the same draw; the percentile interval is the confidence interval. With
  10 speakers the interval is coarse; it says how much the result depends on who speaks.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from sier.corpora.dimensions import DIMENSIONS
from sier.errors import EvaluationError
from sier.evaluation.predictions import Predictions, average_over_folds

log = logging.getLogger(__name__)

EXACT_BELOW = 25  # discordant pairs below which McNemar uses the exact binomial test
DEFAULT_BOOTSTRAP = 2000


def align(a: Predictions, b: Predictions, same_classes: bool = True) -> tuple[Predictions, Predictions]:
    """Rows of `a` and `b` for the (fold, utterance id) pairs both hold, in the same order.
    (Pairs, not ids: in a cross-corpus evaluation every fold's model classified every utterance.)
    `same_classes`: refuse models of other classes (not where only their dimensions are compared)."""
    if same_classes and set(a.classes) != set(b.classes):
        raise EvaluationError(
            f"the models predict different classes ({list(a.classes)} vs {list(b.classes)}); "
            "compare models trained with the same label map."
        )
    index_b = {(int(k), uid): i for i, (k, uid) in enumerate(zip(b.fold, b.ids))}
    keys_a = [(int(k), uid) for k, uid in zip(a.fold, a.ids)]
    ia = np.array([i for i, key in enumerate(keys_a) if key in index_b], dtype=int)
    ib = np.array([index_b[keys_a[i]] for i in ia], dtype=int)
    if ia.size == 0:
        raise EvaluationError("the two models share no test utterance; were they evaluated on the same data?")
    return a.subset(ia), b.subset(ib)


def mcnemar(correct_a: np.ndarray, correct_b: np.ndarray) -> dict[str, Any]:
    """Paired McNemar test of two models' per-utterance correctness ([N] bool each)."""
    from scipy.stats import binomtest, chi2

    correct_a = np.asarray(correct_a, dtype=bool)
    correct_b = np.asarray(correct_b, dtype=bool)
    only_a = int(np.sum(correct_a & ~correct_b))
    only_b = int(np.sum(~correct_a & correct_b))
    discordant = only_a + only_b
    if discordant == 0:
        method, statistic, p = "none (no discordant pairs)", 0.0, 1.0
    elif discordant < EXACT_BELOW:
        method, statistic = "exact binomial", float(min(only_a, only_b))
        p = float(binomtest(min(only_a, only_b), discordant, 0.5).pvalue)
    else:
        method = "chi-square with continuity correction"
        statistic = float((abs(only_a - only_b) - 1) ** 2 / discordant)
        p = float(chi2.sf(statistic, df=1))
    return {
        "n": int(correct_a.size),
        "both_right": int(np.sum(correct_a & correct_b)),
        "only_original_right": only_a,
        "only_enhanced_right": only_b,
        "both_wrong": int(np.sum(~correct_a & ~correct_b)),
        "method": method,
        "statistic": statistic,
        "p_value": p,
    }


def _speaker_counts(table: Predictions, speakers: list[str], classes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """[S, C] utterances per speaker and class, and [S, C] of them classified right."""
    s_index = {s: i for i, s in enumerate(speakers)}
    c_index = {c: i for i, c in enumerate(classes)}
    total = np.zeros((len(speakers), len(classes)))
    right = np.zeros((len(speakers), len(classes)))
    rows = np.array([s_index[s] for s in table.speaker], dtype=int)
    cols = np.array([c_index[c] for c in table.label], dtype=int)
    np.add.at(total, (rows, cols), 1)
    np.add.at(right, (rows, cols), table.correct.astype(float))
    return total, right


def _ua_from_counts(total: np.ndarray, right: np.ndarray) -> np.ndarray:
    """UA per row of [B, C] class totals and right counts: mean recall over present classes."""
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(total > 0, right / np.where(total > 0, total, 1), np.nan)
    return np.nanmean(recall, axis=-1)


def bootstrap_ua_difference(
    original: Predictions, enhanced: Predictions, n_boot: int = DEFAULT_BOOTSTRAP,
    confidence: float = 0.95, seed: int = 0,
) -> dict[str, Any]:
    """Bootstrap over speakers of UA(enhanced) - UA(original) on aligned tables.

    Returns delta (observed, on all speakers), ci_low/ci_high (percentile interval),
    p_value (two-sided: twice the smaller share of draws on either side of 0, at most 1),
    n_speakers, n_boot, confidence.
    """
    if not (np.array_equal(original.ids, enhanced.ids) and np.array_equal(original.fold, enhanced.fold)):
        original, enhanced = align(original, enhanced)
    speakers = sorted(set(original.speaker.tolist()))
    classes = sorted(set(original.label.tolist()))
    total, right_o = _speaker_counts(original, speakers, classes)
    _, right_e = _speaker_counts(enhanced, speakers, classes)
    delta = float(_ua_from_counts(total.sum(0), right_e.sum(0)) - _ua_from_counts(total.sum(0), right_o.sum(0)))
    rng = np.random.default_rng(seed)
    # weights[b, s]: how often speaker s is drawn in bootstrap sample b
    weights = rng.multinomial(len(speakers), np.full(len(speakers), 1 / len(speakers)), size=n_boot).astype(float)
    draws = _ua_from_counts(weights @ total, weights @ right_e) - _ua_from_counts(weights @ total, weights @ right_o)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(draws, [alpha, 1 - alpha])
    p = min(1.0, 2 * min(np.mean(draws <= 0), np.mean(draws >= 0)))
    return {
        "delta": delta, "ci_low": float(low), "ci_high": float(high), "p_value": float(p),
        "n_speakers": len(speakers), "n_boot": int(n_boot), "confidence": confidence,
    }


def bootstrap_ua(table: Predictions, n_boot: int = DEFAULT_BOOTSTRAP, confidence: float = 0.95,
                 seed: int = 0) -> dict[str, Any]:
    """A percentile interval of one model's pooled UA from a bootstrap over its test speakers
    (all of a drawn speaker's utterances come along): how much the score depends on who speaks.
    Returns ua (on all speakers), ci_low, ci_high, n_speakers, n_boot, confidence."""
    speakers = sorted(set(table.speaker.tolist()))
    classes = sorted(set(table.label.tolist()))
    total, right = _speaker_counts(table, speakers, classes)
    ua = float(_ua_from_counts(total.sum(0), right.sum(0)))
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(len(speakers), np.full(len(speakers), 1 / len(speakers)), size=n_boot).astype(float)
    alpha = (1 - confidence) / 2
    low, high = np.nanquantile(_ua_from_counts(weights @ total, weights @ right), [alpha, 1 - alpha])
    return {"ua": ua, "ci_low": float(low), "ci_high": float(high), "n_speakers": len(speakers),
            "n_boot": int(n_boot), "confidence": confidence}


def _paired_mcnemar(a: Predictions, b: Predictions) -> dict[str, Any]:
    """McNemar on aligned tables. Where the same utterance comes once per fold model
    (cross-corpus), its pairs are not independent: the test then runs once per utterance,
    on each model's probabilities averaged over its fold models."""
    once_a, once_b = average_over_folds(a), average_over_folds(b)
    result = mcnemar(once_a.correct, once_b.correct)
    if once_a is not a:
        result["on"] = "each utterance once, with the fold models' probabilities averaged"
    return result


def _delta(a: float, b: float) -> float:
    return float(b - a)


def _dimension_quantities(original: dict[str, Any], enhanced: dict[str, Any]) -> list[tuple]:
    """Comparison rows of the dimensions: pooled CCC and its spread over speakers; none when the
    models scored other utterances (one trained with all_rated, the other not): their CCCs
    would not compare."""
    counts = [tuple(d["pooled"][name]["n"] for name in DIMENSIONS) for d in (original, enhanced)]
    if counts[0] != counts[1]:
        log.warning("the models' dimensions were scored on different utterances (rated counts %s original, %s "
                    "enhanced; one trained with --all_rated?): their CCCs are not compared", counts[0], counts[1])
        return []
    rows = []
    for name in DIMENSIONS:
        rows.append((f"CCC x 100 {name} (pooled)", original["pooled"][name]["ccc"], enhanced["pooled"][name]["ccc"],
                     "higher"))
        rows.append((f"per-speaker CCC x 100 {name} std", original["speaker_spread"][name]["std"],
                     enhanced["speaker_spread"][name]["std"], "lower"))
    return rows


def compare(original: dict[str, Any], enhanced: dict[str, Any], pred_original: Predictions,
            pred_enhanced: Predictions, n_boot: int = DEFAULT_BOOTSTRAP, seed: int = 0) -> dict[str, Any]:
    """Deltas (enhanced - original) of the headline numbers of two `analyse` results, and the paired tests.

    `original` / `enhanced` are the per-model analysis dicts written to evaluation.json
    (keys "metrics", "speakers", "probe"). Returns {"rows": [{quantity, original,
    enhanced, delta, better}], "mcnemar": ..., "bootstrap_ua": ..., "n_paired": N, "same_utterances": bool,
    "n_original", "n_enhanced"}. The deltas compare each model's own test set; only when
    `same_utterances` are those the same utterances (e.g. not when one model covers fewer folds).
    """
    a, b = align(pred_original, pred_enhanced)
    quantities = []
    for scope in ("pooled", "over_folds"):
        for m in ("wa", "ua", "macro_f1", "weighted_f1"):
            va = original["metrics"][scope][m]
            vb = enhanced["metrics"][scope][m]
            va, vb = (va["mean"], vb["mean"]) if scope == "over_folds" else (va, vb)
            quantities.append((f"{m} ({'pooled' if scope == 'pooled' else 'mean over folds'})", va, vb, "higher"))
    for m in ("std", "spread", "min"):
        quantities.append((f"per-speaker UA {m}", original["speakers"]["speaker_spread"]["ua"].get(m, np.nan),
                           enhanced["speakers"]["speaker_spread"]["ua"].get(m, np.nan),
                           "higher" if m == "min" else "lower"))
    quantities.append(("per-class F1 std", original["speakers"]["class_balance"].get("f1_std", np.nan),
                       enhanced["speakers"]["class_balance"].get("f1_std", np.nan), "lower"))
    quantities.append(("speaker probe accuracy - chance", original["probe"]["above_chance"]["mean"],
                       enhanced["probe"]["above_chance"]["mean"], "lower"))
    if "dimensions" in original and "dimensions" in enhanced:  # both trained with the dimension head
        quantities += _dimension_quantities(original["dimensions"], enhanced["dimensions"])
    rows = []
    for name, va, vb, direction in quantities:
        d = _delta(va, vb)
        better = None if not np.isfinite(d) or d == 0 else ("enhanced" if (d > 0) == (direction == "higher") else "original")
        rows.append({"quantity": name, "original": float(va), "enhanced": float(vb), "delta": d,
                     "better_is": direction, "better": better})
    same = len(a) == len(pred_original) == len(pred_enhanced)
    if not same:
        log.warning("the models were evaluated on different utterances (%d original, %d enhanced, %d common); "
                    "the deltas compare different test sets, the paired tests use the common ones",
                    len(pred_original), len(pred_enhanced), len(a))
    return {
        "rows": rows,
        "same_utterances": same,
        "n_original": len(pred_original),
        "n_enhanced": len(pred_enhanced),
        "n_paired": len(a),
        "mcnemar": _paired_mcnemar(a, b),
        "bootstrap_ua": bootstrap_ua_difference(a, b, n_boot=n_boot, seed=seed),
    }

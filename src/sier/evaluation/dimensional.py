"""The analysis of models of the dimensions only (`sier train --task dimensions`): how well each
predicts arousal, valence and dominance on speakers it never heard, and how much that
depends on the speaker.

Per model: the CCC of each dimension pooled over the rated test utterances, with a percentile
interval from a bootstrap over test speakers (all of a drawn speaker's utterances come along);
per fold; per speaker, gender and session (and corpus, language where the test data mixes
them) with the spread over speakers. Original vs enhanced: the difference of the pooled CCCs
on the utterances both scored, with a paired bootstrap over speakers (the same draw for both
models). A classifier with the dimension head can be compared with such a model: only its
dimensions are read.

The CCC of a weighted sample follows from six sums per speaker (n, sums of x, y, x², y², xy),
so every bootstrap draw is a matrix product, exact and fast.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from sier.corpora.dimensions import DIMENSIONS
from sier.evaluation.dimensions import dimension_scores
from sier.evaluation.predictions import Predictions

CONFIDENCE = 0.95


def rated_rows(table: Predictions, d: int) -> np.ndarray:
    """[N] bool: the rows rated for dimension `d`."""
    return np.isfinite(table.rated[:, d])


def _speaker_sums(table: Predictions, d: int, speakers: Sequence[str]) -> np.ndarray:
    """[S, 6]: per speaker, the count and the sums of x, y, x², y², xy over its rated rows
    (x predicted, y rated)."""
    sums = np.zeros((len(speakers), 6))
    index = {s: i for i, s in enumerate(speakers)}
    known = rated_rows(table, d)
    x, y = table.dims[known, d], table.rated[known, d]
    rows = np.array([index[s] for s in table.speaker[known]], dtype=int)
    for j, values in enumerate((np.ones_like(x), x, y, x * x, y * y, x * y)):
        np.add.at(sums[:, j], rows, values)
    return sums


def ccc_from_sums(sums: np.ndarray) -> np.ndarray:
    """CCC with population moments (as sier.training.metrics.concordance) from summed [..., 6]."""
    n, sx, sy, sxx, syy, sxy = np.moveaxis(sums, -1, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mx, my = sx / n, sy / n
        vx, vy, cov = sxx / n - mx**2, syy / n - my**2, sxy / n - mx * my
        return np.where(n >= 2, 2 * cov / (vx + vy + (mx - my) ** 2), np.nan)


def _draws(n_speakers: int, n_boot: int, seed: int) -> np.ndarray:
    """[B, S]: how often each speaker is drawn in each bootstrap sample."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n_speakers, np.full(n_speakers, 1 / n_speakers), size=n_boot).astype(float)


def _interval(values: np.ndarray) -> tuple[float, float]:
    alpha = (1 - CONFIDENCE) / 2
    low, high = np.nanquantile(values, [alpha, 1 - alpha])
    return float(low), float(high)


def bootstrap_ccc(table: Predictions, n_boot: int, seed: int = 0) -> dict[str, dict[str, float]]:
    """{dimension: {"ccc", "ci_low", "ci_high"}}: the pooled CCC and its interval over test speakers."""
    speakers = sorted(set(table.speaker.tolist()))
    weights = _draws(len(speakers), n_boot, seed)
    out = {}
    for d, name in enumerate(DIMENSIONS):
        sums = _speaker_sums(table, d, speakers)
        low, high = _interval(ccc_from_sums(weights @ sums))
        out[name] = {"ccc": float(ccc_from_sums(sums.sum(0))), "ci_low": low, "ci_high": high}
    return out


def fold_ccc(table: Predictions) -> dict[str, Any]:
    """{"folds": {fold: {"n", <dimension>: ccc}}, "over_folds": {dimension: {"mean", "std"}}} (std ddof=0)."""
    from sier.evaluation.dimensions import pooled_ccc

    folds = {}
    for k in table.folds():
        part = table.subset(table.fold == k)
        folds[k] = {"n": int(np.isfinite(part.rated).any(axis=1).sum()), **(pooled_ccc(part) or {})}
    over = {}
    for name in DIMENSIONS:
        values = np.array([f.get(name, np.nan) for f in folds.values()], dtype=float)
        values = values[np.isfinite(values)]
        over[name] = {"mean": float(values.mean()) if len(values) else float("nan"),
                      "std": float(values.std()) if len(values) else float("nan")}
    return {"folds": folds, "over_folds": over}


def analyse_dimensions(table: Predictions, n_boot: int, seed: int = 0) -> dict[str, Any]:
    """The dimensional scores of one model's test rows: dimension_scores (pooled, per speaker and
    group, spread over speakers), the bootstrap interval, and the scores per fold."""
    scores = dimension_scores(table) or {}
    return {**scores, "interval": bootstrap_ccc(table, n_boot, seed), **fold_ccc(table)}


def compare_dimensions(original: Predictions, enhanced: Predictions, n_boot: int, seed: int = 0) -> dict[str, Any]:
    """Per dimension: the pooled CCC of both models on the utterances both scored, the difference
    (enhanced - original), its paired bootstrap interval over speakers and a two-sided p (twice
    the smaller share of draws on either side of 0), and the std of the per-speaker CCC of each."""
    from sier.evaluation.compare import align

    a, b = align(original, enhanced, same_classes=False)
    speakers = sorted(set(a.speaker.tolist()))
    weights = _draws(len(speakers), n_boot, seed)
    spread = {n: (dimension_scores(t) or {}).get("speaker_spread", {}) for n, t in (("original", a), ("enhanced", b))}
    rows = []
    for d, name in enumerate(DIMENSIONS):
        both = rated_rows(a, d) & rated_rows(b, d)
        sa, sb = _speaker_sums(a.subset(both), d, speakers), _speaker_sums(b.subset(both), d, speakers)
        draws = ccc_from_sums(weights @ sb) - ccc_from_sums(weights @ sa)
        low, high = _interval(draws)
        finite = draws[np.isfinite(draws)]
        p = min(1.0, 2 * min(np.mean(finite <= 0), np.mean(finite >= 0))) if len(finite) else float("nan")
        ccc_a, ccc_b = float(ccc_from_sums(sa.sum(0))), float(ccc_from_sums(sb.sum(0)))
        rows.append({"dimension": name, "n": int(both.sum()), "original": ccc_a, "enhanced": ccc_b,
                     "delta": ccc_b - ccc_a, "ci_low": low, "ci_high": high, "p_value": float(p),
                     "speaker_std_original": spread["original"].get(name, {}).get("std", float("nan")),
                     "speaker_std_enhanced": spread["enhanced"].get(name, {}).get("std", float("nan"))})
    return {"rows": rows, "n_speakers": len(speakers), "n_boot": int(n_boot), "confidence": CONFIDENCE,
            "n_original": len(original), "n_enhanced": len(enhanced), "n_paired": len(a)}

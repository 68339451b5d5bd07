"""Scores of predicted emotion dimensions: the concordance (CCC) of arousal, valence and
dominance with their ratings, pooled over the test utterances and per test speaker.

Only a model trained with `dimension_weight` > 0 predicts them, and only utterances of a
corpus that rates them count (IEMOCAP, MSP-IMPROV, MSP-Podcast). CCC is computed on the
common 0..1 scale (sier.corpora.dimensions), which leaves each corpus's CCC unchanged.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sier.corpora.dimensions import DIMENSIONS
from sier.evaluation.predictions import Predictions

MIN_PER_SPEAKER = 2  # a CCC needs two values; fewer leave the speaker out of the spread


def _ccc(pred: np.ndarray, rated: np.ndarray) -> tuple[float, int]:
    """(CCC, n) over the rows with a rating."""
    import torch

    from sier.training.metrics import concordance

    known = ~np.isnan(rated)
    return float(concordance(torch.as_tensor(pred[known]), torch.as_tensor(rated[known]))), int(known.sum())


def _has_ratings(table: Predictions) -> bool:
    return table.dims is not None and bool(np.isfinite(table.rated).any())


def pooled_ccc(table: Predictions) -> dict[str, float] | None:
    """{dimension: CCC over the rated test utterances}; None as for `dimension_scores`."""
    if not _has_ratings(table):
        return None
    return {name: _ccc(table.dims[:, d], table.rated[:, d])[0] for d, name in enumerate(DIMENSIONS)}


def dimension_scores(table: Predictions) -> dict[str, Any] | None:
    """{"pooled": {dimension: {"ccc", "n"}}, "per_speaker": [{"group", "n", <dimension>: ccc}],
    "speaker_spread": {dimension: {"mean", "std", "min", "speakers"}}, and "per_<key>" rows as
    per_speaker's for gender, session and (where the table mixes them) corpus, language,
    recording}; None for a table without predicted dimensions or without a rated utterance."""
    from sier.evaluation.speakers import group_column, group_keys

    if not _has_ratings(table):
        return None
    pooled = {}
    for d, name in enumerate(DIMENSIONS):
        ccc, n = _ccc(table.dims[:, d], table.rated[:, d])
        pooled[name] = {"ccc": ccc, "n": n}
    groups = {f"per_{key}": _group_rows(table, group_column(table, key)) for key in group_keys(table)}
    per_speaker = groups["per_speaker"]
    spread = {}
    for name in DIMENSIONS:
        values = np.array([r[name] for r in per_speaker], dtype=np.float64)
        values = values[np.isfinite(values)]
        spread[name] = {"mean": float(values.mean()) if len(values) else float("nan"),
                        "std": float(values.std()) if len(values) else float("nan"),
                        "min": float(values.min()) if len(values) else float("nan"),
                        "speakers": int(len(values))}
    return {"pooled": pooled, **groups, "speaker_spread": spread}


def _group_rows(table: Predictions, column: np.ndarray) -> list[dict[str, Any]]:
    """One row per value of `column`: group, n (rated rows), CCC of each dimension (NaN below
    MIN_PER_SPEAKER rated rows)."""
    out = []
    for group in sorted(set(column.tolist()), key=str):
        rows = column == group
        row: dict[str, Any] = {"group": group, "n": int(np.isfinite(table.rated[rows]).any(axis=1).sum())}
        for d, name in enumerate(DIMENSIONS):
            ccc, n = _ccc(table.dims[rows, d], table.rated[rows, d])
            row[name] = ccc if n >= MIN_PER_SPEAKER else float("nan")
        out.append(row)
    return out

"""How evenly a model does across speakers, genders, sessions and (when mixed) corpora, languages
and kinds of recording (IEMOCAP's improvised and scripted dialogs, MSP-IMPROV's recording types).

A speaker-independent model should not only score well on average but score alike on
every unseen speaker: the spread (max - min) and the variance of per-speaker UA are the
numbers to compare, next to the worst speaker, and the balance of per-class F1.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sier.evaluation.metrics import table_metrics
from sier.evaluation.predictions import Predictions

GROUP_KEYS = ("speaker", "gender", "session")
ALL_GROUP_KEYS = GROUP_KEYS + ("corpus", "language", "recording")  # the last three only where a table mixes them
GROUP_METRICS = ("wa", "ua", "macro_f1")


def group_table(table: Predictions, key: str) -> list[dict[str, Any]]:
    """One row per value of `key` (one of ALL_GROUP_KEYS): group, n, WA,
    UA, macro-F1. Sessions are numbers, or partition names for a corpus whose sessions are its
    own partitions (MSP-Podcast's "Test1"); where the table holds several corpora, each corpus
    numbers its own, so a session is named "<corpus> <number or name>"."""
    column = group_column(table, key)
    rows = []
    for value in sorted(set(column.tolist())):
        m = table_metrics(table.subset(column == value))
        rows.append({"group": value, "n": m["n"], **{k: m[k] for k in GROUP_METRICS}})
    return rows


def group_column(table: Predictions, key: str) -> np.ndarray:
    """The group of every row: the table's column, session names (see `group_table`), or the
    language of the row's corpus and speaker."""
    from sier.corpora.registry import OFFICIAL_PARTITIONS, language_of
    from sier.corpora.subsets import recording_of

    if key == "language":
        return np.array([language_of(str(c), str(s)) for c, s in zip(table.corpus, table.speaker)], dtype=object)
    if key == "recording":
        return np.array([recording_of(str(c), str(i)) for c, i in zip(table.corpus, table.ids)], dtype=object)
    column = getattr(table, key)
    if key == "session":
        several = len(table.corpora()) > 1

        def name(corpus: str, session: int) -> int | str:
            named = OFFICIAL_PARTITIONS.get(corpus, {}).get(session, session)
            return f"{corpus} {named}" if several else named

        column = np.array([name(c, int(s)) for c, s in zip(table.corpus, column)], dtype=object)
    return column


def group_keys(table: Predictions) -> tuple[str, ...]:
    """The groups to report: GROUP_KEYS, "corpus" when the table holds several corpora,
    "language" when it holds several languages (pooled corpora, or ESD alone) and "recording"
    when it holds several kinds of recording (IEMOCAP's improvised and scripted dialogs)."""
    mixed = tuple(k for k in ALL_GROUP_KEYS[len(GROUP_KEYS):] if len(set(group_column(table, k).tolist())) > 1)
    return GROUP_KEYS + mixed


def spread(rows: list[dict[str, Any]], metric: str = "ua") -> dict[str, Any]:
    """Mean, std, variance (ddof=0), min/max with their groups and spread of `metric` over rows."""
    if not rows:
        return {"n_groups": 0}
    values = np.array([r[metric] for r in rows], dtype=float)
    worst, best = int(np.nanargmin(values)), int(np.nanargmax(values))
    return {
        "n_groups": len(rows),
        "mean": float(np.nanmean(values)),
        "std": float(np.nanstd(values)),
        "variance": float(np.nanvar(values)),
        "min": float(values[worst]),
        "max": float(values[best]),
        "spread": float(values[best] - values[worst]),
        "worst": rows[worst]["group"],
        "best": rows[best]["group"],
    }


def class_balance(metrics: dict[str, Any]) -> dict[str, Any]:
    """Balance of per-class F1 in a `classification_metrics` result, over the classes with support:
    mean, std (ddof=0), min, max, range, worst and best class."""
    per_class = [c for c in metrics["per_class"] if c["support"] > 0]
    if not per_class:
        return {}
    f1 = np.array([c["f1"] for c in per_class])
    worst, best = int(f1.argmin()), int(f1.argmax())
    return {
        "n_classes": len(per_class),
        "f1_mean": float(f1.mean()),
        "f1_std": float(f1.std()),
        "f1_min": float(f1.min()),
        "f1_max": float(f1.max()),
        "f1_range": float(f1.max() - f1.min()),
        "worst_class": per_class[worst]["class"],
        "best_class": per_class[best]["class"],
    }


def speaker_analysis(table: Predictions) -> dict[str, Any]:
    """Per speaker / gender / session (/ corpus, / language, / recording, when several) tables, their spread
    in WA/UA/F1, and per-class F1 balance.

    Returns {"per_speaker": rows, "per_gender": rows, "per_session": rows, ["per_corpus": rows,
    "per_language": rows,]
    "speaker_spread": {metric: spread}, "gender_spread": ..., "session_spread": ..., [...]
    "class_balance": {...}} (class balance of the pooled table).
    """
    out: dict[str, Any] = {}
    for key in group_keys(table):
        rows = group_table(table, key)
        out[f"per_{key}"] = rows
        out[f"{key}_spread"] = {m: spread(rows, m) for m in GROUP_METRICS}
    out["class_balance"] = class_balance(table_metrics(table))
    return out

"""Perceived emotion dimensions (arousal, valence, dominance): each corpus's scale, and the
common 0..1 scale that models learn and are scored on.

IEMOCAP and MSP-IMPROV rate each dimension from 1 to 5, MSP-Podcast from 1 to 7; the
manifest keeps the corpus's own values, and (value - low) / (high - low) puts every
corpus on 0..1 so that pooled corpora share one target. The concordance correlation
coefficient, the usual score of dimensional SER, is unchanged by mapping predictions and
targets to another scale together, so scores on 0..1 are scores on the corpus's scale.
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

from sier.corpora.records import DIMENSION_FIELDS, Utterance

DIMENSIONS = DIMENSION_FIELDS  # ("arousal", "valence", "dominance")
SCALES: dict[str, tuple[float, float]] = {"iemocap": (1.0, 5.0), "mspimprov": (1.0, 5.0), "msppodcast": (1.0, 7.0)}
# Columns of the predictions tables (training writes them, evaluation reads them), on 0..1.
PRED_DIMENSIONS = tuple(f"pred_{d}" for d in DIMENSIONS)
RATED_DIMENSIONS = tuple(f"rated_{d}" for d in DIMENSIONS)


def parse_value(text: str | None) -> float | None:
    """A rating as a float; None for an empty or non-finite entry (MSP-IMPROV writes NaN)."""
    try:
        value = float(text) if text is not None and text.strip() else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) else None


def normalized(utt: Utterance) -> tuple[float, float, float]:
    """(arousal, valence, dominance) of `utt` on 0..1; NaN where unknown or the corpus has no scale."""
    low, high = SCALES.get(utt.corpus, (math.nan, math.nan))
    return tuple(math.nan if v is None else (v - low) / (high - low) for v in utt.dimensions)  # type: ignore[return-value]


def has_rating(utt: Utterance) -> bool:
    """True when `utt` carries at least one dimension, of a corpus whose scale sier knows."""
    return utt.corpus in SCALES and any(v is not None for v in utt.dimensions)


def rated(utterances: Iterable[Utterance]) -> int:
    """How many of `utterances` carry at least one dimension of a corpus with a scale."""
    return sum(1 for u in utterances if has_rating(u))


def dimension_cells(dims: Sequence[float], rated: Sequence[float]) -> list[str]:
    """The pred_<dimension> and rated_<dimension> cells of one row (an unknown rating is empty)."""
    return [repr(float(v)) for v in dims] + ["" if math.isnan(v) else repr(float(v)) for v in rated]

"""Speaker probe: how much speaker identity is left in a model's utterance embeddings.

A logistic regression (on standardised embeddings) learns to tell the speakers apart,
scored by stratified k-fold cross-validation. Near chance (the majority speaker's share)
means the embedding carries little speaker information; the adversarial head aims there.

The probe runs per fold: each fold's model embeds speakers it never trained on (its
validation and test speakers, as `sier evaluate` passes them) in its own embedding space.
Pooling the folds would mix spaces of different models, so a probe could tell speakers apart
by which model embedded them. With the `session` protocol that is four speakers, two of each
gender, so the probe must also tell apart speakers of the same gender (with the test
speakers alone, two of different gender, it would read gender only). A fold with a single
speaker has nothing to tell apart and is skipped.

Large test sets (MSP-Podcast's hundreds of speakers, CREMA-D's 91) are cut to what a probe
can fit: speakers with a single utterance cannot be cross-validated and are left out; above
MAX_SPEAKERS speakers the probe keeps those with the most utterances; above MAX_PER_SPEAKER
utterances a speaker keeps a seeded random subset. IEMOCAP-sized folds are probed whole.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping, Sequence

import numpy as np

from sier.evaluation.metrics import mean_std

log = logging.getLogger(__name__)

DEFAULT_SPLITS = 5
MAX_SPEAKERS = 24  # a probe over more classes costs much and says little more
MAX_PER_SPEAKER = 1000  # utterances per speaker (IEMOCAP's speakers have at most 651)


def probe_subset(speakers: Sequence[str], seed: int = 0) -> tuple[np.ndarray, int]:
    """Row indices the probe uses (see the module docstring), in order, and how many speakers
    with two or more utterances there were to choose from."""
    y = np.asarray(speakers, dtype=object).astype(str)
    count = dict(zip(*np.unique(y, return_counts=True)))
    usable = sorted((n for n, c in count.items() if c >= 2), key=lambda n: (-count[n], n))
    chosen = set(usable[:MAX_SPEAKERS])
    rng = np.random.default_rng(seed)
    keep = []
    for name in sorted(chosen):
        rows = np.flatnonzero(y == name)
        keep.append(rows if len(rows) <= MAX_PER_SPEAKER else rng.choice(rows, MAX_PER_SPEAKER, replace=False))
    return (np.sort(np.concatenate(keep)) if keep else np.zeros(0, dtype=int)), len(usable)


def speaker_probe(
    embeddings: np.ndarray, speakers: Sequence[str], n_splits: int = DEFAULT_SPLITS, seed: int = 0
) -> dict[str, Any] | None:
    """Cross-validated speaker-probe accuracy on `embeddings` [N, E], with its chance level.

    Probes the rows of `probe_subset`; uses min(n_splits, smallest speaker count) folds;
    returns None when fewer than 2 speakers have 2 or more utterances. Returned keys: n,
    n_speakers, n_speakers_available, cv_splits, accuracy, accuracy_std (over CV folds),
    balanced_accuracy, chance (share of the most frequent speaker), balanced_chance
    (1 / n_speakers), above_chance.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, balanced_accuracy_score
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rows, available = probe_subset(speakers, seed)
    x = np.asarray(embeddings, dtype=np.float64)[rows]
    y = np.asarray(speakers, dtype=object)[rows]
    names, counts = np.unique(y.astype(str), return_counts=True)
    if len(names) < 2:
        return None
    k = int(min(n_splits, counts.min()))
    cv = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    pred = np.empty(len(y), dtype=object)
    per_split = []
    for train, test in cv.split(x, y.astype(str)):
        model.fit(x[train], y[train].astype(str))
        pred[test] = model.predict(x[test])
        per_split.append(accuracy_score(y[test].astype(str), pred[test].astype(str)))
    accuracy = float(accuracy_score(y.astype(str), pred.astype(str)))
    chance = float(counts.max() / counts.sum())
    return {
        "n": int(len(y)),
        "n_speakers": int(len(names)),
        "n_speakers_available": int(available),
        "cv_splits": k,
        "accuracy": accuracy,
        "accuracy_std": float(np.std(per_split)),
        "balanced_accuracy": float(balanced_accuracy_score(y.astype(str), pred.astype(str))),
        "chance": chance,
        "balanced_chance": 1.0 / len(names),
        "above_chance": accuracy - chance,
    }


def probe_by_fold(
    embeddings: Mapping[int, np.ndarray], speakers: Mapping[int, Sequence[str]],
    n_splits: int = DEFAULT_SPLITS, seed: int = 0, population: str = "test speakers",
) -> dict[str, Any]:
    """`speaker_probe` on each fold's test embeddings; mean accuracy and chance over the probed folds.

    Returns {"per_fold": [{fold, ...probe}], "skipped": [{fold, reason}], "accuracy": {mean, std},
    "chance": {mean, std}, "above_chance": {mean, std}, "method": text}.
    """
    per_fold, skipped = [], []
    for fold in sorted(embeddings):
        result = speaker_probe(embeddings[fold], speakers[fold], n_splits, seed)
        if result is None:
            n = len(set(map(str, speakers[fold])))
            skipped.append({"fold": int(fold), "reason": f"{n} speaker(s), fewer than 2 of them with 2+ utterances"})
            log.info("speaker probe: fold %s skipped (%d speaker(s))", fold, n)
            continue
        per_fold.append({"fold": int(fold), **result})
    return {
        "per_fold": per_fold,
        "skipped": skipped,
        **{key: mean_std([r[key] for r in per_fold]) for key in
           ("accuracy", "chance", "above_chance", "balanced_accuracy", "balanced_chance")},
        "method": (
            "logistic regression on standardised embeddings, stratified "
            f"{n_splits}-fold CV (fewer when a speaker has fewer utterances), run per fold "
            f"on that fold's {population} (speakers with one utterance left out; at most {MAX_SPEAKERS} "
            f"speakers, those with the most utterances, and {MAX_PER_SPEAKER} utterances each); "
            "chance = share of the most frequent speaker"
        ),
    }

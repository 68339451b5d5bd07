"""Which classes a speaker, or a part of a fold, has: the gaps that make speaker-independent
figures mean less than they seem.

- A speaker who speaks one class only (URDU's speakers mostly do; nEMO's MK0 has no surprise)
  has a per-speaker accuracy that measures that class alone, and a fold that tests them
  confounds speaker with emotion. `single_class_speakers` says so when such speakers hold a
  good share of the utterances.
- A fold whose training part lacks a class cannot learn it; one whose test part lacks it
  scores it on no one. `class_gaps` names each such gap, fold by fold.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable, Sequence

from sier.corpora.records import Utterance

SINGLE_CLASS_SHARE = 0.1  # warn when speakers of one class hold at least this share of the utterances


def single_class_speakers(utterances: Sequence[Utterance], classes: Iterable[str]) -> str | None:
    """A warning when speakers whose utterances (of `classes`) are all of one class hold at least
    SINGLE_CLASS_SHARE of them, naming how many and a few; None otherwise, or with one class."""
    wanted = set(classes)
    by_speaker: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for u in utterances:
        if u.label in wanted:
            by_speaker[u.speaker][u.label] += 1
    if len({label for counts in by_speaker.values() for label in counts}) < 2:
        return None
    single = {s: next(iter(c)) for s, c in by_speaker.items() if len(c) == 1}
    held = sum(sum(by_speaker[s].values()) for s in single)
    total = sum(sum(c.values()) for c in by_speaker.values())
    if held < SINGLE_CLASS_SHARE * total:
        return None
    shown = ", ".join(f"{s}: {label}" for s, label in sorted(single.items())[:4]) + (", ..." if len(single) > 4 else "")
    return (f"{len(single)} of {len(by_speaker)} speakers speak one class only ({shown}; {held} of {total} utterances): their per-speaker scores measure that class alone, and a fold "
            "that tests them confounds speaker with emotion; compare per-class recall, or test on another corpus")


def class_gaps(folds: Sequence, utterances: Sequence[Utterance], classes: Iterable[str]) -> list[str]:
    """One line per fold part (train, val, test) that lacks a class of `classes` present in the
    `utterances`: "fold 3: train has no ang; test has no ang, sad"."""
    label_of = {u.id: u.label for u in utterances}
    present = [c for c in classes if c in set(label_of.values())]
    lines = []
    for fold in folds:
        gaps = []
        for part in ("train", "val", "test"):
            have = {label_of.get(i) for i in getattr(fold, part)}
            missing = [c for c in present if c not in have]
            if missing:
                gaps.append(f"{part} has no {', '.join(missing)}")
        if gaps:
            lines.append(f"fold {fold.index}: {'; '.join(gaps)}")
    return lines

"""CREMA-D (Crowd-sourced Emotional Multimodal Actors Dataset, English) reader for the layout of
its repository: `AudioWAV/*.wav` (7442 clips, 16 kHz) and `VideoDemographics.csv`.

A name says actor, sentence, emotion and level: `1001_DFA_ANG_XX.wav` is actor 1001, sentence
DFA ("Don't forget a jacket"), anger, level unspecified (LO, MD, HI or XX). Emotions: ANG, DIS,
FEA, HAP, NEU, SAD. The actors' sex comes from VideoDemographics.csv (ActorID, Age, Sex, ...).
The labels are the acted emotions, not the crowd's perception ratings.

Speaker groups ("sessions"): the 91 actors (48 men, 43 women) go round-robin into five
groups, women and men separately in actor order, so each group has eight or nine women and
nine or ten men. The `session` protocol gives five speaker-disjoint folds of about 18 actors;
the `speaker` protocol (91 folds) validates on the rest of the test actor's group.
"""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path

from sier.corpora.labels import CREMAD_RELEASE, LabelMap, get_label_map
from sier.corpora.named_files import (
    NamedFile,
    check_release_counts,
    deal_into_groups,
    read_named_files,
    wav_files,
)
from sier.corpora.records import PrepareResult
from sier.errors import CorpusError

CORPUS = "cremad"

FILE_NAME = re.compile(
    r"^(?P<actor>\d{4})_(?P<sentence>[A-Z]{3})_(?P<emotion>ANG|DIS|FEA|HAP|NEU|SAD)_(?P<level>LO|MD|HI|XX)$"
)
EMOTIONS = {"ANG": "ang", "DIS": "dis", "FEA": "fea", "HAP": "hap", "NEU": "neu", "SAD": "sad"}
DEMOGRAPHICS = "VideoDemographics.csv"
GROUPS = 5
ACTORS = 91


def find_root(root: str | os.PathLike) -> Path:
    """The folder holding AudioWAV/ and VideoDemographics.csv: `root` or its `CREMA-D` child."""
    root = Path(root)
    if not root.is_dir():
        raise CorpusError(f"{root}: not a directory; pass the CREMA-D folder (holding AudioWAV/) with --root.")
    for candidate in (root, root / "CREMA-D"):
        if (candidate / "AudioWAV").is_dir():
            return candidate
    raise CorpusError(
        f"{root}: not a CREMA-D tree; expected AudioWAV/ with files named like 1001_DFA_ANG_XX.wav and "
        f"{DEMOGRAPHICS} beside it (the layout of the CREMA-D repository)."
    )


def read_sexes(path: Path) -> dict[str, str]:
    """ActorID -> "F" / "M" from VideoDemographics.csv; CorpusError naming the file otherwise."""
    if not path.is_file():
        raise CorpusError(f"{path}: missing; CREMA-D's actor sexes come from it (it ships with the corpus "
                          "repository, beside AudioWAV/).")
    sexes = {}
    with path.open(newline="", encoding="utf-8-sig") as fh:
        for row in csv.DictReader(fh):
            actor, sex = (row.get("ActorID") or "").strip(), (row.get("Sex") or "").strip().lower()
            if actor and sex in ("female", "male"):
                sexes[actor] = "F" if sex == "female" else "M"
    if not sexes:
        raise CorpusError(f"{path}: no ActorID/Sex rows (Female or Male); is it CREMA-D's {DEMOGRAPHICS}?")
    return sexes


def read_cremad(root: str | os.PathLike, label_map: str | LabelMap = "cremad-4") -> PrepareResult:
    """Read a CREMA-D tree into Utterances under `label_map`, sorted by id."""
    lmap = get_label_map(label_map, CORPUS) if isinstance(label_map, str) else label_map
    base = find_root(root)
    sexes = read_sexes(base / DEMOGRAPHICS)
    groups = deal_into_groups(sexes, GROUPS)

    def parse(path: Path) -> NamedFile | None:
        m = FILE_NAME.match(path.stem)
        if not m or m["actor"] not in sexes:
            return None
        actor = m["actor"]
        return NamedFile(path.stem, f"crema{actor}", groups[actor], sexes[actor], EMOTIONS[m["emotion"]])

    result = read_named_files(wav_files(base / "AudioWAV"), parse, lmap, CORPUS)
    check_release_counts(result, lmap, CREMAD_RELEASE, ACTORS, "CREMA-D", "the CREMA-D release")
    return result

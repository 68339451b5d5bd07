"""URDU (Urdu) reader for its distributed layout.

The GitHub repository (siddiquelatif/URDU-Dataset) holds four emotion folders, `Angry`,
`Happy`, `Neutral`, `Sad`, of 100 wavs each (400 utterances of talk-show speech, 44.1 kHz;
sier resamples), named `SM1_F1_A01.wav`: speaker (S, gender M or F, number), the speaker's
file number within the emotion (F1), and the emotion letter with the file's number within
the emotion after a literal 0 (A01 ... A010 ... A0100). Emotions: A angry, H happy, N
neutral, S sad. Any folder layout below the root works.

The README speaks of 38 speakers (27 men, 11 women); the names hold 29 (SM8-SM16 never
appear), and most speakers speak one emotion only (all of Angry comes from four men). The
reader keeps the names' speakers; `sier prepare` warns about the confound of speaker and
emotion (sier.corpora.coverage), and the split names the classes its folds lack. URDU serves
best as a cross-corpus test set (`sier evaluate --test_manifest`), as its authors used it.

Speaker groups ("sessions"): women and men dealt round-robin into five groups.
"""

from __future__ import annotations

import os
import re

from sier.corpora.labels import URDU_RELEASE, LabelMap, get_label_map
from sier.corpora.named_files import check_release_counts, named_wavs_below, read_dealt_speakers
from sier.corpora.records import PrepareResult

CORPUS = "urdu"

FILE_NAME = re.compile(r"^(?P<speaker>S(?P<gender>[FM])\d+)_F(?P<file>\d+)_(?P<emotion>[AHNS])0(?P<index>\d+)$")
EMOTIONS = {"A": "ang", "H": "hap", "N": "neu", "S": "sad"}
GROUPS = 5
SPEAKERS = 29  # in the names of the release


def read_urdu(root: str | os.PathLike, label_map: str | LabelMap = "urdu-4") -> PrepareResult:
    """Read a URDU tree (every wav below `root`) into Utterances under `label_map`, sorted by id."""
    lmap = get_label_map(label_map, CORPUS) if isinstance(label_map, str) else label_map
    named = named_wavs_below(root, FILE_NAME, "URDU", "the URDU-Dataset folder (Angry, Happy, Neutral, Sad)",
                             "wavs named like SM1_F1_A01.wav (speaker, file number, emotion letter and number)")
    result = read_dealt_speakers(named, lmap, CORPUS, GROUPS, lambda m: f"urdu{m['speaker']}",
                                 lambda m: EMOTIONS[m["emotion"]])
    check_release_counts(result, lmap, URDU_RELEASE, SPEAKERS, "URDU", "the URDU release")
    return result

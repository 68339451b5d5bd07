"""SUBESCO (SUST Bangla Emotional Speech Corpus, Bangla) reader for its distributed layout.

Twenty professional speakers, ten women and ten men, each read ten sentences in seven
emotions, five takes each: 7000 wavs (48 kHz; sier resamples). A name says everything:
`F_02_MONIKA_S_1_ANGRY_3.wav` is female speaker 02 (Monika), sentence 1, anger, take 3.
Emotions: ANGRY, DISGUST, FEAR, HAPPY, NEUTRAL, SAD, SURPRISE. Speakers are numbered per
gender, so the speaker id is the gender letter and number (`subescoF02`). Any folder layout
below the root works.

Speaker groups ("sessions"): women and men dealt round-robin into five groups of two women
and two men. The `session` protocol gives five speaker-disjoint folds; the `speaker`
protocol (20 folds) validates on the rest of the test speaker's group.
"""

from __future__ import annotations

import os
import re

from sier.corpora.labels import SUBESCO_RELEASE, LabelMap, get_label_map
from sier.corpora.named_files import check_release_counts, named_wavs_below, read_dealt_speakers
from sier.corpora.records import PrepareResult

CORPUS = "subesco"

FILE_NAME = re.compile(r"^(?P<gender>[FM])_(?P<speaker>\d{2})_(?P<name>[A-Z]+)_S_(?P<sentence>\d+)_"
                       r"(?P<emotion>ANGRY|DISGUST|FEAR|HAPPY|NEUTRAL|SAD|SURPRISE)_(?P<take>\d)$")
EMOTIONS = {"ANGRY": "ang", "DISGUST": "dis", "FEAR": "fea", "HAPPY": "hap", "NEUTRAL": "neu", "SAD": "sad",
            "SURPRISE": "sur"}
GROUPS = 5
SPEAKERS = 20


def read_subesco(root: str | os.PathLike, label_map: str | LabelMap = "subesco-4") -> PrepareResult:
    """Read a SUBESCO tree (every wav below `root`) into Utterances under `label_map`, sorted by id."""
    lmap = get_label_map(label_map, CORPUS) if isinstance(label_map, str) else label_map
    named = named_wavs_below(root, FILE_NAME, "SUBESCO", "the folder holding SUBESCO's wavs",
                             "wavs named like F_02_MONIKA_S_1_ANGRY_3.wav (gender, speaker number, name, sentence, "
                             "emotion, take)")
    result = read_dealt_speakers(named, lmap, CORPUS, GROUPS, lambda m: f"subesco{m['gender']}{m['speaker']}",
                                 lambda m: EMOTIONS[m["emotion"]])
    check_release_counts(result, lmap, SUBESCO_RELEASE, SPEAKERS, "SUBESCO", "the SUBESCO release")
    return result

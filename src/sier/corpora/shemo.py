"""ShEMO (Sharif Emotional Speech Database, Persian) reader for its distributed layout.

The corpus comes as `female/` and `male/` folders of wavs (44.1 kHz; sier resamples) from
radio plays, 3000 utterances of 87 speakers (31 women, 56 men). A name says gender,
speaker, emotion and number: `F03A05.wav` is female speaker 03, anger, utterance 05.
Emotions: A anger, H happiness, N neutral, S sadness, W surprise, F fear. Any folder layout
below the root works: the names say everything.

Speaker groups ("sessions"): women and men dealt round-robin into five groups (about 6
women and 11 men each). The `session` protocol gives five speaker-disjoint folds; the
`speaker` protocol (87 folds) validates on the rest of the test speaker's group.
"""

from __future__ import annotations

import os
import re

from sier.corpora.labels import SHEMO_RELEASE, LabelMap, get_label_map
from sier.corpora.named_files import check_release_counts, named_wavs_below, read_dealt_speakers
from sier.corpora.records import PrepareResult

CORPUS = "shemo"

FILE_NAME = re.compile(r"^(?P<gender>[FM])(?P<speaker>\d{2})(?P<emotion>[AHNSWF])(?P<number>\d{2})$")
EMOTIONS = {"A": "ang", "H": "hap", "N": "neu", "S": "sad", "W": "sur", "F": "fea"}
GROUPS = 5
SPEAKERS = 87


def read_shemo(root: str | os.PathLike, label_map: str | LabelMap = "shemo-4") -> PrepareResult:
    """Read a ShEMO tree (every wav below `root`) into Utterances under `label_map`, sorted by id."""
    lmap = get_label_map(label_map, CORPUS) if isinstance(label_map, str) else label_map
    named = named_wavs_below(root, FILE_NAME, "ShEMO", "the folder holding ShEMO's female/ and male/",
                             "wavs named like F03A05.wav (gender, speaker, emotion letter, number), in female/ and "
                             "male/ as distributed")
    result = read_dealt_speakers(named, lmap, CORPUS, GROUPS, lambda m: f"shemo{m['gender']}{m['speaker']}",
                                 lambda m: EMOTIONS[m["emotion"]])
    check_release_counts(result, lmap, SHEMO_RELEASE, SPEAKERS, "ShEMO", "the ShEMO release")
    return result

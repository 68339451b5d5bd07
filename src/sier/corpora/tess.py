"""TESS (Toronto Emotional Speech Set, English) reader for its distributed layouts.

Two actresses of the Toronto area, aged 64 (OAF, "older adult female") and 26 (YAF), say
"Say the word ___" with 200 target words in each of seven emotions: 2800 wavs of 1.3-3 s at
24,414 Hz (sier resamples), 400 per emotion, 1400 per speaker. Names are
`{OAF|YAF}_{word}_{emotion}.wav`, emotions `angry disgust fear happy neutral ps sad` (ps:
pleasant surprise). The Dataverse release (doi 10.5683/SP2/E8H2MF) is one flat folder of
wavs; the Kaggle copy sorts them into 14 folders (`OAF_angry`, `OAF_Fear`,
`YAF_pleasant_surprised`, ...), and may hold a second, nested copy of all of them, which
the reader leaves out with a warning (utterance ids must be unique). Any layout below the
root works.

One trap of the release: `OA_bite_neutral.wav` lacks the F of its speaker; it is read as
OAF's, whose folder it is in.

Both speakers are women and there are only two, so TESS alone cannot give train, validation
and test speakers: it serves in a pooled manifest (each actress is a speaker group there) or
as a cross-corpus test set (`sier evaluate --test_manifest`). Its words and carrier phrase
are the same in every emotion, so nothing but the voice tells the classes apart.
"""

from __future__ import annotations

import os
import re

from sier.corpora.labels import TESS_RELEASE, LabelMap, get_label_map
from sier.corpora.named_files import check_release_counts, named_wavs_below, read_dealt_speakers
from sier.corpora.records import PrepareResult

CORPUS = "tess"

FILE_NAME = re.compile(r"^(?P<speaker>OAF|YAF|OA)_(?P<word>[a-z]+)_(?P<emotion>angry|disgust|fear|happy|neutral|ps|sad)$",
                       re.IGNORECASE)
EMOTIONS = {"angry": "ang", "disgust": "dis", "fear": "fea", "happy": "hap", "neutral": "neu", "ps": "sur",
            "sad": "sad"}
SPEAKERS = 2


def _speaker(match: re.Match) -> str:
    code = match["speaker"].upper()
    return "tess" + ("OAF" if code == "OA" else code)


def read_tess(root: str | os.PathLike, label_map: str | LabelMap = "tess-4") -> PrepareResult:
    """Read a TESS tree (every wav below `root`) into Utterances under `label_map`, sorted by id."""
    lmap = get_label_map(label_map, CORPUS) if isinstance(label_map, str) else label_map
    named = named_wavs_below(root, FILE_NAME, "TESS", "the TESS folder (its wavs, or OAF_angry/ ... YAF_sad/)",
                             "wavs named like OAF_back_angry.wav (speaker OAF or YAF, word, emotion)")
    genders = {_speaker(m): "F" for m in named.values() if m}  # two actresses
    result = read_dealt_speakers(named, lmap, CORPUS, SPEAKERS, _speaker,
                                 lambda m: EMOTIONS[m["emotion"].lower()], genders)
    check_release_counts(result, lmap, TESS_RELEASE, SPEAKERS, "TESS", "the TESS release")
    return result

"""SAVEE (Surrey Audio-Visual Expressed Emotion, British English) reader for its distributed layouts.

Four male speakers (DC, JE, JK, KL), each 120 sentences: 30 neutral and 15 in each of six
emotions, 480 wavs at 44.1 kHz (sier resamples). The registered release's `AudioData/` holds
one folder per speaker of wavs named by emotion code and number (`AudioData/DC/a01.wav`,
`sa06.wav`, `n30.wav`) and an Info.txt; the Kaggle copy puts all 480 in one folder with the
speaker in front (`ALL/DC_a01.wav`). Codes: a anger, d disgust, f fear, h happiness,
n neutral, sa sadness, su surprise. Any layout below the root works: a name without a
speaker takes it from its folder.

Each speaker is a speaker group of its own (four groups, all men): the `session` protocol
tests on one speaker, validates on the next and trains on the other two.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from sier.corpora.labels import SAVEE_RELEASE, LabelMap, get_label_map
from sier.corpora.named_files import NamedFile, check_release_counts, parsed_wavs_below, read_named_files
from sier.corpora.records import PrepareResult

CORPUS = "savee"

SPEAKERS = ("DC", "JE", "JK", "KL")
FILE_NAME = re.compile(r"^(?:(?P<speaker>DC|JE|JK|KL)_)?(?P<emotion>a|d|f|h|n|sa|su)(?P<number>\d\d)$")
EMOTIONS = {"a": "ang", "d": "dis", "f": "fea", "h": "hap", "n": "neu", "sa": "sad", "su": "sur"}


def parse_name(path: Path) -> NamedFile | None:
    """`DC_a01.wav` anywhere, or `a01.wav` in a speaker's folder (`DC/`); None for other names."""
    m = FILE_NAME.match(path.stem)
    speaker = (m["speaker"] or path.parent.name) if m else None
    if speaker not in SPEAKERS:
        return None
    return NamedFile(f"{speaker}_{m['emotion']}{m['number']}", f"savee{speaker}", SPEAKERS.index(speaker) + 1, "M",
                     EMOTIONS[m["emotion"]])


def read_savee(root: str | os.PathLike, label_map: str | LabelMap = "savee-4") -> PrepareResult:
    """Read a SAVEE tree (every wav below `root`) into Utterances under `label_map`, sorted by id."""
    lmap = get_label_map(label_map, CORPUS) if isinstance(label_map, str) else label_map
    wavs = parsed_wavs_below(root, parse_name, "SAVEE", "the SAVEE folder (AudioData/, or the Kaggle ALL/)",
                             "AudioData/DC/a01.wav ... (speaker folders DC, JE, JK, KL of wavs named by emotion "
                             "code and number) or wavs named like DC_a01.wav")
    result = read_named_files(wavs, parse_name, lmap, CORPUS)
    check_release_counts(result, lmap, SAVEE_RELEASE, len(SPEAKERS), "SAVEE", "the SAVEE release")
    return result

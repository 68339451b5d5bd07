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
from pathlib import Path

from sier.corpora.labels import SUBESCO_RELEASE, LabelMap, get_label_map
from sier.corpora.named_files import NamedFile, check_release_counts, deal_into_groups, read_named_files, wav_files
from sier.corpora.records import PrepareResult
from sier.errors import CorpusError

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
    root = Path(root)
    if not root.is_dir():
        raise CorpusError(f"{root}: not a directory; pass the folder holding SUBESCO's wavs with --root.")
    wavs = wav_files(root, recursive=True)
    named = {p: FILE_NAME.match(p.stem) for p in wavs}
    if not any(named.values()):
        raise CorpusError(
            f"{root}: not a SUBESCO tree; expected wavs named like F_02_MONIKA_S_1_ANGRY_3.wav (gender, speaker "
            "number, name, sentence, emotion, take)."
        )
    genders = {f"subesco{m['gender']}{m['speaker']}": m["gender"] for m in named.values() if m}
    groups = deal_into_groups(genders, GROUPS)

    def parse(path: Path) -> NamedFile | None:
        m = named.get(path)
        if not m:
            return None
        speaker = f"subesco{m['gender']}{m['speaker']}"
        return NamedFile(path.stem, speaker, groups[speaker], m["gender"], EMOTIONS[m["emotion"]])

    result = read_named_files(wavs, parse, lmap, CORPUS)
    check_release_counts(result, lmap, SUBESCO_RELEASE, SPEAKERS, "SUBESCO", "the SUBESCO release")
    return result

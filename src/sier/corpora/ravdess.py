"""RAVDESS (Ryerson Audio-Visual Database of Emotional Speech and Song, English) reader for
its audio-only speech files.

`Audio_Speech_Actors_01-24.zip` unpacks to `Actor_01/` .. `Actor_24/`, 60 wavs each (48 kHz;
sier resamples). A name has seven fields: `03-01-06-01-02-01-12.wav` is modality 03
(audio-only), vocal channel 01 (speech; 02 is song), emotion 06, intensity 01 (normal; 02
strong), statement 02, repetition 01, actor 12. Emotions: 01 neutral, 02 calm, 03 happy, 04
sad, 05 angry, 06 fearful, 07 disgust, 08 surprised. Odd-numbered actors are male,
even-numbered female. Song and video files are left out (and counted).

Speaker groups ("sessions"): four consecutive actors (two men, two women), six groups. The
`session` protocol gives six speaker-disjoint folds; the `speaker` protocol validates on the
other three actors of the group.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from sier.corpora.labels import RAVDESS_SPEECH, LabelMap, get_label_map
from sier.corpora.named_files import (
    NamedFile,
    check_release_counts,
    folder_of_speakers,
    read_named_files,
    speaker_wavs,
)
from sier.corpora.records import PrepareResult

CORPUS = "ravdess"

FILE_NAME = re.compile(
    r"^(?P<modality>0[1-3])-(?P<channel>0[12])-(?P<emotion>0[1-8])-(?P<intensity>0[12])-"
    r"(?P<statement>0[12])-(?P<repetition>0[12])-(?P<actor>\d{2})$"
)
ACTOR_DIR = re.compile(r"^Actor_(?P<n>\d{2})$")
EMOTIONS = {"01": "neu", "02": "cal", "03": "hap", "04": "sad", "05": "ang", "06": "fea", "07": "dis", "08": "sur"}
ACTORS = 24
GROUP_SIZE = 4
LAYOUT = ("Actor_01..Actor_24 folders with files named like 03-01-06-01-02-01-12.wav "
          "(the unpacked Audio_Speech_Actors_01-24.zip)")


def parse_name(path: Path) -> NamedFile | None:
    """What a RAVDESS speech file name says; None for song, video or other names."""
    m = FILE_NAME.match(path.stem)
    if not m or m["modality"] != "03" or m["channel"] != "01" or not 1 <= int(m["actor"]) <= ACTORS:
        return None
    actor = int(m["actor"])
    group = (actor - 1) // GROUP_SIZE + 1
    return NamedFile(path.stem, f"ravdess{actor:02d}", group, "M" if actor % 2 else "F", EMOTIONS[m["emotion"]])


def read_ravdess(root: str | os.PathLike, label_map: str | LabelMap = "ravdess-4") -> PrepareResult:
    """Read a RAVDESS speech tree into Utterances under `label_map`, sorted by id."""
    lmap = get_label_map(label_map, CORPUS) if isinstance(label_map, str) else label_map
    base = folder_of_speakers(root, ACTOR_DIR, "RAVDESS", LAYOUT)
    result = read_named_files(speaker_wavs(base, ACTOR_DIR), parse_name, lmap, CORPUS)
    check_release_counts(result, lmap, RAVDESS_SPEECH, ACTORS, "RAVDESS", "the RAVDESS speech files")
    return result

"""ESD (Emotional Speech Dataset; Mandarin and English) reader for its distributed layout.

One folder per speaker, `0001` .. `0020`, each with a folder per emotion (`Angry Happy
Neutral Sad Surprise`), which may hold the corpus's own `train/ test/ evaluation/` folders
(sier ignores that split: its speakers are in all three); wavs are named speaker_number
(`0011_000351.wav`), 16 kHz. Speakers 0001-0010 speak Mandarin, 0011-0020 English; 350
utterances per speaker and emotion, 35,000 in all. The label is the emotion folder.

Speaker groups ("sessions"): women and men dealt round-robin into five groups in speaker
order, which gives every group a Mandarin and an English woman and man. The `session`
protocol gives five speaker-disjoint folds; the `speaker` protocol (20 folds) validates on
the other three speakers of the group.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from sier.corpora.labels import ESD_RELEASE, LabelMap, get_label_map
from sier.corpora.named_files import (
    NamedFile,
    check_release_counts,
    deal_into_groups,
    folder_of_speakers,
    read_named_files,
    wav_files,
)
from sier.corpora.records import PrepareResult

CORPUS = "esd"

FILE_NAME = re.compile(r"^(?P<speaker>\d{4})_(?P<number>\d{6})$")
SPEAKER_DIR = re.compile(r"^(?P<speaker>00(0[1-9]|1\d|20))$")
EMOTIONS = {"Angry": "ang", "Happy": "hap", "Neutral": "neu", "Sad": "sad", "Surprise": "sur"}
# from the corpus README: 0001-0010 Mandarin, 0011-0020 English
GENDERS = {
    "0001": "F", "0002": "F", "0003": "F", "0004": "M", "0005": "M",
    "0006": "M", "0007": "F", "0008": "M", "0009": "F", "0010": "M",
    "0011": "M", "0012": "M", "0013": "M", "0014": "M", "0015": "F",
    "0016": "F", "0017": "F", "0018": "F", "0019": "F", "0020": "M",
}
GROUPS = 5
MANDARIN = {f"{n:04d}" for n in range(1, 11)}  # the rest speak English
LAYOUT = ("speaker folders 0001..0020, each with Angry, Happy, Neutral, Sad and Surprise folders of wavs named "
          "like 0011_000351.wav")


def language(speaker: str) -> str:
    """The language of an ESD speaker id (`esd0011` or `0011`): Mandarin or English."""
    return "Mandarin" if speaker[-4:] in MANDARIN else "English"


def read_esd(root: str | os.PathLike, label_map: str | LabelMap = "esd-4") -> PrepareResult:
    """Read an ESD tree into Utterances under `label_map`, sorted by id."""
    lmap = get_label_map(label_map, CORPUS) if isinstance(label_map, str) else label_map
    base = folder_of_speakers(root, SPEAKER_DIR, "ESD", LAYOUT)
    groups = deal_into_groups(GENDERS, GROUPS)
    emotion_of: dict[Path, str] = {}
    unlabelled = []
    for speaker in sorted(p for p in base.iterdir() if p.is_dir() and SPEAKER_DIR.match(p.name)):
        folders = [f for f in speaker.iterdir() if f.is_dir() and f.name in EMOTIONS]
        if not folders:
            unlabelled.append(speaker.name)
        for folder in folders:
            for wav in wav_files(folder, recursive=True):  # below train/ test/ evaluation/ or not
                emotion_of[wav] = EMOTIONS[folder.name]

    def parse(path: Path) -> NamedFile | None:
        m = FILE_NAME.match(path.stem)
        if not m or m["speaker"] not in GENDERS:
            return None
        speaker = m["speaker"]
        return NamedFile(path.stem, f"esd{speaker}", groups[speaker], GENDERS[speaker], emotion_of[path])

    result = read_named_files(sorted(emotion_of), parse, lmap, CORPUS)
    check_release_counts(result, lmap, ESD_RELEASE, len(GENDERS), "ESD", "the ESD release")
    if unlabelled:
        result.warnings.append(f"speaker folder(s) {', '.join(unlabelled)} hold none of the emotion folders "
                               f"{', '.join(EMOTIONS)}; their wavs were not read")
    return result

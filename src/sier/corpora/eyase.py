"""EYASE (Egyptian Arabic Speech Emotion, Arabic) reader for its distributed layout.

Semi-natural speech cut from an Egyptian TV series: three women and three men, 579 wavs in
one folder per speaker, `Female01 Female02 Female03 Male01 Male02 Male03`, named
`fm03_sad (7).wav`: gender (fm, ml) and speaker number, emotion (ang, hap, neu, sad), and the
file's number within speaker and emotion in parentheses. Twenty per emotion for each woman,
20-30 for each man (ang 150, hap 132, neu 150, sad 147).

One trap of the release as publicly listed: every file in `Female02/` is named `fm01_...`,
the same names as in `Female01/`. The speaker is therefore the folder, and ids are
`Female02_sad_7`; a warning counts the files whose name gives another speaker than their
folder, and a file byte-identical to the one it is named after in that speaker's folder is
left out as a copy (it would put one recording under two speakers, in two folds).

Speaker groups ("sessions"): each woman with the man of the same number, three groups: the
`session` protocol gives three folds, the `speaker` protocol validates on the partner.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from sier.corpora.labels import EYASE_RELEASE, LabelMap, get_label_map
from sier.corpora.named_files import NamedFile, check_release_counts, folder_of_speakers, read_named_files, speaker_wavs
from sier.corpora.records import PrepareResult

CORPUS = "eyase"

SPEAKER_DIR = re.compile(r"^(?P<gender>Female|Male)0(?P<number>[1-3])$", re.IGNORECASE)
FILE_NAME = re.compile(r"^(?P<gender>fm|ml)0(?P<number>\d)_(?P<emotion>ang|hap|neu|sad) ?\((?P<index>\d+)\)$",
                       re.IGNORECASE)
SPEAKERS = 6
LAYOUT = "speaker folders Female01..Female03, Male01..Male03 of wavs named like fm03_sad (7).wav"


def _named_folder(m: re.Match) -> str:
    """The speaker folder a file name points to: fm01 -> female01 (lower case)."""
    return ("female" if m["gender"].lower() == "fm" else "male") + "0" + m["number"]


def parse_name(path: Path) -> NamedFile | None:
    """`Female02/fm01_sad (7).wav` -> id Female02_sad_7 of speaker eyaseFemale02; None for other names."""
    m, folder = FILE_NAME.match(path.stem), SPEAKER_DIR.match(path.parent.name)
    if not (m and folder):
        return None
    speaker = folder["gender"].capitalize() + "0" + folder["number"]
    return NamedFile(f"{speaker}_{m['emotion'].lower()}_{int(m['index'])}", f"eyase{speaker}", int(folder["number"]),
                     "F" if speaker.startswith("F") else "M", m["emotion"].lower())


def _copies(wavs: list[Path]) -> tuple[list[Path], int]:
    """(wavs byte-identical to the file of the same name in the speaker folder their name points
    to, number of wavs whose name points to another folder than their own)."""
    folders = {p.parent.name.lower(): p.parent for p in wavs}
    copies, elsewhere = [], 0
    for path in wavs:
        m = FILE_NAME.match(path.stem)
        if not m or _named_folder(m) == path.parent.name.lower():
            continue
        elsewhere += 1
        twin = folders.get(_named_folder(m), path.parent) / path.name
        if twin != path and twin.is_file() and twin.read_bytes() == path.read_bytes():
            copies.append(path)
    return copies, elsewhere


def read_eyase(root: str | os.PathLike, label_map: str | LabelMap = "eyase-4") -> PrepareResult:
    """Read an EYASE tree into Utterances under `label_map`, sorted by id."""
    lmap = get_label_map(label_map, CORPUS) if isinstance(label_map, str) else label_map
    wavs = speaker_wavs(folder_of_speakers(root, SPEAKER_DIR, "EYASE", LAYOUT), SPEAKER_DIR)
    copies, elsewhere = _copies(wavs)
    result = read_named_files([p for p in wavs if p not in copies], parse_name, lmap, CORPUS)
    if elsewhere:
        result.warnings.append(f"{elsewhere} wav(s) are named for another speaker than the folder they are in "
                               f"(as the release names Female02's files fm01_...); the folder is taken as the speaker")
    if copies:
        result.warnings.append(f"{len(copies)} wav(s) left out that are byte-identical to the file of the same name "
                               f"in the speaker folder their name points to, e.g. {copies[0]}: one recording must not "
                               f"be two speakers'")
    check_release_counts(result, lmap, EYASE_RELEASE, SPEAKERS, "EYASE", "the EYASE release")
    return result

"""EmoDB (Berlin Database of Emotional Speech, German) reader for its distributed layout.

The download unpacks to `wav/` (535 files, 16 kHz) beside `lablaut/`, `silb/` and the
documentation. A file name says it all: `03a01Fa.wav` is speaker 03, text a01, emotion F
(Freude), version a. Ten actors read the same ten sentences; the emotion letters are German:
W (Wut) anger, L (Langeweile) boredom, E (Ekel) disgust, A (Angst) fear, F (Freude)
happiness, T (Trauer) sadness, N neutral.

Speaker groups ("sessions"): EmoDB has no sessions, so sier pairs each female speaker with a
male one (k-th female with the k-th male by speaker number) into five groups of two. The
`session` protocol then gives five speaker-disjoint folds of one woman and one man each, as
on IEMOCAP; the `speaker` protocol validates on the other speaker of the pair.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from sier.corpora.labels import EMODB_RELEASE, LabelMap, get_label_map
from sier.corpora.named_files import NamedFile, check_release_counts, read_named_files, wav_files
from sier.corpora.records import PrepareResult
from sier.errors import CorpusError

CORPUS = "emodb"

FILE_NAME = re.compile(r"^(?P<speaker>\d{2})(?P<text>[ab]\d{2})(?P<emotion>[WLEAFTN])(?P<version>[a-z])$")
EMOTIONS = {"W": "ang", "L": "bor", "E": "dis", "A": "fea", "F": "hap", "T": "sad", "N": "neu"}
# speaker -> (gender, group), from the corpus documentation (erklaerung.txt)
SPEAKERS = {
    "03": ("M", 1), "08": ("F", 1),
    "10": ("M", 2), "09": ("F", 2),
    "11": ("M", 3), "13": ("F", 3),
    "12": ("M", 4), "14": ("F", 4),
    "15": ("M", 5), "16": ("F", 5),
}


def find_wav_dir(root: str | os.PathLike) -> Path:
    """The folder of EmoDB's wavs: `root/wav` (the unpacked download), `root/wav_corpus` (as some
    copies name it) or `root` itself."""
    root = Path(root)
    if not root.is_dir():
        raise CorpusError(f"{root}: not a directory; pass the folder of the unpacked EmoDB download with --root.")
    for candidate in (root / "wav", root / "wav_corpus", root):
        if candidate.is_dir() and any(FILE_NAME.match(p.stem) for p in candidate.glob("*.wav")):
            return candidate
    raise CorpusError(
        f"{root}: not an EmoDB tree; expected wav/ with files named like 03a01Fa.wav "
        "(speaker, text, emotion letter, version), as in the download from emodb.bilderbar.info."
    )


def parse_name(path: Path) -> NamedFile | None:
    """What an EmoDB file name says; None for a name that is not EmoDB's or an unknown speaker."""
    m = FILE_NAME.match(path.stem)
    if not m or m["speaker"] not in SPEAKERS:
        return None
    gender, group = SPEAKERS[m["speaker"]]
    return NamedFile(path.stem, f"emodb{m['speaker']}", group, gender, EMOTIONS[m["emotion"]])


def read_emodb(root: str | os.PathLike, label_map: str | LabelMap = "emodb-4") -> PrepareResult:
    """Read an EmoDB tree into Utterances under `label_map`, sorted by id."""
    lmap = get_label_map(label_map, CORPUS) if isinstance(label_map, str) else label_map
    wav_dir = find_wav_dir(root)
    result = read_named_files(wav_files(wav_dir), parse_name, lmap, CORPUS)
    if not (wav_dir.parent / "synth.json").is_file():  # `sier synth --layout emodb` has counts of its own
        check_release_counts(result, lmap, EMODB_RELEASE, len(SPEAKERS), "EmoDB", "the EmoDB release")
    return result

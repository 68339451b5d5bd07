"""JL-Corpus (New Zealand English) reader for its distributed layout.

Two women and two men (female1, female2, male1, male2) read 15 sentences twice (a, b) in
two sessions (1, 2) in each of five primary emotions (angry, sad, neutral, happy, excited)
and five secondary ones (anxious, apologetic, assertive, concerned, encouraging): 2400 wavs
at 44.1 kHz (sier resamples), 240 per emotion, 600 per speaker. They are in
`Raw JL corpus (unchecked and unannotated)/JL(wav+txt)/`, named
`female1_angry_1a_1.wav` (speaker, emotion, sentence and its take, session), each beside a
.txt of its transcript. The release's `Perception test material on Qualtrics/` holds copies
of some of the same wavs, so the reader reads `JL(wav+txt)` alone where the tree has it.

Each speaker is a speaker group of its own (female1, male1, female2, male2 as groups 1-4):
the `session` protocol tests on one speaker, validates on the next (of the other gender) and
trains on the other two. The two recording sessions are the same speakers, so they are not
speaker groups.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from sier.corpora.labels import JL_RELEASE, LabelMap, get_label_map
from sier.corpora.named_files import NamedFile, check_release_counts, parsed_wavs_below, read_named_files
from sier.corpora.records import PrepareResult

CORPUS = "jl"

WAV_FOLDER = "JL(wav+txt)"
SPEAKERS = ("female1", "male1", "female2", "male2")  # speaker group = index + 1
FILE_NAME = re.compile(r"^(?P<speaker>(?:fe)?male[12])_(?P<emotion>[a-z]+)_(?P<sentence>\d+)(?P<take>[ab])_"
                       r"(?P<session>[12])$")
EMOTIONS = {"neutral": "neu", "happy": "hap", "angry": "ang", "sad": "sad", "excited": "exc", "anxious": "anx",
            "apologetic": "apo", "assertive": "asr", "concerned": "cnc", "encouraging": "enc"}


def parse_name(path: Path) -> NamedFile | None:
    """`female1_angry_1a_1.wav` -> its NamedFile; None for other names and emotions."""
    m = FILE_NAME.match(path.stem)
    if m is None or m["emotion"] not in EMOTIONS:
        return None
    speaker = m["speaker"]
    return NamedFile(path.stem, f"jl{speaker}", SPEAKERS.index(speaker) + 1, "F" if speaker.startswith("fe") else "M",
                     EMOTIONS[m["emotion"]])


def _wav_folder(root: Path) -> Path:
    """`root`'s JL(wav+txt) folder, where the tree has one (the copies elsewhere are left), else `root`."""
    if root.name == WAV_FOLDER:
        return root
    return next(iter(sorted(p for p in root.rglob(WAV_FOLDER) if p.is_dir())), root)


def read_jl(root: str | os.PathLike, label_map: str | LabelMap = "jl-4") -> PrepareResult:
    """Read a JL-Corpus tree (its JL(wav+txt) folder, or every wav below `root`) into Utterances
    under `label_map`, sorted by id."""
    lmap = get_label_map(label_map, CORPUS) if isinstance(label_map, str) else label_map
    wavs = parsed_wavs_below(root, parse_name, "JL-Corpus", f"the JL-Corpus folder (holding {WAV_FOLDER})",
                             f"{WAV_FOLDER}/ of wavs named like female1_angry_1a_1.wav (speaker, emotion, sentence "
                             f"and take, session)", _wav_folder)
    result = read_named_files(wavs, parse_name, lmap, CORPUS)
    check_release_counts(result, lmap, JL_RELEASE, len(SPEAKERS), "JL-Corpus", "the JL-Corpus release")
    return result

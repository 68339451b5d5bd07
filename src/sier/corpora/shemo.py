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
from pathlib import Path

from sier.corpora.labels import SHEMO_RELEASE, LabelMap, get_label_map
from sier.corpora.named_files import (
    NamedFile,
    check_release_counts,
    deal_into_groups,
    read_named_files,
    wav_files,
)
from sier.corpora.records import PrepareResult
from sier.errors import CorpusError

CORPUS = "shemo"

FILE_NAME = re.compile(r"^(?P<gender>[FM])(?P<speaker>\d{2})(?P<emotion>[AHNSWF])(?P<number>\d{2})$")
EMOTIONS = {"A": "ang", "H": "hap", "N": "neu", "S": "sad", "W": "sur", "F": "fea"}
GROUPS = 5
SPEAKERS = 87


def read_shemo(root: str | os.PathLike, label_map: str | LabelMap = "shemo-4") -> PrepareResult:
    """Read a ShEMO tree (every wav below `root`) into Utterances under `label_map`, sorted by id."""
    lmap = get_label_map(label_map, CORPUS) if isinstance(label_map, str) else label_map
    root = Path(root)
    if not root.is_dir():
        raise CorpusError(f"{root}: not a directory; pass the folder holding ShEMO's female/ and male/ with --root.")
    wavs = wav_files(root, recursive=True)
    named = {p: FILE_NAME.match(p.stem) for p in wavs}
    if not any(named.values()):
        raise CorpusError(
            f"{root}: not a ShEMO tree; expected wavs named like F03A05.wav (gender, speaker, emotion letter, "
            "number), in female/ and male/ as distributed."
        )
    genders = {f"shemo{m['gender']}{m['speaker']}": m["gender"] for m in named.values() if m}
    groups = deal_into_groups(genders, GROUPS)

    def parse(path: Path) -> NamedFile | None:
        m = named.get(path)
        if not m:
            return None
        speaker = f"shemo{m['gender']}{m['speaker']}"
        return NamedFile(path.stem, speaker, groups[speaker], m["gender"], EMOTIONS[m["emotion"]])

    result = read_named_files(wavs, parse, lmap, CORPUS)
    check_release_counts(result, lmap, SHEMO_RELEASE, SPEAKERS, "ShEMO", "the ShEMO release")
    return result

"""VERBO (Brazilian Portuguese) reader for its distributed layout.

Twelve actors, six women (f1-f6) and six men (m1-m6), say 14 sentences in each of seven
emotions. The download holds `Audios/<actor>/` folders of wavs named emotion-actor-sentence:
`ale-f1-l1.wav` is joy (alegria) by actor f1, sentence l1 (sentences l1-l5, ns1-ns5, q1-q2,
s1-s2). Emotions (Portuguese): ale alegria (joy), des desgosto (disgust), med medo (fear),
neu neutro, rai raiva (anger), sur surpresa, tri tristeza (sadness). 1167 wavs: f3 has no q2
sentence and m2 no joy or fear q2. Sample rates vary; sier resamples (and downmixes).

Speaker groups ("sessions"): each woman with the man of the same number (f1 + m1, ...), six
groups. The `session` protocol gives six folds; the `speaker` protocol validates on the
pair partner.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from sier.corpora.labels import VERBO_RELEASE, LabelMap, get_label_map
from sier.corpora.named_files import (
    NamedFile,
    check_release_counts,
    folder_holding,
    read_named_files,
    speaker_wavs,
)
from sier.corpora.records import PrepareResult

CORPUS = "verbo"

FILE_NAME = re.compile(r"^(?P<emotion>ale|des|med|neu|rai|sur|tri)-(?P<actor>[fm][1-6])-(?P<sentence>(?:l|ns|q|s)\d)$")
ACTOR_DIR = re.compile(r"^[fm][1-6]$")
EMOTIONS = {"ale": "hap", "des": "dis", "med": "fea", "neu": "neu", "rai": "ang", "sur": "sur", "tri": "sad"}
ACTORS = 12
LAYOUT = "actor folders f1..f6, m1..m6 (in Audios/) with files named like ale-f1-l1.wav (emotion, actor, sentence)"


def parse_name(path: Path) -> NamedFile | None:
    """What a VERBO file name says; None for other names."""
    m = FILE_NAME.match(path.stem)
    if not m:
        return None
    actor = m["actor"]
    return NamedFile(f"verbo-{path.stem}", f"verbo{actor}", int(actor[1]), actor[0].upper(), EMOTIONS[m["emotion"]])


def _holds_actors(folder: Path) -> bool:
    return folder.is_dir() and any(ACTOR_DIR.match(p.name) for p in folder.iterdir() if p.is_dir())


def read_verbo(root: str | os.PathLike, label_map: str | LabelMap = "verbo-4") -> PrepareResult:
    """Read a VERBO tree into Utterances under `label_map`, sorted by id."""
    lmap = get_label_map(label_map, CORPUS) if isinstance(label_map, str) else label_map
    base = folder_holding(root, lambda f: _holds_actors(f) or _holds_actors(f / "Audios"), "VERBO", LAYOUT)
    base = base if _holds_actors(base) else base / "Audios"
    result = read_named_files(speaker_wavs(base, ACTOR_DIR), parse_name, lmap, CORPUS)
    check_release_counts(result, lmap, VERBO_RELEASE, ACTORS, "VERBO", "the VERBO release")
    return result

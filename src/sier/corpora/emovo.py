"""EMOVO (Italian) reader for its distributed layout.

The corpus unpacks to one folder per actor, `f1 f2 f3 m1 m2 m3`, each with 98 wavs (48 kHz;
sier resamples) named emotion-actor-sentence: `gio-f1-b1.wav` is joy (gioia) by actor f1,
sentence b1. Emotions (Italian): dis disgusto, gio gioia (joy), neu neutro, pau paura (fear),
rab rabbia (anger), sor sorpresa (surprise), tri tristezza (sadness). Six actors read the
same fourteen sentences in each emotion: 588 utterances.

Speaker groups ("sessions"): each woman with the man of the same number (f1 + m1, ...),
three groups. The `session` protocol gives three folds (test one pair, validate on the
next, train on the third); the `speaker` protocol validates on the pair partner.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from sier.corpora.labels import EMOVO_RELEASE, LabelMap, get_label_map
from sier.corpora.named_files import (
    NamedFile,
    check_release_counts,
    folder_of_speakers,
    read_named_files,
    speaker_wavs,
)
from sier.corpora.records import PrepareResult

CORPUS = "emovo"

FILE_NAME = re.compile(r"^(?P<emotion>dis|gio|neu|pau|rab|sor|tri)-(?P<actor>[fm][1-3])-(?P<sentence>[a-z]\d)$")
ACTOR_DIR = re.compile(r"^[fm][1-3]$")
EMOTIONS = {"dis": "dis", "gio": "hap", "neu": "neu", "pau": "fea", "rab": "ang", "sor": "sur", "tri": "sad"}
ACTORS = 6
LAYOUT = "actor folders f1, f2, f3, m1, m2, m3 with files named like gio-f1-b1.wav (emotion, actor, sentence)"


def parse_name(path: Path) -> NamedFile | None:
    """What an EMOVO file name says; None for other names."""
    m = FILE_NAME.match(path.stem)
    if not m:
        return None
    actor = m["actor"]
    return NamedFile(path.stem, f"emovo{actor}", int(actor[1]), actor[0].upper(), EMOTIONS[m["emotion"]])


def read_emovo(root: str | os.PathLike, label_map: str | LabelMap = "emovo-4") -> PrepareResult:
    """Read an EMOVO tree into Utterances under `label_map`, sorted by id."""
    lmap = get_label_map(label_map, CORPUS) if isinstance(label_map, str) else label_map
    base = folder_of_speakers(root, ACTOR_DIR, "EMOVO", LAYOUT)
    result = read_named_files(speaker_wavs(base, ACTOR_DIR), parse_name, lmap, CORPUS)
    check_release_counts(result, lmap, EMOVO_RELEASE, ACTORS, "EMOVO", "the EMOVO release")
    return result

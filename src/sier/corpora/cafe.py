"""CaFE (Canadian French Emotional speech dataset, French) reader for its distributed layout.

Twelve actors (odd numbers men, even numbers women) say six sentences in six emotions at two
intensities, and neutrally once: 936 wavs in the 48 kHz version (sier resamples; the 192 kHz
version ships AIFF, which this reader does not look for). A name says everything:
`04-C-2-3.wav` is actor 04 (a woman), anger (colère), strong intensity (2; 1 is mild),
sentence 3. Emotions (French): C colère, D dégoût, J joie, N neutre, P peur, S surprise,
T tristesse. The zip sorts them into `Colère/Faible/`, `Colère/Fort/`, ..., `Neutre/`;
any folder layout below the root works.

Speaker groups ("sessions"): each man with the woman of the next number (01 + 02, 03 + 04,
...), six groups. The `session` protocol gives six folds; the `speaker` protocol validates on
the pair partner. Both intensities are kept: an utterance's label is its emotion.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from sier.corpora.labels import CAFE_RELEASE, LabelMap, get_label_map
from sier.corpora.named_files import NamedFile, check_release_counts, named_wavs_below, read_named_files
from sier.corpora.records import PrepareResult

CORPUS = "cafe"

FILE_NAME = re.compile(r"^(?P<actor>\d{2})-(?P<emotion>[CDJNPST])-(?P<intensity>[12])-(?P<sentence>\d)$")
EMOTIONS = {"C": "ang", "D": "dis", "J": "hap", "N": "neu", "P": "fea", "S": "sur", "T": "sad"}
ACTORS = 12


def parse_name(path: Path) -> NamedFile | None:
    """What a CaFE file name says; None for other names."""
    m = FILE_NAME.match(path.stem)
    if not m or not 1 <= int(m["actor"]) <= ACTORS:
        return None
    actor = int(m["actor"])
    gender = "M" if actor % 2 else "F"
    return NamedFile(path.stem, f"cafe{actor:02d}", (actor + 1) // 2, gender, EMOTIONS[m["emotion"]])


def read_cafe(root: str | os.PathLike, label_map: str | LabelMap = "cafe-4") -> PrepareResult:
    """Read a CaFE tree (every wav below `root`) into Utterances under `label_map`, sorted by id."""
    lmap = get_label_map(label_map, CORPUS) if isinstance(label_map, str) else label_map
    named = named_wavs_below(root, FILE_NAME, "CaFE", "the unpacked CaFE folder",
                             "wavs named like 04-C-2-3.wav (actor, emotion letter, intensity, sentence) as in "
                             "CaFE_48k.zip (the 192 kHz version's AIFF files are not read)")
    result = read_named_files(list(named), parse_name, lmap, CORPUS)
    check_release_counts(result, lmap, CAFE_RELEASE, ACTORS, "CaFE", "the CaFE release")
    return result

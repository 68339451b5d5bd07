"""ASED (Amharic Speech Emotion Dataset, Amharic) reader for its distributed layout.

The GitHub repository (Ethio2021/ASED_V1) holds five emotion folders, `01Neutral`,
`02Fearful`, `03Happy`, `04Sad`, `05Angry`, of 16 kHz wavs named `xn-yy-aa-gg-bb.wav`: the
emotion letter and its folder number (n1 neutral, f2 fear, h3 happy, s4 sad, a5 angry),
sentence yy (01-07), repetition aa, gender gg (01 female, 02 male) and speaker bb (01-65).
`a5-03-01-02-50.wav` is sentence 3, first take, by the male speaker 50, angry. Sixty-five
speakers (25 women, 40 men), 2474 utterances. Any folder layout below the root works.

Two traps of the release (all 2474 names read):
- one name has a capital letter, `S4-04-02-01-29.wav`: letters are read in either case;
- speaker numbers are global, but five files of five women say 02 (male), e.g.
  `s4-01-02-02-09.wav` of speaker 09, whose fifteen other files say 01. A speaker's gender is
  the one most of their files give (ties: the lower code), and a warning counts the files that
  disagree. Taking each file's code would invent five male speakers.

Speaker groups ("sessions"): women and men dealt round-robin into five groups (5 women and
8 men each on the whole corpus). The `session` protocol gives five speaker-disjoint folds.
"""

from __future__ import annotations

import os
import re
from collections import Counter

from sier.corpora.labels import ASED_RELEASE, LabelMap, get_label_map
from sier.corpora.named_files import check_release_counts, named_wavs_below, read_dealt_speakers
from sier.corpora.records import PrepareResult

CORPUS = "ased"

FILE_NAME = re.compile(r"^(?P<emotion>n1|f2|h3|s4|a5)-(?P<sentence>\d\d)-(?P<take>\d\d)-(?P<gender>0[12])-"
                       r"(?P<speaker>\d\d)$", re.IGNORECASE)
EMOTIONS = {"n": "neu", "f": "fea", "h": "hap", "s": "sad", "a": "ang"}
GENDERS = {"01": "F", "02": "M"}
GROUPS = 5
SPEAKERS = 65


def read_ased(root: str | os.PathLike, label_map: str | LabelMap = "ased-4") -> PrepareResult:
    """Read an ASED tree (every wav below `root`) into Utterances under `label_map`, sorted by id."""
    lmap = get_label_map(label_map, CORPUS) if isinstance(label_map, str) else label_map
    named = named_wavs_below(root, FILE_NAME, "ASED", "the ASED_V1 folder (01Neutral ... 05Angry)",
                             "wavs named like a5-03-01-02-50.wav (emotion and folder number, sentence, take, "
                             "gender, speaker)")
    genders, disagreeing = speaker_genders(m for m in named.values() if m)
    result = read_dealt_speakers(named, lmap, CORPUS, GROUPS, lambda m: f"ased{m['speaker']}",
                                 lambda m: EMOTIONS[m["emotion"][0].lower()], genders)
    if disagreeing:
        result.warnings.append(
            f"{len(disagreeing)} wav(s) give a gender code that most files of their speaker do not (e.g. "
            f"{', '.join(sorted(disagreeing)[:3])}); each speaker's gender is the one most of their files give")
    check_release_counts(result, lmap, ASED_RELEASE, SPEAKERS, "ASED", "the ASED release")
    return result


def speaker_genders(matches) -> tuple[dict[str, str], list[str]]:
    """Each speaker's gender, F or M, by the majority of their files' codes (ties: the lower
    code), and the names of the files whose code disagrees with it."""
    codes: dict[str, Counter] = {}
    files: list[tuple[str, str, str]] = []
    for m in matches:
        speaker = f"ased{m['speaker']}"
        codes.setdefault(speaker, Counter())[m["gender"]] += 1
        files.append((speaker, m["gender"], m.string))
    chosen = {s: min(c, key=lambda code: (-c[code], code)) for s, c in codes.items()}
    disagreeing = [f"{name}.wav" for speaker, code, name in files if code != chosen[speaker]]
    return {s: GENDERS[code] for s, code in chosen.items()}, disagreeing

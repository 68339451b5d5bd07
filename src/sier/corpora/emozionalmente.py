"""Emozionalmente (Italian, crowd-sourced) reader for its Zenodo layout.

Emozionalmente (Catania and Garzotto; CC BY 4.0) has 6902 utterances of 431 non-professional
speakers, each saying some of 18 sentences in the Big Six emotions and neutrality, recorded
at home (16 kHz). The unpacked `emozionalmente_dataset/` holds `audio/` with the wavs and
`metadata/`: `samples.csv` (one row per file: file_name, actor, sentence, emotion_expressed,
...), `users.csv` (username, gender, age, mother_tongue, ...) and `evaluations.csv` (the
listeners' guesses, which sier does not read). Labels are the emotion the speaker meant to
express: anger, disgust, fear, joy, neutrality, sadness, surprise. A speaker whose gender is
neither female nor male is left out and counted (the per-gender analyses need one).

With 431 speakers it is the corpus that says most about how results vary across speakers.
Speaker groups ("sessions"): women and men dealt round-robin into five groups (about 86
speakers each).
"""

from __future__ import annotations

import csv
import os
from collections import Counter
from pathlib import Path

from sier.corpora.labels import EMOZIONALMENTE_RELEASE, LABEL_MAPS, LabelMap, get_label_map
from sier.corpora.named_files import deal_into_groups, folder_holding
from sier.corpora.records import PrepareResult, count_differences
from sier.errors import CorpusError

CORPUS = "emozionalmente"

SAMPLES = Path("metadata") / "samples.csv"
USERS = Path("metadata") / "users.csv"
AUDIO = "audio"
EMOTIONS = {"anger": "ang", "disgust": "dis", "fear": "fea", "joy": "hap", "neutrality": "neu", "sadness": "sad",
            "surprise": "sur"}
GENDERS = {"female": "F", "f": "F", "male": "M", "m": "M"}
GROUPS = 5
LAYOUT = f"{AUDIO}/ and metadata/ (samples.csv, users.csv), as in the unpacked emozionalmente_dataset.zip"


def find_root(root: str | os.PathLike) -> Path:
    """The folder holding metadata/samples.csv: `root` or one of its children."""
    return folder_holding(root, lambda f: (f / SAMPLES).is_file(), "Emozionalmente", LAYOUT, article="an")


def read_csv(path: Path, columns: tuple[str, ...]) -> list[dict[str, str]]:
    """The rows of a metadata CSV (the `columns` of each, stripped); CorpusError naming the file
    where it is missing or lacks a column."""
    if not path.is_file():
        raise CorpusError(f"{path}: missing; Emozionalmente's {path.name} ships in metadata/ beside audio/.")
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise CorpusError(f"{path}: no column {', '.join(missing)}; is it Emozionalmente's metadata/{path.name}?")
        return [{c: (row.get(c) or "").strip() for c in columns} for row in reader]


def read_genders(path: Path) -> dict[str, str]:
    """username -> "F" / "M" from users.csv; other genders are left out (see module doc)."""
    rows = read_csv(path, ("username", "gender"))
    return {r["username"]: GENDERS[r["gender"].lower()] for r in rows if r["gender"].lower() in GENDERS}


def read_emozionalmente(root: str | os.PathLike, label_map: str | LabelMap = "emozionalmente-4") -> PrepareResult:
    """Read an Emozionalmente tree into Utterances under `label_map`, sorted by id."""
    lmap = get_label_map(label_map, CORPUS) if isinstance(label_map, str) else label_map
    base = find_root(root)
    samples = read_csv(base / SAMPLES, ("file_name", "actor", "emotion_expressed"))
    genders = read_genders(base / USERS)
    groups = deal_into_groups({r["actor"]: genders[r["actor"]] for r in samples if r["actor"] in genders}, GROUPS)
    result = PrepareResult(utterances=[])
    left_out: Counter[str] = Counter()
    for row in samples:
        emotion = EMOTIONS.get(row["emotion_expressed"].lower())
        label = lmap.map(emotion) if emotion else None
        wav = base / AUDIO / row["file_name"]
        if emotion is None:
            left_out[f"of another emotion ({row['emotion_expressed'] or 'none'})"] += 1
        elif row["actor"] not in genders:
            left_out["of a speaker of no gender female or male in users.csv"] += 1
        elif label is None:
            result.drop(emotion)
        elif not wav.is_file():
            result.missing_wavs.append(Path(row["file_name"]).stem)
        else:
            result.add(Path(row["file_name"]).stem, wav, f"emoz{row['actor']}", groups[row["actor"]],
                       genders[row["actor"]], label, CORPUS)
    result.finish()
    for why, n in sorted(left_out.items()):
        result.warnings.append(f"{n} row(s) of {SAMPLES.name} left out, {why}")
    if lmap is LABEL_MAPS["emozionalmente-7"]:  # only the total is published
        result.warnings.extend(count_differences(result.utterances, EMOZIONALMENTE_RELEASE, "the Emozionalmente release",
                                                 "Emozionalmente"))
    return result

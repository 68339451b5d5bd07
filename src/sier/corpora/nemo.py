"""nEMO (Polish, acted) reader for the layout of its repository: `data.tsv` and `samples/`.

nEMO (Christop, LREC-COLING 2024; CC BY-NC-SA 4.0) has 4481 utterances of nine actors
(four women, five men) in six emotional states. `data.tsv` has one row per file, with the
columns file_id, emotion, raw_text, normalized_text, speaker_id, gender and age
(`EB0_anger_1.wav  anger  ...  EB0  female  27`); the wav of a row is `samples/<file_id>`.
Emotions: anger, fear, happiness, neutral, sadness, surprised. Speakers and genders come
from the table, not from the names. Its speaker ids are padded with spaces (as distributed):
they are stripped. The Hugging Face copy of nEMO is a parquet dataset, not this layout:
clone the GitHub repository instead.

Speaker groups ("sessions"): women and men dealt round-robin into four groups (one woman
and one or two men each). The `session` protocol gives four folds (test one group,
validate on the next, train on the other two); the `speaker` protocol validates on the rest
of the test speaker's group.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from sier.corpora.labels import NEMO_RELEASE, LabelMap, get_label_map
from sier.corpora.named_files import check_release_counts, deal_into_groups, folder_holding
from sier.corpora.records import PrepareResult
from sier.errors import CorpusError

CORPUS = "nemo"

TABLE = "data.tsv"
SAMPLES = "samples"
COLUMNS = ("file_id", "emotion", "speaker_id", "gender")
EMOTIONS = {"anger": "ang", "fear": "fea", "happiness": "hap", "neutral": "neu", "sadness": "sad", "surprised": "sur"}
GENDERS = {"female": "F", "male": "M"}
GROUPS = 4
SPEAKERS = 9
LAYOUT = f"{TABLE} (file_id, emotion, ..., speaker_id, gender, age) beside {SAMPLES}/ with its wavs, as in the nEMO repository"


def find_root(root: str | os.PathLike) -> Path:
    """The folder holding data.tsv: `root` or one of its children."""
    return folder_holding(root, lambda f: (f / TABLE).is_file(), "nEMO", LAYOUT, article="an")


def read_table(path: Path) -> list[dict[str, str]]:
    """The rows of data.tsv, stripped of padding; CorpusError naming the file where a column is missing.

    Fields are split on tabs only: its transcriptions hold quotation marks, which are text."""
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise CorpusError(f"{path}: no column {', '.join(missing)}; is it nEMO's {TABLE} "
                              f"(file_id, emotion, raw_text, normalized_text, speaker_id, gender, age)?")
        return [{c: (row.get(c) or "").strip() for c in COLUMNS} for row in reader]


def _understood(row: dict[str, str]) -> bool:
    return bool(row["file_id"] and row["speaker_id"]) and row["emotion"] in EMOTIONS and row["gender"] in GENDERS


def read_nemo(root: str | os.PathLike, label_map: str | LabelMap = "nemo-4") -> PrepareResult:
    """Read an nEMO tree into Utterances under `label_map`, sorted by id."""
    lmap = get_label_map(label_map, CORPUS) if isinstance(label_map, str) else label_map
    base = find_root(root)
    rows = read_table(base / TABLE)
    odd = [r["file_id"] or "(no file_id)" for r in rows if not _understood(r)]
    rows = [r for r in rows if _understood(r)]
    groups = deal_into_groups({r["speaker_id"]: GENDERS[r["gender"]] for r in rows}, GROUPS)
    result = PrepareResult(utterances=[])
    for row in rows:
        stem = Path(row["file_id"]).stem
        label = lmap.map(EMOTIONS[row["emotion"]])
        wav = base / SAMPLES / row["file_id"]
        if label is None:
            result.drop(EMOTIONS[row["emotion"]])
        elif not wav.is_file():
            result.missing_wavs.append(stem)
        else:
            speaker = row["speaker_id"]
            result.add(stem, wav, f"nemo{speaker}", groups[speaker], GENDERS[row["gender"]], label, CORPUS)
    result.finish()
    if odd:
        result.warnings.append(f"{len(odd)} row(s) of {TABLE} left out whose emotion, speaker or gender is not "
                               f"nEMO's, e.g. {odd[0]}")
    check_release_counts(result, lmap, NEMO_RELEASE, SPEAKERS, "nEMO", "the nEMO release")
    return result

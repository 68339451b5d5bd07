"""MSP-Podcast (English, naturalistic podcast speech) reader for its distributed layout.

`Audios/` holds the segments (`MSP-PODCAST_0001_0008.wav`, 16 kHz) and `Labels/` the
consensus labels, one row per segment: `labels_consensus.csv` (`labels_concensus.csv` in
releases before 1.11; `labels_consensus.json`, keyed by file name, in later ones) with the
columns FileName, EmoClass, EmoAct, EmoVal, EmoDom, SpkrID, Gender and Split_Set. EmoClass is
the consensus primary emotion: N H A S U F D C (neutral, happy, angry, sad, surprise, fear,
disgust, contempt), O (other) or X (no agreement). Split_Set is the corpus's own partition:
Train, Development (Validation in later releases), Test1, Test2 (and Test3, whose labels are
not public). Releases that keep the partition in `Partitions.txt` ("Train; <file>.wav") are
read too.

The partitions are speaker-independent by design, and MSP-Podcast results are compared on
them, so they are sier's "sessions": 1 Train, 2 Development, 3 Test1, 4 Test2, 5 Test3. The
`official` fold protocol trains on Train, selects the model on Development and tests on the
rest (the per-session table then gives Test1 and Test2 apart); the split checker confirms
that no speaker is in two parts. Segments whose speaker is "Unknown" are left out and counted:
they cannot be kept out of two parts. A speaker's gender is the one its rows give; a speaker
without one is left out and counted. No release counts are checked: they change with every
release.
"""

from __future__ import annotations

import csv
import json
import os
from collections import Counter
from pathlib import Path
from typing import Iterator

from sier.corpora.dimensions import parse_value
from sier.corpora.labels import LabelMap, get_label_map
from sier.corpora.named_files import folder_holding, wav_files
from sier.corpora.records import PrepareResult
from sier.errors import CorpusError

CORPUS = "msppodcast"

LABEL_FILES = ("labels_consensus.csv", "labels_concensus.csv", "labels_consensus.json")
COLUMNS = ("FileName", "EmoClass", "SpkrID", "Gender")
EMOTIONS = {"N": "neu", "H": "hap", "A": "ang", "S": "sad", "U": "sur", "F": "fea", "D": "dis", "C": "con",
            "O": "oth", "X": "xxx"}
PARTITIONS = {"Train": 1, "Development": 2, "Validation": 2, "Test1": 3, "Test2": 4, "Test3": 5}
PARTITION_NAMES = {1: "Train", 2: "Development", 3: "Test1", 4: "Test2", 5: "Test3"}
GENDERS = {"female": "F", "male": "M"}
LAYOUT = ("Audios/ with the segments (MSP-PODCAST_0001_0008.wav) and Labels/labels_consensus.csv "
          "(or labels_concensus.csv, labels_consensus.json) beside it")


def find_root(root: str | os.PathLike) -> Path:
    """The folder holding Audios/ and Labels/: `root` or one of its children."""
    return folder_holding(root, lambda f: (f / "Audios").is_dir() and (f / "Labels").is_dir(), "MSP-Podcast", LAYOUT,
                          article="an")


def label_file(base: Path) -> Path:
    """The consensus label file of the release at `base`."""
    for name in LABEL_FILES:
        if (base / "Labels" / name).is_file():
            return base / "Labels" / name
    raise CorpusError(f"{base / 'Labels'}: none of {', '.join(LABEL_FILES)}; MSP-Podcast's consensus labels "
                      "ship in one of them.")


def read_label_rows(path: Path) -> Iterator[dict[str, str]]:
    """One dict per segment with at least the COLUMNS (and Split_Set where the file has it)."""
    try:
        if path.suffix == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
                raise CorpusError(f"{path}: expected an object of file name -> labels; is it MSP-Podcast's?")
            rows = [{"FileName": name, **{k: str(v) for k, v in labels.items()}} for name, labels in data.items()]
        else:
            with path.open(newline="", encoding="utf-8-sig") as fh:
                rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorpusError(f"{path}: unreadable ({exc}); re-extract the MSP-Podcast release.") from exc
    missing = [c for c in COLUMNS if rows and c not in rows[0]]
    if not rows or missing:
        raise CorpusError(f"{path}: no segment rows with the columns {', '.join(COLUMNS)} "
                          f"(missing {', '.join(missing) or 'all rows'}); is it MSP-Podcast's consensus label file?")
    yield from rows


def read_partitions(base: Path) -> dict[str, str]:
    """File name -> partition from `Partitions.txt` ("Train; MSP-PODCAST_0001_0008.wav"), for
    releases whose label file has no Split_Set column."""
    path = base / "Partitions.txt"
    if not path.is_file():
        raise CorpusError(f"{base}: the label file has no Split_Set column and there is no Partitions.txt; "
                          "sier needs the corpus's partitions to keep speakers apart.")
    parts = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if ";" in line:
            part, name = (s.strip() for s in line.split(";", 1))
            parts[name] = part
    return parts


def speaker_genders(rows: list[dict[str, str]]) -> tuple[dict[str, str], list[str]]:
    """Speaker -> "F"/"M" by the majority of its rows, and warnings for speakers whose rows
    disagree."""
    votes: dict[str, Counter] = {}
    for row in rows:
        gender = GENDERS.get(row["Gender"].strip().lower())
        if gender:
            votes.setdefault(row["SpkrID"].strip(), Counter())[gender] += 1
    genders, torn = {}, []
    for speaker, count in votes.items():
        genders[speaker] = count.most_common(1)[0][0]
        if len(count) > 1:
            torn.append(speaker)
    warnings = [f"{len(torn)} speaker(s) with rows of both genders take the majority's, e.g. SpkrID {torn[0]}"] if torn else []
    return genders, warnings


def read_msppodcast(root: str | os.PathLike, label_map: str | LabelMap = "msppodcast-4") -> PrepareResult:
    """Read an MSP-Podcast release into Utterances under `label_map`, sorted by id."""
    lmap = get_label_map(label_map, CORPUS) if isinstance(label_map, str) else label_map
    base = find_root(root)
    labels = label_file(base)
    rows = list(read_label_rows(labels))
    partition_of = None if "Split_Set" in rows[0] else read_partitions(base)
    genders, warnings = speaker_genders(rows)
    wavs = {p.name: p for p in wav_files(base / "Audios", recursive=True)}
    result = PrepareResult(utterances=[])
    left_out: Counter = Counter()
    for row in rows:
        name = row["FileName"].strip()
        name = name if name.endswith(".wav") else f"{name}.wav"
        part = (row["Split_Set"] if partition_of is None else partition_of.get(name, "")).strip()
        speaker = row["SpkrID"].strip()
        if part not in PARTITIONS:
            left_out["outside the partitions Train, Development, Test1, Test2, Test3"] += 1
        elif not speaker or speaker.lower() == "unknown":
            left_out["of an unknown speaker"] += 1
        elif speaker not in genders:
            left_out["of a speaker of unknown gender"] += 1
        elif (label := lmap.map(EMOTIONS.get(row["EmoClass"].strip(), row["EmoClass"].strip()))) is None:
            result.drop(row["EmoClass"].strip() or "(none)")
        elif name not in wavs:
            result.missing_wavs.append(name[:-4])
        else:
            dims = tuple(parse_value(row.get(column)) for column in ("EmoAct", "EmoVal", "EmoDom"))
            result.add(name[:-4], wavs[name], f"msp{speaker}", PARTITIONS[part], genders[speaker], label, CORPUS, dims)
    result.finish()
    result.warnings.extend(warnings)
    result.warnings.extend(f"{n} segment(s) {why} left out ({labels.name})" for why, n in sorted(left_out.items()))
    return result

"""MSP-IMPROV (English, acted dyadic improvisations) reader for its distributed layout.

`Evaluation.txt` holds the perceptual labels: for every turn a consensus line
`UTD-IMPROV-S01A-F01-P-FM01.avi; A; A:4.0; V:2.2; D:2.6 ; N:5.0;` (emotion letter A, H, S, N
for anger, happiness, sadness, neutral; O other; X no agreement), followed by one line per
rater, which sier does not need. The audio lies below `session1..session6/` as
`session1/S01A/P/MSP-IMPROV-S01A-F01-P-FM01.wav`: sentence 01 with target emotion A, spoken by
the woman (F) of session 01, recording type P (R read, S/I improvised, P natural
interaction), take FM01.

Six sessions, each of one actress and one actor, as in IEMOCAP: the speaker is the gender
letter and session number of the name (`improvF01`), the session its number, so the
`session` protocol gives six folds of one woman and one man and the `speaker` protocol twelve.
The label is the perceived consensus, not the target emotion in the name (as for IEMOCAP).
No release counts are checked (published counts differ in what they keep).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from sier.corpora.dimensions import parse_value
from sier.corpora.labels import LabelMap, get_label_map
from sier.corpora.named_files import folder_holding, wav_files
from sier.corpora.records import PrepareResult
from sier.corpora.subsets import ALL, left_out_note, subset_filter, subset_names
from sier.errors import CorpusError

CORPUS = "mspimprov"

LABEL_FILE = "Evaluation.txt"
CONSENSUS = re.compile(r"^UTD-IMPROV-(?P<name>[A-Z0-9-]+)\.avi;\s*(?P<label>[A-Z]);(?P<rest>.*)$")
RATING = re.compile(r"(?P<dim>[AVD])\s*:\s*(?P<value>[^;\s]+)")
FILE_NAME = re.compile(r"^MSP-IMPROV-S\d{2}[A-Z]-(?P<gender>[FM])(?P<session>0[1-6])-[A-Z]-[A-Z0-9]+$")
EMOTIONS = {"A": "ang", "H": "hap", "S": "sad", "N": "neu", "O": "oth", "X": "xxx"}
LAYOUT = (f"{LABEL_FILE} beside the folders session1..session6, whose wavs are named like "
          "MSP-IMPROV-S01A-F01-P-FM01.wav")


def find_root(root: str | os.PathLike) -> Path:
    """The folder holding Evaluation.txt: `root` or one of its children."""
    return folder_holding(root, lambda f: (f / LABEL_FILE).is_file(), "MSP-IMPROV", LAYOUT, article="an")


def read_consensus(path: Path) -> dict[str, tuple[str, tuple[float | None, float | None, float | None]]]:
    """Wav stem (MSP-IMPROV-S01A-F01-P-FM01) -> (consensus letter, (arousal, valence,
    dominance)), from Evaluation.txt; a rating given as NaN (some dominance values) is None."""
    labels = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        m = CONSENSUS.match(line.strip())
        if m:
            ratings = {r["dim"]: parse_value(r["value"]) for r in RATING.finditer(m["rest"])}
            labels[f"MSP-IMPROV-{m['name']}"] = (m["label"], (ratings.get("A"), ratings.get("V"), ratings.get("D")))
    if not labels:
        raise CorpusError(f"{path}: no consensus line such as 'UTD-IMPROV-S01A-F01-P-FM01.avi; A; A:4.0; ...'; "
                          "is it MSP-IMPROV's Evaluation.txt?")
    return labels


def read_mspimprov(root: str | os.PathLike, label_map: str | LabelMap = "mspimprov-4", subset: str = ALL) -> PrepareResult:
    """Read an MSP-IMPROV tree into Utterances under `label_map`, sorted by id; `subset` keeps
    some recording types only ("read", "improvised", "natural"; sier.corpora.subsets)."""
    lmap = get_label_map(label_map, CORPUS) if isinstance(label_map, str) else label_map
    in_subset = subset_filter(CORPUS, subset)
    base = find_root(root)
    consensus = read_consensus(base / LABEL_FILE)
    wavs = {p.stem: p for p in wav_files(base, recursive=True) if FILE_NAME.match(p.stem)}
    result = PrepareResult(utterances=[])
    odd = []
    left_out = 0
    for stem, (letter, dims) in consensus.items():
        m = FILE_NAME.match(stem)
        label = lmap.map(EMOTIONS.get(letter, letter))
        if m is None:
            odd.append(stem)
        elif not in_subset(stem):
            left_out += 1
        elif label is None:
            result.drop(letter)
        elif stem not in wavs:
            result.missing_wavs.append(stem)
        else:
            spk = f"{m['gender']}{m['session']}"
            result.add(stem, wavs[stem], f"improv{spk}", int(m["session"]), m["gender"], label, CORPUS, dims)
    result.finish()
    if subset_names(subset):
        result.notes.append(left_out_note(CORPUS, subset, left_out))
    if odd:
        result.warnings.append(f"{len(odd)} line(s) of {LABEL_FILE} name no MSP-IMPROV turn and were left out, "
                               f"e.g. {odd[0]}")
    unlabelled = sorted(set(wavs) - set(consensus))
    if unlabelled:
        result.warnings.append(f"{len(unlabelled)} wav(s) without a consensus line in {LABEL_FILE} left out, "
                               f"e.g. {unlabelled[0]}")
    return result

"""IEMOCAP reader for the official `IEMOCAP_full_release` layout.

Labels come from the top-level `SessionN/dialog/EmoEvaluation/*.txt` only; their summary
lines look like `[6.2901 - 8.2357]<TAB>Ses01F_impro01_F000<TAB>neu<TAB>[2.5000, 2.5000, 2.5000]`.
Audio is `SessionN/sentences/wav/<dialog>/<utterance id>.wav`. The speaker is the session
plus the gender letter that starts the id's last part (`..._F012` is the female actor),
not the letter in the dialog name (that one says who wore the motion markers).
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from sier.corpora.dimensions import parse_value
from sier.corpora.labels import IEMOCAP4_FULL_RELEASE, LABEL_MAPS, LabelMap, get_label_map
from sier.corpora.records import PrepareResult, Utterance, count_differences
from sier.corpora.subsets import ALL, left_out_note, subset_filter, subset_names
from sier.errors import CorpusError

log = logging.getLogger(__name__)

CORPUS = "iemocap"

# Ses03M_script01_2_F012, Ses03M_impro05a_M001, Ses05M_script01_1b_F003
UTTERANCE_ID = re.compile(
    r"^Ses(?P<session>\d{2})(?P<mocap>[FM])_(?P<dialog_rest>.+)_(?P<gender>[FM])(?P<turn>\d{3})$"
)
# [start - end]<TAB>id<TAB>label<TAB>[V, A, D]; per-annotator lines start with C-, A-, etc.
SUMMARY_LINE = re.compile(
    r"^\[\s*(?P<start>[\d.]+)\s*-\s*(?P<end>[\d.]+)\s*\]\s+(?P<id>Ses\S+)\s+(?P<label>[a-z]+)\s+\["
    r"(?:\s*(?P<v>[\d.]+)\s*,\s*(?P<a>[\d.]+)\s*,\s*(?P<d>[\d.]+)\s*\])?"
)
SESSION_DIR = re.compile(r"^Session(?P<n>\d+)$")


def find_root(root: str | os.PathLike) -> Path:
    """The folder that holds Session1..5: `root` itself or its `IEMOCAP_full_release` child."""
    root = Path(root)
    if not root.is_dir():
        raise CorpusError(f"{root}: not a directory; pass the path of IEMOCAP_full_release with --root.")
    for candidate in (root, root / "IEMOCAP_full_release"):
        if any(SESSION_DIR.match(p.name) for p in candidate.iterdir() if p.is_dir()) if candidate.is_dir() else False:
            return candidate
    raise CorpusError(
        f"{root}: not an IEMOCAP tree; expected Session1..Session5 folders, each with "
        "dialog/EmoEvaluation/*.txt and sentences/wav/<dialog>/<id>.wav "
        "(the layout of IEMOCAP_full_release)."
    )


def _is_junk(path: Path) -> bool:
    """macOS resource forks (._*) and Finder files (.DS_Store), found in the real release."""
    return path.name.startswith("._") or path.name == ".DS_Store"


def label_files(session_dir: Path) -> list[Path]:
    """Top-level EmoEvaluation/*.txt of one session (subfolders hold per-rater files)."""
    eval_dir = session_dir / "dialog" / "EmoEvaluation"
    if not eval_dir.is_dir():
        raise CorpusError(
            f"{eval_dir}: label folder missing; a session of IEMOCAP_full_release has "
            "dialog/EmoEvaluation/*.txt. Is the copy complete?"
        )
    files = sorted(p for p in eval_dir.iterdir() if p.is_file() and p.suffix == ".txt" and not _is_junk(p))
    if not files:
        raise CorpusError(f"{eval_dir}: no label files (*.txt); is the copy complete?")
    return files


Dimensions = tuple[float | None, float | None, float | None]


def parse_label_file(path: Path) -> list[tuple[str, str, Dimensions]]:
    """(utterance id, raw label, (arousal, valence, dominance)) of each summary line; other
    lines are ignored. The line gives the mean ratings as [V, A, D]; None where it has none."""
    text = path.read_bytes().decode("utf-8-sig", errors="replace")
    found = []
    for line in text.splitlines():  # handles CRLF and stray CR
        m = SUMMARY_LINE.match(line.strip())
        if m and UTTERANCE_ID.match(m["id"]):
            found.append((m["id"], m["label"], (parse_value(m["a"]), parse_value(m["v"]), parse_value(m["d"]))))
    return found


def wav_path(session_dir: Path, utt_id: str) -> Path:
    dialog = utt_id.rsplit("_", 1)[0]
    return session_dir / "sentences" / "wav" / dialog / f"{utt_id}.wav"


def speaker_of(utt_id: str) -> tuple[str, int, str]:
    """(speaker, session, gender) of an utterance id, e.g. Ses03M_script01_2_F012 -> (Ses03F, 3, F)."""
    m = UTTERANCE_ID.match(utt_id)
    if not m:
        raise CorpusError(f"{utt_id!r} is not an IEMOCAP utterance id (e.g. Ses01F_impro01_M003)")
    session = int(m["session"])
    return f"Ses{session:02d}{m['gender']}", session, m["gender"]


def read_iemocap(root: str | os.PathLike, label_map: str | LabelMap = "iemocap-4", subset: str = ALL) -> PrepareResult:
    """Read an IEMOCAP tree into Utterances under `label_map`, sorted by id; `subset`
    "improvised" or "scripted" keeps those dialogs only (sier.corpora.subsets)."""
    lmap = get_label_map(label_map) if isinstance(label_map, str) else label_map
    in_subset = subset_filter(CORPUS, subset)
    base = find_root(root)
    sessions = sorted(
        (p for p in base.iterdir() if p.is_dir() and SESSION_DIR.match(p.name)),
        key=lambda p: int(SESSION_DIR.match(p.name)["n"]),
    )
    result = PrepareResult(utterances=[])
    seen: set[str] = set()
    left_out = 0
    for session_dir in sessions:
        for label_file in label_files(session_dir):
            for utt_id, raw, dims in parse_label_file(label_file):
                if utt_id in seen:
                    continue
                seen.add(utt_id)
                if not in_subset(utt_id):
                    left_out += 1
                    continue
                label = lmap.map(raw)
                if label is None:
                    result.drop(raw)
                    continue
                wav = wav_path(session_dir, utt_id)
                if not wav.is_file():
                    result.missing_wavs.append(utt_id)
                    continue
                result.add(utt_id, wav, *speaker_of(utt_id), label, CORPUS, dims)
    result.finish()
    if subset_names(subset):  # the full release's counts are those of every dialog
        result.notes.append(left_out_note(CORPUS, subset, left_out))
    # The synthetic corpus (sier synth) marks itself with synth.json; its counts are its own.
    elif lmap is LABEL_MAPS["iemocap-4"] and not (base / "synth.json").is_file():  # the counts are of that map
        result.warnings.extend(compare_with_full_release(result.utterances))
    return result


def compare_with_full_release(utterances: list[Utterance]) -> list[str]:
    """Warnings naming each difference from the known iemocap-4 counts of the full release.

    Only checked when all five sessions are present (a partial copy is the user's choice)."""
    if {u.session for u in utterances} != {1, 2, 3, 4, 5}:
        return []
    return count_differences(utterances, IEMOCAP4_FULL_RELEASE, "the full IEMOCAP release")

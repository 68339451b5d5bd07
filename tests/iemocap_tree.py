"""Build small trees in the layout of IEMOCAP_full_release for tests.

Each tree holds the decoys found in the real release: per-rater files in
EmoEvaluation/{Categorical,Attribute,Self-evaluation}/ and transcriptions/ that repeat
(and here even contradict) the ids, whole-dialog wavs in dialog/wav/, macOS `._*` and
`.DS_Store` files. The decoys name a "ghost" utterance whose wav exists, so a reader that
looks at them puts it into the manifest and fails the exact-manifest tests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import soundfile as sf

SR = 16_000
_ID = re.compile(r"^Ses(?P<session>\d{2})[FM]_.+_(?P<gender>[FM])\d{3}$")


@dataclass(frozen=True)
class Turn:
    """One utterance to put into a tree."""

    id: str
    label: str  # raw IEMOCAP label: neu, hap, exc, ang, sad, fru, sur, xxx, ...
    samples: int = 4000  # at `rate`; 4000 at 16 kHz = 0.25 s
    rate: int = SR
    channels: int = 1
    wav: bool = True  # False: the label is there, the wav is not

    @property
    def session(self) -> int:
        return int(_ID.match(self.id)["session"])

    @property
    def dialog(self) -> str:
        return self.id.rsplit("_", 1)[0]

    @property
    def speaker(self) -> str:
        m = _ID.match(self.id)
        return f"Ses{m['session']}{m['gender']}"

    @property
    def duration_s(self) -> float:
        return self.samples / self.rate


# Dialog names with suffix letters and extra underscores, turns whose speaker differs
# from the dialog's mocap letter, every label the maps treat differently.
TURNS: tuple[Turn, ...] = (
    Turn("Ses01F_impro01_F000", "neu"),
    Turn("Ses01F_impro01_M000", "ang", samples=5000),
    Turn("Ses01F_impro01_F001", "fru"),
    Turn("Ses01F_impro01_M001", "xxx"),
    Turn("Ses01M_script01_1_F000", "exc", rate=44_100, samples=22_050),  # 0.5 s at 44.1 kHz
    Turn("Ses01M_script01_1_M000", "sad", channels=2),
    Turn("Ses03M_script01_2_F012", "hap", rate=8_000, samples=2_400),  # 0.3 s at 8 kHz
    Turn("Ses03M_impro05a_M001", "sad"),
    Turn("Ses03M_impro05a_F002", "sur"),
    Turn("Ses03M_impro05b_F000", "dis"),
    Turn("Ses05M_script01_1b_F003", "ang"),
    Turn("Ses05M_script01_1b_M004", "neu", samples=6000),
    Turn("Ses05F_impro03_F010", "neu", wav=False),
    Turn("Ses05F_impro03_M011", "hap", wav=False),
)

GHOST_ID = "Ses01F_impro01_F099"  # only in decoy files; its wav exists


def write_wav(path: Path, samples: int = 4000, rate: int = SR, channels: int = 1, seed: int = 0) -> Path:
    """A small noise wav (PCM_16) of `samples` frames."""
    rng = np.random.default_rng(seed)
    data = (0.1 * rng.standard_normal((samples, channels))).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), data, rate, subtype="PCM_16")
    return path


def summary_line(turn_id: str, label: str, start: float = 1.0) -> str:
    return f"[{start:.4f} - {start + 1.5:.4f}]\t{turn_id}\t{label}\t[2.5000, 3.0000, 3.5000]"


def label_file_text(turns: Iterable[Turn], newline: str = "\n") -> str:
    """Text of a top-level EmoEvaluation file: header, then per turn a summary line
    followed by per-annotator lines, blocks separated by blank lines."""
    lines = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""]
    for i, t in enumerate(turns):
        lines += [
            summary_line(t.id, t.label, start=2.0 * i + 1),
            "C-E1:\tNeutral state;\t()",
            "C-E2:\tFrustration; Anger;\t(annoyed)",
            f"C-{t.id.rsplit('_', 1)[1][0]}:\tHappiness;\t()",
            "A-E2:\tval 3; act 2; dom  2;\t()",
            "A-F:\tval 2; act 3; dom  3;\t()",
            "",
        ]
    return newline.join(lines) + newline


def build_tree(
    root: Path,
    turns: Iterable[Turn] = TURNS,
    *,
    crlf: bool = False,
    junk: bool = True,
    decoys: bool = True,
) -> Path:
    """Write an IEMOCAP-layout tree under `root` (which becomes IEMOCAP_full_release); return root."""
    turns = list(turns)
    newline = "\r\n" if crlf else "\n"
    dialogs: dict[tuple[int, str], list[Turn]] = {}
    for t in turns:
        dialogs.setdefault((t.session, t.dialog), []).append(t)
    for n, (session, dialog) in enumerate(sorted(dialogs)):
        dturns = dialogs[(session, dialog)]
        sess = root / f"Session{session}"
        emo = sess / "dialog" / "EmoEvaluation"
        emo.mkdir(parents=True, exist_ok=True)
        (emo / f"{dialog}.txt").write_bytes(label_file_text(dturns, newline).encode())
        wav_dir = sess / "sentences" / "wav" / dialog
        for k, t in enumerate(dturns):
            if t.wav:
                write_wav(wav_dir / f"{t.id}.wav", t.samples, t.rate, t.channels, seed=k)
        wav_dir.mkdir(parents=True, exist_ok=True)
        if junk:
            _write_junk(emo, dialog, wav_dir, dturns)
        if decoys:
            _write_decoys(sess, emo, dialog, dturns, first=(n == 0))
    return root


def _write_junk(emo: Path, dialog: str, wav_dir: Path, turns: list[Turn]) -> None:
    # A resource fork holds binary data; this one also carries a summary-shaped line.
    ghost = summary_line(GHOST_ID, "neu").encode()
    (emo / f"._{dialog}.txt").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X\x00\xff\n" + ghost + b"\n")
    (emo / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1\x00\x00\x10\x00" + ghost)
    (wav_dir / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1\x00")
    (wav_dir.parent / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1\x00")
    for t in turns:
        (wav_dir / f"._{t.id}.wav").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        ")


def _write_decoys(sess: Path, emo: Path, dialog: str, turns: list[Turn], first: bool) -> None:
    """Files that repeat ids with other labels, plus the ghost id; all must be ignored."""
    wrong = [Turn(t.id, "ang" if t.label != "ang" else "sad") for t in turns]
    if first:
        wrong.append(Turn(GHOST_ID, "neu"))
        write_wav(sess / "sentences" / "wav" / GHOST_ID.rsplit("_", 1)[0] / f"{GHOST_ID}.wav")
    decoy_text = label_file_text(wrong)
    for sub, name in (
        ("Categorical", f"{dialog}_e1_cat.txt"),
        ("Attribute", f"{dialog}_e2_atr.txt"),
        ("Self-evaluation", f"{dialog}.txt"),
    ):
        (emo / sub).mkdir(exist_ok=True)
        (emo / sub / name).write_text(decoy_text)
    trans = sess / "dialog" / "transcriptions"
    trans.mkdir(parents=True, exist_ok=True)
    (trans / f"{dialog}.txt").write_text(
        "".join(f"{t.id} [001.0000-002.5000]: Excuse me.\n" for t in turns) + decoy_text
    )
    write_wav(sess / "dialog" / "wav" / f"{dialog}.wav", samples=8000)


def five_session_turns(per_speaker: int = 2) -> list[Turn]:
    """`per_speaker` neu turns for each of the 10 speakers, one dialog per session."""
    out = []
    for s in range(1, 6):
        for g in "FM":
            for k in range(per_speaker):
                out.append(Turn(f"Ses{s:02d}F_impro01_{g}{k:03d}", "neu", samples=2000))
    return out

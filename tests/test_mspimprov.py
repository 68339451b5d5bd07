"""The MSP-IMPROV reader on a small tree in its distributed layout (Evaluation.txt with
consensus and rater lines, session folders of wavs and videos), and its session folds."""

from __future__ import annotations

from pathlib import Path

import pytest

from named_trees import write_wav
from sier.corpora.mspimprov import read_mspimprov
from sier.corpora.records import Utterance
from sier.corpora.registry import read_corpus
from sier.errors import CorpusError
from sier.splits import make_folds

CODES = {"A": "ang", "H": "hap", "S": "sad", "N": "neu"}


def turns() -> list[tuple[str, str]]:
    """(wav stem, consensus letter): every speaker of the six sessions with two turns of each
    letter, over the recording types R, S and P."""
    out = []
    for session in range(1, 7):
        for gender in "FM":
            for i, letter in enumerate("AHSNAHSNOX"):
                target = "AHSN"[i % 4]
                kind = "RSP"[i % 3]
                pair = "FM" if gender == "F" else "MF"
                out.append((f"MSP-IMPROV-S{i + 1:02d}{target}-{gender}{session:02d}-{kind}-{pair}{i:02d}", letter))
    return out


def build_mspimprov(root: Path) -> dict[str, float]:
    """root/Evaluation.txt and root/sessionN/S01A/P/<stem>.wav (+ .avi); returns stem -> duration."""
    lines, durations = [], {}
    for k, (stem, letter) in enumerate(turns()):
        name = stem.removeprefix("MSP-IMPROV-")
        dominance = "NaN" if name.endswith("00") else "3.0"  # the release has some NaN ratings
        lines += [f"UTD-IMPROV-{name}.avi; {letter}; A:3.0; V:2.5; D:{dominance} ; N:4.0;",
                  "rater01; Angry; Angry,Frustrated; A:3.0; V:2.0; D:3.0; N:4.0;",
                  "rater02; Neutral; ; A:3.0; V:3.0; D:3.0; N:4.0;", ""]
        folder = root / f"session{int(stem[17:19])}" / stem[11:15] / stem[20]
        if stem.endswith("-FM03") and "F02" in stem:
            continue  # labelled, but its wav is missing
        durations[stem] = write_wav(folder / f"{stem}.wav", 0.3 + 0.01 * (k % 5), seed=k)
        (folder / f"{stem}.avi").write_bytes(b"video")
    lines.append("UTD-IMPROV-NOTATURN.avi; A; A:3.0; V:2.5; D:3.0 ; N:4.0;")
    write_wav(root / "session1" / "S01A" / "R" / "MSP-IMPROV-S01A-F01-R-FM99.wav", 0.3)  # no label line
    (root / "Evaluation.txt").write_text("\n".join(lines) + "\n")
    return durations


@pytest.fixture(scope="module")
def improv(tmp_path_factory) -> tuple[Path, dict[str, float]]:
    root = tmp_path_factory.mktemp("improv") / "MSP-IMPROV"
    return root, build_mspimprov(root)


def test_reader_gives_the_exact_manifest_and_says_what_it_left_out(improv):
    root, durations = improv
    result = read_mspimprov(root.parent)  # the corpus folder is found below the root
    expected = sorted(
        (Utterance(stem, str(p.resolve()), f"improv{stem[16:19]}", int(stem[17:19]), stem[16], CODES[letter],
                   durations[stem], "mspimprov", 3.0, 2.5, None if stem.endswith("00") else 3.0)
         for stem, letter in turns() if letter in CODES and stem in durations
         for p in root.rglob(f"{stem}.wav")),
        key=lambda u: u.id)
    assert result.utterances == expected
    assert len(result.utterances) == 12 * 8 - 1 and len({u.speaker for u in result.utterances}) == 12
    assert result.missing_wavs == ["MSP-IMPROV-S04N-F02-R-FM03"]
    assert result.dropped_labels == {"O": 12, "X": 12}
    assert result.warnings == [
        "1 labelled utterance(s) left out because their wav is missing, e.g. MSP-IMPROV-S04N-F02-R-FM03",
        "1 line(s) of Evaluation.txt name no MSP-IMPROV turn and were left out, e.g. MSP-IMPROV-NOTATURN",
        "1 wav(s) without a consensus line in Evaluation.txt left out, e.g. MSP-IMPROV-S01A-F01-R-FM99",
    ]
    assert read_corpus("mspimprov", root).utterances == result.utterances  # the default map is mspimprov-4


def test_session_folds_hold_out_one_actress_and_one_actor(improv):
    utts = read_mspimprov(improv[0]).utterances
    folds = make_folds(utts, "session")
    assert [f.test_speakers for f in folds] == [(f"improvF{s:02d}", f"improvM{s:02d}") for s in range(1, 7)]
    assert folds[5].val_speakers == ("improvF01", "improvM01")
    by_speaker = {f.test_speakers[0]: f for f in make_folds(utts, "speaker")}
    assert len(by_speaker) == 12 and by_speaker["improvM03"].val_speakers == ("improvF03",)


def test_errors_name_the_file_and_the_layout(tmp_path):
    with pytest.raises(CorpusError, match="not a directory"):
        read_mspimprov(tmp_path / "nowhere")
    (tmp_path / "session1").mkdir()
    with pytest.raises(CorpusError, match=r"not an MSP-IMPROV tree; expected Evaluation.txt beside the folders"):
        read_mspimprov(tmp_path)
    (tmp_path / "Evaluation.txt").write_text("something else\n")
    with pytest.raises(CorpusError, match=r"Evaluation.txt: no consensus line such as"):
        read_mspimprov(tmp_path)
    with pytest.raises(CorpusError, match="label map 'iemocap-4' is for iemocap, not mspimprov"):
        read_mspimprov(tmp_path, "iemocap-4")

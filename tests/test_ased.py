"""The ASED (Amharic) reader on small trees in its repository's layout (five emotion folders of
wavs named xn-yy-aa-gg-bb), with the release's two traps: a capital emotion letter and files
whose gender code contradicts their speaker's; `sier prepare --corpus ased`."""

from __future__ import annotations

import pytest

from named_trees import write_wav
from sier.cli import main
from sier.corpora.ased import read_ased
from sier.corpora.records import read_manifest
from sier.corpora.registry import language_of
from sier.errors import CorpusError

FOLDERS = {"n1": "01Neutral", "f2": "02Fearful", "h3": "03Happy", "s4": "04Sad", "a5": "05Angry"}
LABELS = {"n1": "neu", "f2": "fea", "h3": "hap", "s4": "sad", "a5": "ang"}


def build_ased(root, speakers: dict[int, str], sentences: int = 2) -> list[str]:
    """root/ASED_V1/<folder>/<name>.wav: `sentences` sentences of every emotion of every speaker
    (gender code 01 for F, 02 for M), in two takes. Returns the names."""
    names = []
    for speaker, gender in speakers.items():
        for code, folder in FOLDERS.items():
            for sentence in range(1, sentences + 1):
                take = 1 + (speaker + sentence) % 2
                name = f"{code}-{sentence:02d}-{take:02d}-{'01' if gender == 'F' else '02'}-{speaker:02d}"
                write_wav(root / "ASED_V1" / folder / f"{name}.wav", 0.1, seed=len(names))
                names.append(name)
    return names


def test_ased_reader_takes_speaker_gender_and_emotion_from_the_names_and_deals_five_groups(tmp_path):
    speakers = {k: "F" if k % 2 else "M" for k in range(1, 21)}  # 10 women, 10 men
    names = build_ased(tmp_path, speakers)
    # the release's traps: a capital letter, and a woman's file coded male
    (tmp_path / "ASED_V1/04Sad/s4-01-01-01-03.wav").rename(tmp_path / "ASED_V1/04Sad/S4-01-01-01-03.wav")
    (tmp_path / "ASED_V1/02Fearful/f2-02-02-01-09.wav").rename(tmp_path / "ASED_V1/02Fearful/f2-02-02-02-09.wav")
    write_wav(tmp_path / "ASED_V1/04Sad/a5-01-01-01-01.wav", 0.1)  # a copy of 05Angry's in another folder
    write_wav(tmp_path / "ASED_V1/README.wav", 0.1)
    result = read_ased(tmp_path, "ased-5")
    got = {u.id: u for u in result.utterances}
    assert len(got) == len(names) and "S4-01-01-01-03" in got and "f2-02-02-02-09" in got
    assert got["S4-01-01-01-03"].label == "sad"
    assert {(u.speaker, u.gender) for u in got.values()} == {(f"ased{k:02d}", g) for k, g in speakers.items()}
    assert got["f2-02-02-02-09"].gender == "F"  # the speaker's majority, not the file's code
    u = got["a5-02-01-02-04"]
    assert (u.label, u.speaker, u.corpus) == ("ang", "ased04", "ased")
    assert u.path == str((tmp_path / "ASED_V1/05Angry/a5-02-01-02-04.wav").resolve())
    assert {u.label for u in got.values()} == set(LABELS.values())
    groups: dict[int, set] = {}
    for u in got.values():
        groups.setdefault(u.session, set()).add((u.speaker, u.gender))
    assert sorted(groups) == [1, 2, 3, 4, 5]
    assert all(sorted(g for _, g in members) == ["F", "F", "M", "M"] for members in groups.values())
    assert any("1 wav(s) give a gender code that most files of their speaker do not (e.g. f2-02-02-02-09.wav)" in w
               for w in result.warnings)
    assert any("1 wav(s) left out whose names are not ased names (or name an unknown speaker), e.g. README.wav" in w
               for w in result.warnings)
    copies = [w for w in result.warnings if w.startswith("1 wav(s) left out whose utterance id another wav already")]
    assert len(copies) == 1 and "05Angry/a5-01-01-01-01.wav" in copies[0] and "04Sad/a5-01-01-01-01.wav" in copies[0]
    four = read_ased(tmp_path)  # the default map: the four shared classes
    assert four.dropped_labels == {"fea": 40} and len(four.utterances) == 160
    assert language_of("ased", "ased01") == "Amharic"


def test_ased_errors_and_release_counts(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorpusError, match="not a ASED tree; expected wavs named like a5-03-01-02-50.wav"):
        read_ased(tmp_path / "empty")
    with pytest.raises(CorpusError, match="not a directory; pass the ASED_V1 folder"):
        read_ased(tmp_path / "missing")
    build_ased(tmp_path / "whole", {k: "F" if k <= 25 else "M" for k in range(1, 66)}, sentences=1)
    warnings = read_ased(tmp_path / "whole", "ased-5").warnings
    assert any(w.startswith("counts differ from the ASED release: total 325 (ASED: 2474)") for w in warnings)


def test_prepare_writes_an_ased_manifest(tmp_path, capsys):
    build_ased(tmp_path / "corpus", {1: "F", 2: "M", 3: "F", 4: "M", 5: "F"})
    out = tmp_path / "ased.csv"
    assert main(["prepare", "--corpus", "ased", "--root", str(tmp_path / "corpus"), "--out", str(out)]) == 0
    rows = read_manifest(out)
    assert len(rows) == 5 * 4 * 2 and {r.corpus for r in rows} == {"ased"}
    assert {r.label for r in rows} == {"neu", "hap", "ang", "sad"}

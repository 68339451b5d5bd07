"""The URDU reader on a small tree in its repository's layout (Angry/ Happy/ Neutral/ Sad/ of
wavs named SM1_F1_A01), whose speakers mostly speak one emotion, as in the release; and the
coverage checks that say so: `sier prepare` warns of the confound, `sier split` names the
classes a fold's parts lack."""

from __future__ import annotations

import pytest

from named_trees import write_wav
from sier.cli import main
from sier.corpora.coverage import class_gaps, single_class_speakers
from sier.corpora.records import Utterance
from sier.corpora.registry import language_of
from sier.corpora.urdu import read_urdu
from sier.errors import CorpusError

# files per speaker in each folder: like the release, most speakers speak one emotion
FOLDERS = {
    "Angry": {"SM1": 6, "SM2": 5, "SM4": 2},
    "Happy": {"SF1": 2, "SF2": 2, "SM3": 1, "SM7": 3},
    "Neutral": {"SF9": 2, "SM3": 2, "SM5": 2},
    "Sad": {"SF10": 2, "SM23": 3, "SM6": 1},
}


def build_urdu(root) -> list[str]:
    """root/URDU-Dataset-master/<Emotion>/<name>.wav for FOLDERS; returns the names."""
    names = []
    for folder, speakers in FOLDERS.items():
        index = 0
        for speaker, files in speakers.items():
            for f in range(1, files + 1):
                index += 1
                names.append(f"{speaker}_F{f}_{folder[0]}0{index}")
                write_wav(root / "URDU-Dataset-master" / folder / f"{names[-1]}.wav", 0.1, rate=44_100,
                          seed=len(names))
    return names


def test_urdu_reader_takes_speakers_genders_and_emotions_from_the_names(tmp_path):
    names = build_urdu(tmp_path)
    write_wav(tmp_path / "URDU-Dataset-master" / "Angry" / "SM1_F1_X01.wav", 0.1)  # no such emotion
    result = read_urdu(tmp_path)
    got = {u.id: u for u in result.utterances}
    assert sorted(got) == sorted(names) and "SM2_F4_A010" in got  # index 10 after the literal 0
    assert (got["SM2_F4_A010"].speaker, got["SM2_F4_A010"].gender, got["SM2_F4_A010"].label) == ("urduSM2", "M", "ang")
    assert (got["SF10_F1_S01"].speaker, got["SF10_F1_S01"].gender, got["SF10_F1_S01"].label) == ("urduSF10", "F", "sad")
    assert {u.label for u in got.values()} == {"ang", "hap", "neu", "sad"} and {u.corpus for u in got.values()} == {"urdu"}
    assert {u.speaker for u in got.values() if u.label == "neu"} == {"urduSF9", "urduSM3", "urduSM5"}
    assert len({u.session for u in got.values()}) == 5
    assert any("1 wav(s) left out whose names are not urdu names" in w for w in result.warnings)
    assert language_of("urdu", "urduSM1") == "Urdu"
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorpusError, match="not a URDU tree; expected wavs named like SM1_F1_A01.wav"):
        read_urdu(tmp_path / "empty")


def test_prepare_warns_of_one_class_speakers_and_split_names_the_gaps_of_its_folds(tmp_path, capsys):
    build_urdu(tmp_path / "corpus")
    manifest = tmp_path / "urdu.csv"
    assert main(["prepare", "--corpus", "urdu", "--root", str(tmp_path / "corpus"), "--out", str(manifest)]) == 0
    out = capsys.readouterr().out
    # SM3 speaks happy and neutral; the other 11 speakers one emotion each
    assert "warning: 11 of 12 speakers speak one class only (urduSF1: hap, urduSF10: sad, urduSF2: hap, " \
           "urduSF9: neu, ...; 30 of 33 utterances)" in out
    assert main(["split", "--manifest", str(manifest), "--out", str(tmp_path / "split")]) == 0
    gaps = [line for line in capsys.readouterr().out.splitlines() if line.startswith("warning: fold ")]
    assert gaps and all(line.endswith(": that part cannot learn or score the class") for line in gaps)
    assert any("test has no" in line for line in gaps)


def _utt(uid: str, speaker: str, label: str) -> Utterance:  # one speaker per session: a 1, b 2, ...
    return Utterance(uid, "x.wav", speaker, ord(speaker) - ord("a") + 1, "F", label, 1.0, "c")


def test_coverage_checks_stay_quiet_where_every_speaker_and_part_has_every_class():
    from sier.splits import make_folds

    balanced = [_utt(f"{s}_{c}_{k}", s, c) for s in ("a", "b", "c", "d") for c in ("neu", "ang") for k in range(2)]
    assert single_class_speakers(balanced, ("neu", "ang")) is None
    assert single_class_speakers([_utt("u", "a", "neu"), _utt("v", "b", "neu")], ("neu", "ang")) is None
    # one speaker of one class holding 2 of 10 utterances: above the 10 % share
    skewed = balanced[:8] + [_utt("e1", "e", "neu"), _utt("e2", "e", "neu")]
    assert single_class_speakers(skewed, ("neu", "ang")).startswith("1 of 3 speakers speak one class only (e: neu; 2 of")
    assert single_class_speakers(balanced + [_utt("e1", "e", "neu")], ("neu", "ang")) is None  # 1 of 17: below
    folds = make_folds(balanced, "session")
    assert class_gaps(folds, balanced, ("neu", "ang", "sad")) == []  # sad is in no utterance: no gap
    gappy = [u for u in balanced if not (u.speaker == "a" and u.label == "ang")]
    assert [g for g in class_gaps(make_folds(gappy, "session"), gappy, ("neu", "ang")) if "test" in g] == \
        ["fold 0: test has no ang"]

"""The TESS, SAVEE and JL-Corpus readers on small trees in their distributed layouts (and the
Kaggle copies of TESS and SAVEE), the release traps they handle, and how such small corpora
are split: alone where they have speakers enough, pooled where they do not."""

from __future__ import annotations

import pytest

from named_trees import write_wav
from sier.cli import main
from sier.corpora.jl import read_jl
from sier.corpora.registry import language_of, read_corpus
from sier.corpora.savee import read_savee
from sier.corpora.tess import read_tess
from sier.errors import CorpusError, SplitError
from sier.splits import make_folds

TESS_EMOTIONS = ("angry", "disgust", "fear", "happy", "neutral", "ps", "sad")
SAVEE_CODES = ("a", "d", "f", "h", "n", "sa", "su")


def build_tess(root, words=("back", "bar"), emotions=TESS_EMOTIONS) -> list[str]:
    """The Dataverse layout: one flat folder; OAF's `bite` neutral misnamed OA_, as released."""
    names = [f"{spk}_{w}_{e}" for spk in ("OAF", "YAF") for w in words for e in emotions]
    names.append("OA_bite_neutral")
    for i, name in enumerate(names):
        write_wav(root / f"{name}.wav", 0.05, rate=24_414, seed=i)
    return names


def test_tess_reads_speakers_and_emotions_from_the_names_and_its_misnamed_file(tmp_path):
    names = build_tess(tmp_path / "dataverse_files")
    write_wav(tmp_path / "dataverse_files" / "OAF_back_bored.wav", 0.05)  # no such emotion
    result = read_tess(tmp_path, "tess-7")
    got = {u.id: u for u in result.utterances}
    assert sorted(got) == sorted(names)
    assert (got["OA_bite_neutral"].speaker, got["OA_bite_neutral"].label) == ("tessOAF", "neu")
    assert (got["YAF_bar_ps"].speaker, got["YAF_bar_ps"].label) == ("tessYAF", "sur")
    assert {u.gender for u in got.values()} == {"F"} and {u.corpus for u in got.values()} == {"tess"}
    assert {u.speaker: u.session for u in got.values()} == {"tessOAF": 1, "tessYAF": 2}
    assert any("1 wav(s) left out whose names are not tess names" in w for w in result.warnings)
    four = read_tess(tmp_path)  # tess-4: neutral, happy, angry, sad
    assert len(four.utterances) == 2 * 2 * 4 + 1 and four.dropped_labels == {"dis": 4, "fea": 4, "sur": 4}
    assert language_of("tess", "tessOAF") == "English"
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorpusError, match="not a TESS tree; expected wavs named like OAF_back_angry.wav"):
        read_tess(tmp_path / "empty")


def test_tess_kaggle_copy_with_its_nested_second_copy_keeps_each_file_once(tmp_path):
    top = tmp_path / "TESS Toronto emotional speech set data"
    for base in (top, top / "TESS Toronto emotional speech set data"):
        for spk, emotion, folder in (("OAF", "fear", "OAF_Fear"), ("YAF", "ps", "YAF_pleasant_surprised"),
                                     ("YAF", "sad", "YAF_sad")):
            write_wav(base / folder / f"{spk}_back_{emotion}.wav", 0.05)
    result = read_tess(tmp_path, "tess-7")
    assert [u.id for u in result.utterances] == ["OAF_back_fear", "YAF_back_ps", "YAF_back_sad"]
    assert any(w.startswith("3 wav(s) left out whose utterance id another wav already gives") for w in result.warnings)


def test_tess_alone_cannot_be_split_but_pools_with_another_corpus(tmp_path, capsys):
    build_tess(tmp_path / "tess")
    build_savee_official(tmp_path / "savee")
    tess = read_corpus("tess", tmp_path / "tess").utterances
    with pytest.raises(SplitError, match="at least 3 sessions .*pool it with other corpora"):
        make_folds(tess, "session")
    pooled = tess + read_corpus("savee", tmp_path / "savee").utterances
    folds = make_folds(pooled, "session")
    assert len(folds) == 2 + 4
    # sessions in corpus-name order: savee's four, then tess's two, each validating on the next
    assert [(f.test_speakers, f.val_speakers) for f in folds[3:]] == [
        (("saveeKL",), ("tessOAF",)), (("tessOAF",), ("tessYAF",)), (("tessYAF",), ("saveeDC",))]


def build_savee_official(root, numbers=(1, 2)) -> list[str]:
    """AudioData/<speaker>/<code><nn>.wav beside Info.txt, as the registered release."""
    (root / "AudioData").mkdir(parents=True)
    (root / "AudioData" / "Info.txt").write_text("a = anger ...\n")
    ids = []
    for spk in ("DC", "JE", "JK", "KL"):
        for code in SAVEE_CODES:
            for n in numbers:
                write_wav(root / "AudioData" / spk / f"{code}{n:02d}.wav", 0.05, rate=44_100, seed=len(ids))
                ids.append(f"{spk}_{code}{n:02d}")
    return ids


def test_savee_official_and_kaggle_layouts_give_the_same_utterances(tmp_path):
    ids = build_savee_official(tmp_path / "official")
    write_wav(tmp_path / "official" / "AudioData" / "xx" / "a01.wav", 0.05)  # not a speaker folder
    official = read_savee(tmp_path / "official", "savee-7")
    assert [u.id for u in official.utterances] == sorted(ids)
    got = {u.id: u for u in official.utterances}
    assert (got["JK_sa02"].speaker, got["JK_sa02"].label, got["JK_su01"].label) == ("saveeJK", "sad", "sur")
    assert {u.speaker: u.session for u in got.values()} == {"saveeDC": 1, "saveeJE": 2, "saveeJK": 3, "saveeKL": 4}
    assert {u.gender for u in got.values()} == {"M"}
    assert any("1 wav(s) left out" in w for w in official.warnings)
    for i, uid in enumerate(ids):  # the Kaggle copy: one folder, speaker in the name
        write_wav(tmp_path / "kaggle" / "ALL" / f"{uid}.wav", 0.05, rate=44_100, seed=i)
    kaggle = read_savee(tmp_path / "kaggle", "savee-7")
    assert [(u.id, u.speaker, u.label) for u in kaggle.utterances] == \
        [(u.id, u.speaker, u.label) for u in official.utterances]
    folds = make_folds(official.utterances, "session")  # one speaker per group: 4 folds
    assert [(f.test_speakers, f.val_speakers) for f in folds][0] == (("saveeDC",), ("saveeJE",))
    with pytest.raises(CorpusError, match="not a SAVEE tree; expected AudioData/DC/a01.wav"):
        read_savee(tmp_path / "official" / "AudioData" / "xx")


def test_savee_whole_copy_matches_the_release_counts_and_a_gap_is_named(tmp_path):
    root = tmp_path / "savee"
    for spk in ("DC", "JE", "JK", "KL"):
        for code in SAVEE_CODES:
            for n in range(1, (30 if code == "n" else 15) + 1):
                write_wav(root / "AudioData" / spk / f"{code}{n:02d}.wav", 0.01)
    whole = read_savee(root, "savee-7")
    assert len(whole.utterances) == 480 and not whole.warnings
    assert len(read_savee(root).utterances) == 120 + 3 * 60  # savee-4
    (root / "AudioData" / "KL" / "sa15.wav").unlink()
    warnings = read_savee(root, "savee-7").warnings
    assert warnings == ["counts differ from the SAVEE release: total 479 (SAVEE: 480); sad 59 (SAVEE: 60)"]


JL_EMOTIONS = ("angry", "sad", "neutral", "happy", "excited", "anxious", "apologetic", "assertive", "concerned",
               "encouraging")


def build_jl(root) -> list[str]:
    """Raw JL corpus (...)/JL(wav+txt)/ of wavs and transcripts, and the perception-test copies."""
    raw = root / "Raw JL corpus (unchecked and unannotated)" / "JL(wav+txt)"
    names = [f"{spk}_{e}_{s}{take}_{session}" for spk in ("female1", "female2", "male1", "male2")
             for e in JL_EMOTIONS for s, take, session in ((1, "a", 1), (12, "b", 2))]
    for i, name in enumerate(names):
        write_wav(raw / f"{name}.wav", 0.05, rate=44_100, seed=i)
        (raw / f"{name}.txt").write_text("Carl leaps into a jeep.\n")
    copies = root / "Perception test material on Qualtrics" / "main_training"
    write_wav(copies / "female1_angry_1a_1.wav", 0.05)
    write_wav(copies / "male2_sad_3a_1.wav", 0.05)  # a copy of a file not in the tree above: still not read
    return names


def test_jl_reads_its_wav_folder_only_with_speakers_groups_and_emotions(tmp_path):
    names = build_jl(tmp_path)
    write_wav(tmp_path / "Raw JL corpus (unchecked and unannotated)" / "JL(wav+txt)" / "male1_pensive_1a_1.wav", 0.05)
    result = read_jl(tmp_path, "jl-10")
    got = {u.id: u for u in result.utterances}
    assert sorted(got) == sorted(names) and "male2_sad_3a_1" not in got
    assert not any("another wav already gives" in w for w in result.warnings)
    assert any("1 wav(s) left out whose names are not jl names" in w for w in result.warnings)
    assert (got["female2_excited_12b_2"].speaker, got["female2_excited_12b_2"].label) == ("jlfemale2", "exc")
    assert (got["male1_concerned_1a_1"].gender, got["male1_concerned_1a_1"].label) == ("M", "cnc")
    assert {u.speaker: (u.session, u.gender) for u in got.values()} == {
        "jlfemale1": (1, "F"), "jlmale1": (2, "M"), "jlfemale2": (3, "F"), "jlmale2": (4, "M")}
    assert {u.label for u in read_jl(tmp_path, "jl-5").utterances} == {"neu", "hap", "ang", "sad", "exc"}
    four = read_jl(tmp_path)
    assert {u.label for u in four.utterances} == {"neu", "hap", "ang", "sad"} and four.dropped_labels["exc"] == 8
    folds = make_folds(four.utterances, "session")  # the next group's speaker is of the other gender
    assert [(f.test_speakers, f.val_speakers) for f in folds] == [
        (("jlfemale1",), ("jlmale1",)), (("jlmale1",), ("jlfemale2",)), (("jlfemale2",), ("jlmale2",)),
        (("jlmale2",), ("jlfemale1",))]
    write_wav(tmp_path / "other" / "OAF_back_angry.wav", 0.05)
    with pytest.raises(CorpusError, match="not a JL-Corpus tree; expected JL\\(wav\\+txt\\)/"):
        read_jl(tmp_path / "other")


def test_prepare_reads_each_of_the_three_through_the_cli(tmp_path, capsys):
    build_tess(tmp_path / "tess")
    build_savee_official(tmp_path / "savee")
    build_jl(tmp_path / "jl")
    for corpus, count in (("tess", 17), ("savee", 32), ("jl", 32)):
        out = tmp_path / f"{corpus}.csv"
        assert main(["prepare", "--corpus", corpus, "--root", str(tmp_path / corpus), "--out", str(out)]) == 0
        assert len(out.read_text().splitlines()) == 1 + count
    capsys.readouterr()

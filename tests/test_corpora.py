"""The EmoDB, RAVDESS, CREMA-D, EMOVO and ShEMO readers on small trees in their distributed
layouts, with the decoys a real copy has; the corpus registry; pooled corpora; `sier prepare`,
`sier train` and the EmoDB-layout synthetic corpus."""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import astuple
from pathlib import Path

import pytest

from named_trees import (
    EMODB_CODES,
    EMODB_GENDER,
    EMODB_PAIR,
    RAVDESS_CODES,
    build_emodb,
    emodb_names,
    ravdess_name,
    write_wav,
)
from sier.cli import main
from sier.corpora.cafe import read_cafe
from sier.corpora.cremad import read_cremad
from sier.corpora.emodb import read_emodb
from sier.corpora.emovo import read_emovo
from sier.corpora.esd import read_esd
from sier.corpora.shemo import read_shemo
from sier.corpora.subesco import read_subesco
from sier.corpora.labels import get_label_map
from sier.corpora.ravdess import read_ravdess
from sier.corpora.records import Utterance, count_table, read_manifest, read_manifests, write_manifest
from sier.corpora.registry import CORPORA, READERS, ROOTS, default_label_map, language_of, read_corpus
from sier.corpora.synth import SPEAKERS as IEMOCAP_SYNTH_SPEAKERS
from sier.corpora.synth_emodb import SPEAKERS as EMODB_SYNTH_SPEAKERS
from sier.corpora.synth_emodb import synthesize_emodb
from sier.errors import CorpusError, SplitError, TrainingError
from sier.splits import make_folds
from sier.training.config import TrainConfig

def expected_emodb(root: Path, durations: dict[str, float], label_map: str) -> list[Utterance]:
    lmap = get_label_map(label_map)
    utts = []
    for name, duration in durations.items():
        label = lmap.map(EMODB_CODES[name[5]])
        if label is not None:
            spk = name[:2]
            utts.append(Utterance(name, str((root / "wav" / f"{name}.wav").resolve()), f"emodb{spk}",
                                  EMODB_PAIR[spk], EMODB_GENDER[spk], label, duration, "emodb"))
    return sorted(utts, key=lambda u: u.id)


@pytest.fixture(scope="module")
def emodb(tmp_path_factory) -> tuple[Path, dict[str, float]]:
    root = tmp_path_factory.mktemp("emodb") / "download"
    return root, build_emodb(root, emodb_names())


@pytest.mark.parametrize("label_map", ["emodb-4", "emodb-7"])
def test_emodb_reader_gives_the_exact_manifest(emodb, label_map):
    root, durations = emodb
    result = read_emodb(root, label_map)
    got = result.utterances
    assert [(u.id, u.speaker, u.session, u.gender, u.label, u.corpus) for u in got] == \
        [(u.id, u.speaker, u.session, u.gender, u.label, u.corpus) for u in expected_emodb(root, durations, label_map)]
    assert [u.duration_s for u in got] == pytest.approx([u.duration_s for u in expected_emodb(root, durations, label_map)])
    if label_map == "emodb-4":
        assert result.dropped_labels == {"bor": 10, "dis": 10, "fea": 10}
        assert {u.label for u in got} == {"neu", "hap", "ang", "sad"}
    else:
        assert result.dropped_labels == {}


def test_emodb_warns_about_counts_of_a_whole_copy_that_differ_from_the_release(emodb):
    root, _ = emodb
    warnings = read_emodb(root, "emodb-4").warnings
    assert warnings == ["counts differ from the EmoDB release: total 40 (EmoDB: 339); neu 10 (EmoDB: 79); "
                        "hap 10 (EmoDB: 71); ang 10 (EmoDB: 127); sad 10 (EmoDB: 62)"]


def test_emodb_accepts_the_wav_folder_itself_and_reports_what_it_left_out(tmp_path):
    names = emodb_names(("03", "08", "10"))
    build_emodb(tmp_path, names)
    write_wav(tmp_path / "wav" / "99a01Wa.wav", 0.2)  # no such speaker
    write_wav(tmp_path / "wav" / "readme.wav", 0.2)
    (tmp_path / "wav" / "16a01Wa.wav").write_bytes(b"not audio")
    result = read_emodb(tmp_path / "wav", "emodb-7")
    assert len(result.utterances) == len(names)
    (tmp_path / "wav").rename(tmp_path / "wav_corpus")  # as some copies name it
    assert read_emodb(tmp_path, "emodb-7").utterances == [
        Utterance(u.id, u.path.replace("/wav/", "/wav_corpus/"), *astuple(u)[2:]) for u in result.utterances]
    assert result.bad_wavs and result.bad_wavs[0].startswith("16a01Wa: ")
    assert any("2 wav(s) left out whose names are not emodb names (or name an unknown speaker), e.g. 99a01Wa.wav, readme.wav" in w
               for w in result.warnings)
    assert not any("counts differ" in w for w in result.warnings)  # 4 of 10 speakers: no release check


def test_emodb_folds_hold_out_one_woman_and_one_man(emodb):
    utts = read_emodb(emodb[0], "emodb-7").utterances
    folds = make_folds(utts, "session")
    assert len(folds) == 5
    gender = {u.speaker: u.gender for u in utts}
    for fold in folds:
        assert sorted(gender[s] for s in fold.test_speakers) == ["F", "M"]
        assert sorted(gender[s] for s in fold.val_speakers) == ["F", "M"]
        assert len(fold.train_speakers) == 6
    by_speaker = make_folds(utts, "speaker")
    assert len(by_speaker) == 10
    assert by_speaker[0].test_speakers == ("emodb03",) and by_speaker[0].val_speakers == ("emodb08",)


def test_emodb_errors_name_the_folder_and_the_layout(tmp_path):
    with pytest.raises(CorpusError, match="not a directory"):
        read_emodb(tmp_path / "missing")
    (tmp_path / "other").mkdir()
    write_wav(tmp_path / "other" / "hello.wav", 0.2)
    with pytest.raises(CorpusError, match=r"other: not an EmoDB tree; expected wav/ with files named like 03a01Fa\.wav"):
        read_emodb(tmp_path / "other")
    with pytest.raises(CorpusError, match=r"label map 'iemocap-4' is for iemocap, not emodb; use one of \['emodb-4', 'emodb-7'\]"):
        read_emodb(tmp_path, "iemocap-4")


# ------------------------------------------------------------------ RAVDESS


@pytest.fixture(scope="module")
def ravdess(tmp_path_factory) -> tuple[Path, dict[str, float]]:
    """All 24 actors, every emotion once (48 kHz, as distributed), inside the zip's folder,
    plus a song file, a video-modality name, a stray file and a macOS fork."""
    top = tmp_path_factory.mktemp("ravdess")
    root = top / "Audio_Speech_Actors_01-24"
    durations = {}
    for actor in range(1, 25):
        for emotion in range(1, 9):
            name = ravdess_name(emotion, actor, intensity=1 + (emotion > 1 and actor % 2 == 0))
            durations[name] = write_wav(root / f"Actor_{actor:02d}" / f"{name}.wav", 0.15, rate=48_000, seed=actor)
    write_wav(root / "Actor_01" / f"{ravdess_name(3, 1, channel=2)}.wav", 0.15)  # song
    write_wav(root / "Actor_02" / f"{ravdess_name(3, 2, modality=1)}.wav", 0.15)  # audio-visual name
    write_wav(root / "Actor_03" / "notes.wav", 0.15)
    (root / "Actor_04" / f"._{ravdess_name(1, 4)}.wav").write_bytes(b"\x00\x05\x16\x07")
    return top, durations


@pytest.mark.parametrize("label_map", ["ravdess-4", "ravdess-8"])
def test_ravdess_reader_gives_the_exact_manifest(ravdess, label_map):
    top, durations = ravdess
    result = read_ravdess(top, label_map)
    lmap = get_label_map(label_map)
    expected = []
    for name, duration in sorted(durations.items()):
        label = lmap.map(RAVDESS_CODES[name.split("-")[2]])
        actor = int(name.split("-")[6])
        if label is not None:
            path = top / "Audio_Speech_Actors_01-24" / f"Actor_{actor:02d}" / f"{name}.wav"
            expected.append(Utterance(name, str(path.resolve()), f"ravdess{actor:02d}", (actor - 1) // 4 + 1,
                                      "M" if actor % 2 else "F", label, duration, "ravdess"))
    assert result.utterances == expected
    assert any("3 wav(s) left out whose names are not ravdess names" in w for w in result.warnings)
    if label_map == "ravdess-4":
        assert result.dropped_labels == {"cal": 24, "fea": 24, "dis": 24, "sur": 24}
    assert any(w.startswith("counts differ from the RAVDESS speech files: total ") for w in result.warnings)


def test_ravdess_folds_hold_out_groups_of_four_actors(ravdess):
    utts = read_ravdess(ravdess[0], "ravdess-8").utterances
    folds = make_folds(utts, "session")
    assert len(folds) == 6
    assert folds[0].test_speakers == ("ravdess01", "ravdess02", "ravdess03", "ravdess04")
    assert folds[0].val_speakers == ("ravdess05", "ravdess06", "ravdess07", "ravdess08")
    assert len(make_folds(utts, "speaker")) == 24


def test_ravdess_error_names_the_layout(tmp_path):
    (tmp_path / "Actor 1").mkdir()
    with pytest.raises(CorpusError, match="not a RAVDESS tree; expected Actor_01..Actor_24 folders"):
        read_ravdess(tmp_path)


# ------------------------------------------------------------------ CREMA-D

CREMA_SENTENCES = ("IEO", "TIE", "IOM", "IWW", "TAI", "MTI", "IWL", "ITH", "DFA", "ITS", "TSI", "WSI")
CREMA_EMOTIONS = ("ANG", "DIS", "FEA", "HAP", "NEU", "SAD")


def build_cremad(root: Path, sexes: dict[int, str]) -> dict[str, float]:
    """AudioWAV/ with every emotion once per actor (levels and sentences vary) and
    VideoDemographics.csv as in the repository (its Sex column says Male/Female)."""
    durations = {}
    for i, actor in enumerate(sorted(sexes)):
        for j, emotion in enumerate(CREMA_EMOTIONS):
            level = "XX" if j % 2 else ("LO", "MD", "HI")[i % 3]
            name = f"{actor}_{CREMA_SENTENCES[(i + j) % 12]}_{emotion}_{level}"
            durations[name] = write_wav(root / "AudioWAV" / f"{name}.wav", 0.15, seed=i)
    rows = ["ActorID,Age,Sex,Race,Ethnicity"] + [f"{a},30,{'Female' if s == 'F' else 'Male'},Caucasian,Not Hispanic"
                                                 for a, s in sorted(sexes.items())]
    (root / "VideoDemographics.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return durations


def test_cremad_reader_takes_sexes_from_the_demographics_and_balances_the_groups(tmp_path):
    sexes = {1001 + k: ("F" if k % 3 == 0 else "M") for k in range(12)}  # 4 women, 8 men
    durations = build_cremad(tmp_path / "CREMA-D", sexes)
    write_wav(tmp_path / "CREMA-D" / "AudioWAV" / "1099_DFA_ANG_XX.wav", 0.15)  # not in the demographics
    write_wav(tmp_path / "CREMA-D" / "AudioWAV" / "1002_WSI_SAD_LO.wav", 0.0)  # a header without samples
    result = read_cremad(tmp_path, "cremad-6")
    got = result.utterances
    assert sorted(u.id for u in got) == sorted(durations)
    assert result.bad_wavs == [f"1002_WSI_SAD_LO: {tmp_path / 'CREMA-D' / 'AudioWAV' / '1002_WSI_SAD_LO.wav'}: "
                               "the file holds no audio samples"]
    assert {(u.speaker, u.gender) for u in got} == {(f"crema{a}", s) for a, s in sexes.items()}
    groups = {}
    for u in got:
        groups.setdefault(u.session, set()).add(u.speaker)
    women = sorted(f"crema{a}" for a, s in sexes.items() if s == "F")
    assert [sorted(set(women) & groups[g]) for g in range(1, 6)] == [[women[0]], [women[1]], [women[2]], [women[3]], []]
    assert all(len(groups[g]) >= 2 for g in range(1, 5)) and sum(len(v) for v in groups.values()) == 12
    assert {u.label for u in got} == {"neu", "hap", "ang", "sad", "dis", "fea"}
    assert read_cremad(tmp_path / "CREMA-D").dropped_labels == {"dis": 12, "fea": 12}
    assert any("1 wav(s) left out whose names are not cremad names (or name an unknown speaker), e.g. 1099_DFA_ANG_XX.wav" in w
               for w in result.warnings)


def test_cremad_errors_name_the_missing_file(tmp_path):
    (tmp_path / "AudioWAV").mkdir()
    with pytest.raises(CorpusError, match=r"VideoDemographics.csv: missing; CREMA-D's actor sexes come from it"):
        read_cremad(tmp_path)
    with pytest.raises(CorpusError, match="not a CREMA-D tree; expected AudioWAV/"):
        read_cremad(tmp_path / "AudioWAV")


# ------------------------------------------------------------------ EMOVO (Italian), ShEMO (Persian)

EMOVO_CODES = {"dis": "dis", "gio": "hap", "neu": "neu", "pau": "fea", "rab": "ang", "sor": "sur", "tri": "sad"}


def test_emovo_reader_pairs_each_woman_with_a_man(tmp_path):
    root = tmp_path / "EMOVO"
    names = [f"{emo}-{actor}-{sentence}" for actor in ("f1", "f2", "f3", "m1", "m2", "m3")
             for emo, sentence in zip(EMOVO_CODES, ("b1", "b2", "d1", "l1", "n1", "n5", "l4"))]
    for name in names:
        write_wav(root / name.split("-")[1] / f"{name}.wav", 0.15, rate=48_000)
    write_wav(root / "f1" / "documentazione.wav", 0.15)
    result = read_emovo(tmp_path, "emovo-7")  # one folder above the actor folders
    got = {u.id: u for u in result.utterances}
    assert sorted(got) == sorted(names)
    u = got["gio-f2-b2"]
    assert (u.speaker, u.session, u.gender, u.label, u.corpus) == ("emovof2", 2, "F", "hap", "emovo")
    assert {(v.speaker, v.session) for v in got.values() if v.session == 3} == {("emovof3", 3), ("emovom3", 3)}
    assert sorted(u.label for u in read_emovo(root).utterances if u.speaker == "emovom1") == ["ang", "hap", "neu", "sad"]
    folds = make_folds(result.utterances, "session")
    assert [f.test_speakers for f in folds] == [("emovof1", "emovom1"), ("emovof2", "emovom2"), ("emovof3", "emovom3")]
    assert any("counts differ from the EMOVO release: total 42 (EMOVO: 588)" in w for w in result.warnings)
    with pytest.raises(CorpusError, match="not an EMOVO tree; expected actor folders f1, f2, f3, m1, m2, m3"):
        read_emovo(root / "f1")


def test_shemo_reader_reads_names_anywhere_below_the_root_and_deals_groups(tmp_path):
    speakers = [("F", k) for k in range(1, 6)] + [("M", k) for k in range(1, 11)]
    names = [f"{g}{k:02d}{emo}{n:02d}" for g, k in speakers for n, emo in enumerate("AHNSWF", start=1)]
    for name in names:
        write_wav(tmp_path / ("female" if name[0] == "F" else "male") / f"{name}.wav", 0.15, rate=44_100)
    write_wav(tmp_path / "male" / "M99X01.wav", 0.15)
    result = read_shemo(tmp_path, "shemo-6")
    got = {u.id: u for u in result.utterances}
    assert sorted(got) == sorted(names)
    assert (got["F03A01"].speaker, got["F03A01"].gender, got["F03A01"].label) == ("shemoF03", "F", "ang")
    assert got["M07W05"].label == "sur" and got["M07F06"].label == "fea"
    groups = {}
    for u in got.values():
        groups.setdefault(u.session, set()).add(u.speaker)
    assert [sorted(groups[g]) for g in (1, 5)] == [["shemoF01", "shemoM01", "shemoM06"], ["shemoF05", "shemoM05", "shemoM10"]]
    assert read_shemo(tmp_path).dropped_labels == {"sur": 15, "fea": 15}
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorpusError, match="not a ShEMO tree; expected wavs named like F03A05.wav"):
        read_shemo(tmp_path / "empty")


ESD_FOLDERS = {"Angry": "ang", "Happy": "hap", "Neutral": "neu", "Sad": "sad", "Surprise": "sur"}


def test_esd_reader_takes_the_emotion_from_its_folder_with_or_without_the_split(tmp_path):
    root = tmp_path / "ESD" / "Emotion Speech Dataset"  # one folder deeper, as in the zip
    expected = {}
    for k in range(1, 21):
        speaker = f"{k:04d}"
        (root / speaker).mkdir(parents=True)
        (root / speaker / f"{speaker}.txt").write_text("transcripts\n", encoding="utf-8")
        for j, (folder, label) in enumerate(ESD_FOLDERS.items()):
            name = f"{speaker}_{350 * j + k:06d}"
            split = ("train", "test", "evaluation")[k % 3] if k % 2 else ""  # the corpus's own split, or flat
            write_wav(root / speaker / folder / split / f"{name}.wav", 0.15)
            expected[name] = label
    (root / "0021").mkdir()
    result = read_esd(tmp_path / "ESD", "esd-5")
    got = {u.id: u for u in result.utterances}
    assert {i: u.label for i, u in got.items()} == expected
    assert (got["0001_000001"].speaker, got["0001_000001"].gender) == ("esd0001", "F")
    assert (got["0020_001420"].speaker, got["0020_001420"].gender) == ("esd0020", "M")
    groups = {}
    for u in got.values():
        groups.setdefault(u.session, set()).add((u.speaker, u.gender, int(u.speaker[3:]) <= 10))
    for members in groups.values():  # a Mandarin and an English woman and man in every group
        assert sorted((g, zh) for _, g, zh in members) == [("F", False), ("F", True), ("M", False), ("M", True)]
    assert read_esd(tmp_path / "ESD").dropped_labels == {"sur": 20}
    (root / "0007" / "Angry").rename(root / "0007" / "生气")
    for folder in ("Happy", "Neutral", "Sad", "Surprise"):
        (root / "0007" / folder).rename(root / "0007" / folder.lower())
    assert any("speaker folder(s) 0007 hold none of the emotion folders" in w for w in read_esd(root).warnings)


# ------------------------------------------------------------------ registry, CLI, training


def test_registry_reads_each_corpus_with_its_default_map(emodb, ravdess):
    assert [default_label_map(c) for c in CORPORA] == [f"{c}-4" for c in CORPORA]
    assert set(READERS) == set(ROOTS) == set(CORPORA)  # a new corpus is registered everywhere
    assert all(language_of(c, "x") != "unknown" for c in CORPORA)
    docs = Path(__file__).parents[1]
    readme, corpora_md = (docs / "README.md").read_text(), (docs / "docs" / "corpora.md").read_text()
    undocumented = [c for c in CORPORA if f"| `{c}` |" not in readme or f"(`{c}`," not in corpora_md]
    assert undocumented == []  # a README table row and a docs/corpora.md section each
    assert read_corpus("emodb", emodb[0]).utterances == read_emodb(emodb[0], "emodb-4").utterances
    assert read_corpus("ravdess", ravdess[0], "ravdess-8").utterances == read_ravdess(ravdess[0], "ravdess-8").utterances
    with pytest.raises(CorpusError, match="unknown corpus 'msp'"):
        read_corpus("msp", emodb[0])
    for corpus in CORPORA:  # the 4-class maps share classes and order
        assert get_label_map(default_label_map(corpus)).classes == ("neu", "hap", "ang", "sad")


def test_prepare_reads_emodb_and_refuses_a_label_map_of_another_corpus(emodb, tmp_path, capsys):
    out = tmp_path / "emodb.csv"
    assert main(["prepare", "--corpus", "emodb", "--root", str(emodb[0]), "--label_map", "emodb-7",
                 "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    assert read_manifest(out) == read_emodb(emodb[0], "emodb-7").utterances
    assert stdout.splitlines()[0].split()[:3] == ["class", "emodb03", "emodb08"]
    assert "70 utterances" in stdout and "counts differ from the EmoDB release: total 70 (EmoDB: 535)" in stdout
    assert main(["prepare", "--corpus", "emodb", "--root", str(emodb[0]), "--label_map", "iemocap-6",
                 "--out", str(tmp_path / "x.csv")]) == 1
    assert "label map 'iemocap-6' is for iemocap, not emodb" in capsys.readouterr().err


def test_train_config_resolves_corpus_and_label_map_from_each_other():
    assert (TrainConfig().corpus, TrainConfig().label_map) == ("iemocap", "iemocap-4")
    assert TrainConfig(corpus="emodb").label_map == "emodb-4"
    assert TrainConfig(label_map="ravdess-8").corpus == "ravdess"
    assert TrainConfig.from_dict({"label_map": "iemocap-6"}).corpus == "iemocap"  # configs written before `corpus`
    with pytest.raises(TrainingError, match="label map 'iemocap-4' is for iemocap, not emodb"):
        TrainConfig(corpus="emodb", label_map="iemocap-4")
    with pytest.raises(TrainingError, match="corpus must be one of"):
        TrainConfig(corpus="msp")


def test_train_runs_on_an_emodb_tree(emodb, tmp_path):
    """One fold, one epoch of the small enhanced model on fbank: the corpus flows through
    features, folds, training and predictions."""
    args = ["train", "--corpus", "emodb", "--corpus_root", str(emodb[0]), "--upstream", "fbank",
            "--cache_dir", str(tmp_path / "cache"), "--output_dir", str(tmp_path), "--name", "emodb",
            "--hidden_size", "4", "--num_heads", "2", "--num_gru_layers", "1", "--epochs", "1",
            "--batch_size", "8", "--folds", "0", "--no_progress"]
    with contextlib.redirect_stdout(open(os.devnull, "w")):
        assert main(args) == 0
    (exp,) = [p for p in tmp_path.iterdir() if p.name.startswith("emodb_")]
    summary = json.loads((exp / "summary.json").read_text())
    assert summary["folds"][0]["test_speakers"] == ["emodb03", "emodb08"]
    assert "corpus: emodb" in (exp / "config.yaml").read_text()
    assert "label_map: emodb-4" in (exp / "config.yaml").read_text()


# ------------------------------------------------------------------ several corpora pooled


def test_pooled_corpora_keep_their_sessions_apart(emodb, ravdess, tmp_path):
    """EmoDB's group 1 and RAVDESS's group 1 are two sessions: 5 + 6 session folds, each
    holding out one corpus's group, and speaker folds validating within the corpus."""
    write_manifest(tmp_path / "emodb.csv", read_emodb(emodb[0], "emodb-4").utterances)
    write_manifest(tmp_path / "ravdess.csv", read_ravdess(ravdess[0], "ravdess-4").utterances)
    pooled = read_manifests([tmp_path / "emodb.csv", tmp_path / "ravdess.csv"])
    assert len(pooled) == 40 + 96 and {u.corpus for u in pooled} == {"emodb", "ravdess"}
    folds = make_folds(pooled, "session")
    assert len(folds) == 11
    assert folds[0].test_speakers == ("emodb03", "emodb08") and folds[0].val_speakers == ("emodb09", "emodb10")
    assert folds[4].val_speakers == ("ravdess01", "ravdess02", "ravdess03", "ravdess04")
    assert folds[5].test_speakers == ("ravdess01", "ravdess02", "ravdess03", "ravdess04")
    assert folds[10].val_speakers == ("emodb03", "emodb08")  # cyclic, across corpora
    for fold in folds:  # a test group never mixes corpora
        assert len({s.rstrip("0123456789") for s in fold.test_speakers}) == 1
    by_speaker = {f.test_speakers[0]: f for f in make_folds(pooled, "speaker")}
    assert by_speaker["ravdess01"].val_speakers == ("ravdess02", "ravdess03", "ravdess04")
    with pytest.raises(CorpusError, match=r"emodb.csv: utterance 03a01Wa is also in .*emodb.csv"):
        read_manifests([tmp_path / "emodb.csv", tmp_path / "emodb.csv"])
    with pytest.raises(SplitError, match=r"the corpus protocol needs manifests of at least 3 corpora .*\['emodb', 'ravdess'\]"):
        make_folds(pooled, "corpus")


def test_leave_one_corpus_out(emodb, ravdess, synth_manifest):
    pooled = [*read_emodb(emodb[0]).utterances, *read_ravdess(ravdess[0]).utterances, *synth_manifest.utterances]
    folds = make_folds(pooled, "corpus")
    speakers = {c: tuple(sorted({u.speaker for u in pooled if u.corpus == c})) for c in ("emodb", "iemocap", "ravdess")}
    assert [(f.test_speakers, f.val_speakers) for f in folds] == [
        (speakers["emodb"], speakers["iemocap"]), (speakers["iemocap"], speakers["ravdess"]),
        (speakers["ravdess"], speakers["emodb"])]
    assert folds[0].train_speakers == speakers["ravdess"] and len(folds[0].test) == 40


def test_train_config_takes_one_manifest_or_several():
    assert TrainConfig(manifest="a.csv").manifest == ("a.csv",)
    assert TrainConfig(manifest=["a.csv", Path("b.csv")]).manifest == ("a.csv", "b.csv")
    assert TrainConfig(manifest=("a.csv",)).to_dict()["manifest"] == ["a.csv"]
    with pytest.raises(TrainingError, match="manifest must be a path or a list of paths"):
        TrainConfig(manifest=[1])


# ------------------------------------------------------------------ the EmoDB-layout synthetic corpus


def test_synthetic_emodb_is_read_as_emodb_with_new_voices(tmp_path, capsys):
    root = synthesize_emodb(tmp_path / "a", seed=3, per_emotion=2, duration_s=(0.4, 0.6))
    result = read_emodb(root, "emodb-7")
    assert len(result.utterances) == 80 and result.warnings == []  # a synthetic tree: no release counts
    assert {u.label for u in result.utterances} == {"neu", "hap", "ang", "sad"}
    assert {(u.speaker, u.gender) for u in result.utterances} == {(f"emodb{s}", g) for s, g in EMODB_GENDER.items()}
    voices = lambda speakers: {(s.f0_hz, s.formant_scale, s.rate_syl_s) for s in speakers}  # noqa: E731
    assert not voices(EMODB_SYNTH_SPEAKERS) & voices(IEMOCAP_SYNTH_SPEAKERS)
    again = synthesize_emodb(tmp_path / "b", seed=3, per_emotion=2, duration_s=(0.4, 0.6))
    assert (again / "wav" / "16a02Ta.wav").read_bytes() == (root / "wav" / "16a02Ta.wav").read_bytes()
    (tmp_path / "c" / "emodb").mkdir(parents=True)
    with pytest.raises(CorpusError, match="was not written by `sier synth`"):
        synthesize_emodb(tmp_path / "c")
    assert main(["synth", "--layout", "emodb", "--out", str(tmp_path / "d"), "--per_emotion", "1",
                 "--min_duration", "0.3", "--max_duration", "0.4"]) == 0
    assert "40 utterances" in capsys.readouterr().out


def test_pooled_corpora_train_and_are_reported_per_corpus(emodb, synth_manifest, tmp_path):
    """Two manifests pooled (EmoDB tree + the synthetic IEMOCAP-layout corpus): folds 4 (EmoDB's
    group 5) and 5 (IEMOCAP's session 1) of the 10 session folds, one epoch; the report names
    sessions by corpus and adds a per-corpus table."""
    write_manifest(tmp_path / "emodb.csv", read_emodb(emodb[0]).utterances)
    write_manifest(tmp_path / "synth.csv", synth_manifest.utterances)
    args = ["train", "--manifest", str(tmp_path / "emodb.csv"), str(tmp_path / "synth.csv"), "--upstream", "fbank",
            "--cache_dir", str(tmp_path / "cache"), "--output_dir", str(tmp_path), "--name", "pooled",
            "--model", "baseline", "--hidden_size", "4", "--epochs", "1", "--batch_size", "16", "--folds", "4,5",
            "--no_progress"]
    with contextlib.redirect_stdout(open(os.devnull, "w")):
        assert main(args) == 0
        (exp,) = [p for p in tmp_path.iterdir() if p.name.startswith("pooled_")]
        assert main(["evaluate", "--enhanced_model_path", str(exp), "--out", str(tmp_path / "report"),
                     "--n_boot", "20", "--max_attention_examples", "0", "--no_progress"]) == 0
    folds = json.loads((exp / "folds.json").read_text())["folds"]
    assert len(folds) == 10 and folds[4]["test_speakers"] == ["emodb15", "emodb16"]
    assert folds[5]["test_speakers"] == ["Ses01F", "Ses01M"]
    speakers = json.loads((tmp_path / "report" / "evaluation.json").read_text())["models"]["enhanced"]["speakers"]
    assert [(g["group"], g["n"]) for g in speakers["per_session"]] == [("emodb 5", 8), ("iemocap 1", 30)]
    assert [(g["group"], g["n"]) for g in speakers["per_corpus"]] == [("emodb", 8), ("iemocap", 30)]
    report = (tmp_path / "report" / "report.md").read_text(encoding="utf-8")
    assert [(g["group"], g["n"]) for g in speakers["per_language"]] == [("English", 30), ("German", 8)]
    assert "**Per corpus** (%)" in report and "| iemocap 1 |" in report and "**Per language** (%)" in report
    assert "corpus,emodb,8," in (tmp_path / "report" / "per_group.csv").read_text()
    assert (tmp_path / "report" / "figures" / "per_language_ua.png").is_file()


def test_count_table_of_a_corpus_with_many_speakers_has_a_column_per_group():
    utts = [Utterance(f"u{k}_{lab}", "x.wav", f"s{k:02d}", k % 5 + 1, "F", lab, 1.0, "cremad")
            for k in range(30) for lab in ("neu", "ang")]
    lines = count_table(utts, ("neu", "ang")).splitlines()
    assert lines[0].split() == ["class", "session", "1", "session", "2", "session", "3", "session", "4",
                                "session", "5", "total"]
    assert lines[1].split() == ["neu", "6", "6", "6", "6", "6", "30"] and lines[3].split()[-1] == "60"
    assert lines[4] == "(30 speakers: counts per speaker group; the manifest names every speaker)"
    assert "s29" in count_table(utts[:40] + utts[-2:])  # 21 speakers: one column each


def test_subesco_reader_reads_names_anywhere_below_the_root_and_deals_groups(tmp_path):
    speakers = [("F", k, "MONIKA") for k in range(1, 6)] + [("M", k, "RAHIM") for k in range(1, 6)]
    emotions = ("ANGRY", "DISGUST", "FEAR", "HAPPY", "NEUTRAL", "SAD", "SURPRISE")
    names = [f"{g}_{k:02d}_{who}_S_{1 + n % 10}_{emo}_{1 + n % 5}"
             for g, k, who in speakers for n, emo in enumerate(emotions)]
    for i, name in enumerate(names):
        write_wav(tmp_path / "SUBESCO" / ("sub" if i % 2 else "") / f"{name}.wav", 0.15, rate=48_000)
    write_wav(tmp_path / "SUBESCO" / "F_01_MONIKA_S_1_BORED_1.wav", 0.15)  # no SUBESCO emotion
    result = read_subesco(tmp_path, "subesco-7")
    got = {u.id: u for u in result.utterances}
    assert sorted(got) == sorted(names)
    first = got["F_03_MONIKA_S_1_ANGRY_1"]
    assert (first.speaker, first.gender, first.label, first.corpus) == ("subescoF03", "F", "ang", "subesco")
    assert got["M_05_RAHIM_S_7_SURPRISE_2"].label == "sur" and got["M_05_RAHIM_S_3_FEAR_3"].label == "fea"
    groups = {}
    for u in got.values():
        groups.setdefault(u.session, set()).add(u.speaker)
    assert sorted(groups[2]) == ["subescoF02", "subescoM02"] and len(groups) == 5
    assert any("1 wav(s) left out whose names are not subesco names" in w for w in result.warnings)
    four = read_corpus("subesco", tmp_path)  # the default map: the four shared classes
    assert four.dropped_labels == {"dis": 10, "fea": 10, "sur": 10} and len(four.utterances) == 40
    assert language_of("subesco", "subescoF01") == "Bangla"
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorpusError, match="not a SUBESCO tree; expected wavs named like F_02_MONIKA_S_1_ANGRY_3.wav"):
        read_subesco(tmp_path / "empty")


def test_a_whole_subesco_copy_is_checked_against_the_release_counts(tmp_path):
    emotions = ("ANGRY", "DISGUST", "FEAR", "HAPPY", "NEUTRAL", "SAD", "SURPRISE")
    for g in "FM":
        for k in range(1, 11):
            write_wav(tmp_path / f"{g}_{k:02d}_X_S_1_{emotions[k % 7]}_1.wav", 0.05)
    warnings = read_subesco(tmp_path, "subesco-7").warnings
    assert any(w.startswith("counts differ from the SUBESCO release: total 20 (SUBESCO: 7000)") for w in warnings)


def test_cafe_reader_reads_names_anywhere_below_the_root_and_pairs_actors(tmp_path):
    folders = {"C": "Colère", "D": "Dégoût", "J": "Joie", "P": "Peur", "S": "Surprise", "T": "Tristesse"}
    names = []
    for actor in range(1, 13):
        names.append(f"{actor:02d}-N-1-{1 + actor % 6}")
        write_wav(tmp_path / "CaFE_48k" / "Neutre" / f"{names[-1]}.wav", 0.1, rate=48_000)
        for letter, folder in folders.items():
            names.append(f"{actor:02d}-{letter}-{1 + actor % 2}-1")
            strength = "Faible" if names[-1].endswith("-1-1") else "Fort"
            write_wav(tmp_path / "CaFE_48k" / folder / strength / f"{names[-1]}.wav", 0.1, rate=48_000)
    write_wav(tmp_path / "CaFE_48k" / "Neutre" / "13-N-1-1.wav", 0.1)  # no such actor
    result = read_cafe(tmp_path, "cafe-7")
    got = {u.id: u for u in result.utterances}
    assert sorted(got) == sorted(names)
    assert (got["04-C-1-1"].speaker, got["04-C-1-1"].gender, got["04-C-1-1"].label) == ("cafe04", "F", "ang")
    assert (got["03-J-2-1"].gender, got["03-J-2-1"].label, got["03-J-2-1"].session) == ("M", "hap", 2)
    assert got["12-P-1-1"].label == "fea" and got["12-T-1-1"].label == "sad" and got["07-D-2-1"].label == "dis"
    folds = make_folds(result.utterances, "session")
    assert len(folds) == 6 and folds[0].test_speakers == ("cafe01", "cafe02")
    assert any("counts differ from the CaFE release: total 84 (CaFE: 936)" in w for w in result.warnings)
    assert any("1 wav(s) left out whose names are not cafe names" in w for w in result.warnings)
    assert read_corpus("cafe", tmp_path).dropped_labels == {"dis": 12, "fea": 12, "sur": 12}
    assert language_of("cafe", "cafe01") == "French"
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorpusError, match="not a CaFE tree; expected wavs named like 04-C-2-3.wav"):
        read_cafe(tmp_path / "empty")

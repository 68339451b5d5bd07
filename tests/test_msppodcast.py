"""The MSP-Podcast reader on small trees in its distributed layouts (CSV, old CSV name with
Partitions.txt, JSON), the `official` protocol on its partitions, and a run from `sier prepare`
through `sier train` and `sier evaluate`."""

from __future__ import annotations

import contextlib
import csv
import json
import os
from collections import Counter
from pathlib import Path

import pytest

from named_trees import build_emodb, emodb_names, write_wav
from sier.cli import main
from sier.corpora.emodb import read_emodb
from sier.corpora.msppodcast import read_msppodcast
from sier.corpora.records import Utterance, count_table, read_manifest, write_manifest
from sier.errors import CorpusError, SplitError, TrainingError
from sier.splits import make_folds
from sier.training.config import TrainConfig
from sier.training.experiment import read_utterances

# SpkrID -> (gender, partition); speaker 7 has no gender in any row
SPEAKERS = {"1": ("Female", "Train"), "2": ("Male", "Train"), "3": ("Female", "Train"), "4": ("Male", "Train"),
            "5": ("Female", "Development"), "6": ("Male", "Development"), "8": ("Female", "Test1"),
            "9": ("Male", "Test1"), "10": ("Female", "Test2"), "11": ("Male", "Test2"), "7": ("Unknown", "Train")}
CODES = {"N": "neu", "H": "hap", "A": "ang", "S": "sad", "U": "sur", "F": "fea", "D": "dis", "C": "con"}
SESSION = {"Train": 1, "Development": 2, "Test1": 3, "Test2": 4}
COLUMNS = ["FileName", "EmoClass", "EmoAct", "EmoVal", "EmoDom", "SpkrID", "Gender", "Split_Set"]


def label_rows() -> list[dict[str, str]]:
    """Each speaker with two segments of each of the 8 emotions, one O and one X; plus the rows
    a real release has that sier leaves out."""
    rows, n = [], 0
    for spk, (gender, part) in SPEAKERS.items():
        for code in [*CODES, *CODES, "O", "X"]:
            n += 1
            rows.append({"FileName": f"MSP-PODCAST_{int(spk):04d}_{n:04d}.wav", "EmoClass": code, "EmoAct": "4.2",
                         "EmoVal": "3.8", "EmoDom": "4.0", "SpkrID": spk, "Gender": gender, "Split_Set": part})
    rows[0]["Gender"] = "Unknown"  # one row without gender: speaker 1 keeps its other rows' gender
    rows.append({**rows[1], "FileName": "MSP-PODCAST_0100_0001.wav", "SpkrID": "Unknown", "Gender": "Unknown"})
    rows.append({**rows[1], "FileName": "MSP-PODCAST_0100_0002.wav", "Split_Set": "Test3", "EmoClass": ""})
    rows.append({**rows[1], "FileName": "MSP-PODCAST_0100_0003.wav", "Split_Set": "Unpartitioned"})
    rows.append({**rows[1], "FileName": "MSP-PODCAST_0001_9999.wav"})  # listed, but its wav is missing
    return rows


def build_msppodcast(root: Path, label_file: str = "labels_consensus.csv") -> dict[str, float]:
    """root/Audios/*.wav and root/Labels/<label_file>; returns segment id -> duration."""
    rows = label_rows()
    durations = {}
    for i, row in enumerate(rows):
        if row["FileName"] != "MSP-PODCAST_0001_9999.wav":
            durations[row["FileName"][:-4]] = write_wav(root / "Audios" / row["FileName"], 0.3 + 0.01 * (i % 7), seed=i)
    (root / "Labels").mkdir(parents=True)
    path = root / "Labels" / label_file
    if label_file.endswith(".json"):
        path.write_text(json.dumps({r["FileName"]: {k: v for k, v in r.items() if k != "FileName"} for r in rows}))
    else:
        with path.open("w", newline="") as fh:
            columns = COLUMNS if label_file == "labels_consensus.csv" else COLUMNS[:-1]
            writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
        if "Split_Set" not in columns:
            (root / "Partitions.txt").write_text("".join(f"{r['Split_Set']}; {r['FileName']}\n" for r in rows))
    (root / "Transcripts").mkdir()
    return durations


def expected(root: Path, durations: dict[str, float], classes: tuple[str, ...]) -> list[Utterance]:
    utts = []
    for row in label_rows():
        seg, spk = row["FileName"][:-4], row["SpkrID"]
        label = CODES.get(row["EmoClass"])
        if spk in ("7", "Unknown") or row["Split_Set"] not in SESSION or label not in classes or seg not in durations:
            continue
        gender, part = SPEAKERS[spk]
        utts.append(Utterance(seg, str((root / "Audios" / row["FileName"]).resolve()), f"msp{spk}", SESSION[part],
                              gender[0], label, durations[seg], "msppodcast", 4.2, 3.8, 4.0))
    return sorted(utts, key=lambda u: u.id)


@pytest.fixture(scope="module")
def msp(tmp_path_factory) -> tuple[Path, dict[str, float]]:
    root = tmp_path_factory.mktemp("msp") / "MSP-PODCAST-Publish-1.11"
    return root, build_msppodcast(root)


def test_reader_gives_the_exact_manifest_and_says_what_it_left_out(msp):
    root, durations = msp
    result = read_msppodcast(root.parent, "msppodcast-8")  # the release folder is found below the root
    assert result.utterances == expected(root, durations, tuple(CODES.values()))
    assert len(result.utterances) == 10 * 16
    assert result.dropped_labels == {"O": 10, "X": 10, "(none)": 1}  # (none): the Test3 row, labels not public
    assert result.missing_wavs == ["MSP-PODCAST_0001_9999"]
    assert result.warnings == [
        "1 labelled utterance(s) left out because their wav is missing, e.g. MSP-PODCAST_0001_9999",
        "18 segment(s) of a speaker of unknown gender left out (labels_consensus.csv)",
        "1 segment(s) of an unknown speaker left out (labels_consensus.csv)",
        "1 segment(s) outside the partitions Train, Development, Test1, Test2, Test3 left out (labels_consensus.csv)",
    ]
    four = read_msppodcast(root)
    assert {u.label for u in four.utterances} == {"neu", "hap", "ang", "sad"} and len(four.utterances) == 80
    assert four.dropped_labels == {"O": 10, "X": 10, "(none)": 1, "U": 20, "F": 20, "D": 20, "C": 20}


def test_all_rated_keeps_the_segments_of_no_class_for_the_dimensions(msp):
    from sier.corpora.registry import read_corpus

    root, durations = msp
    eight = read_corpus("msppodcast", root, "msppodcast-8").utterances
    every = read_corpus("msppodcast", root, all_rated=True)  # under msppodcast-4
    labels = Counter(u.label for u in every.utterances)
    speakers = len({u.speaker for u in eight})
    assert labels["oth"] == labels["xxx"] == speakers  # O and X, one each per speaker of known gender
    assert labels["sur"] == labels["con"] == 2 * speakers  # the 8-class codes, as sier names them
    assert len(every.utterances) == len(eight) + 2 * speakers
    assert "" not in labels  # the Test3 row has no label: left out, though the fixture rates it
    assert any("left out 1 unrated or unlabelled" in note for note in every.notes)


@pytest.mark.parametrize("label_file", ["labels_concensus.csv", "labels_consensus.json"])
def test_older_and_newer_label_files_give_the_same_manifest(msp, tmp_path, label_file):
    root = tmp_path / "release"
    durations = build_msppodcast(root, label_file)
    assert read_msppodcast(root).utterances == expected(root, durations, ("neu", "hap", "ang", "sad"))


def test_errors_name_the_file_and_the_layout(tmp_path):
    with pytest.raises(CorpusError, match="not a directory"):
        read_msppodcast(tmp_path / "nowhere")
    (tmp_path / "Audios").mkdir()
    with pytest.raises(CorpusError, match=r"not an MSP-Podcast tree; expected Audios/ .* Labels/labels_consensus.csv"):
        read_msppodcast(tmp_path)
    (tmp_path / "Labels").mkdir()
    with pytest.raises(CorpusError, match=r"Labels: none of labels_consensus.csv, labels_concensus.csv"):
        read_msppodcast(tmp_path)
    (tmp_path / "Labels" / "labels_consensus.csv").write_text("FileName,EmoClass\nMSP-PODCAST_0001_0001.wav,N\n")
    with pytest.raises(CorpusError, match=r"labels_consensus.csv: .*\(missing SpkrID, Gender\)"):
        read_msppodcast(tmp_path)
    (tmp_path / "Labels" / "labels_consensus.csv").write_text(
        "FileName,EmoClass,SpkrID,Gender\nMSP-PODCAST_0001_0001.wav,N,1,Female\n")
    with pytest.raises(CorpusError, match="no Split_Set column and there is no Partitions.txt"):
        read_msppodcast(tmp_path)
    with pytest.raises(CorpusError, match="label map 'emodb-4' is for emodb, not msppodcast"):
        read_msppodcast(tmp_path, "emodb-4")


def test_official_protocol_trains_on_train_and_tests_on_test1_and_test2(msp):
    utts = read_msppodcast(msp[0]).utterances
    (fold,) = make_folds(utts, "official")
    assert fold.train_speakers == ("msp1", "msp2", "msp3", "msp4")
    assert fold.val_speakers == ("msp5", "msp6")
    assert fold.test_speakers == ("msp10", "msp11", "msp8", "msp9")
    assert len(fold.train) == 4 * 8 and len(fold.val) == 2 * 8 and len(fold.test) == 4 * 8
    with pytest.raises(SplitError, match=r"msppodcast's sessions are its own partitions \(Train, Development, "
                                         r"Test1, Test2, Test3\), not speaker groups; split it with --protocol official"):
        make_folds(utts, "session")
    with pytest.raises(SplitError, match="not speaker"):
        make_folds(utts, "speaker")
    moved = [Utterance(**{**u.__dict__, "session": 3}) if u.id == utts[0].id else u for u in utts]
    with pytest.raises(SplitError, match=r"speaker\(s\) \['msp1'\] in both Train and Test1; these partitions are not "
                                         "speaker-independent"):
        make_folds(moved, "official")
    with pytest.raises(SplitError, match=r"trains on Train, validates on Development .* has \['Train', 'Test1', 'Test2'\]"):
        make_folds([u for u in utts if u.session != 2], "official")


def test_official_protocol_refuses_corpora_without_partitions(msp, tmp_path):
    build_emodb(tmp_path / "emodb", emodb_names())
    emodb = read_emodb(tmp_path / "emodb").utterances
    with pytest.raises(SplitError, match=r"the official protocol needs one corpus with its own partitions "
                                         r"\(msppodcast\), the manifest holds \['emodb'\]"):
        make_folds(emodb, "official")
    with pytest.raises(SplitError, match=r"holds \['emodb', 'msppodcast'\]"):
        make_folds([*emodb, *read_msppodcast(msp[0]).utterances], "official")


def test_prepare_train_and_evaluate_on_the_official_partitions(msp, tmp_path):
    """One epoch of the small enhanced model on fbank: the report names the test partitions."""
    manifest = tmp_path / "msp.csv"
    with contextlib.redirect_stdout(open(os.devnull, "w")):
        assert main(["prepare", "--corpus", "msppodcast", "--root", str(msp[0]), "--out", str(manifest)]) == 0
        assert len(read_manifest(manifest)) == 80
        assert main(["train", "--manifest", str(manifest), "--protocol", "official", "--upstream", "fbank",
                     "--cache_dir", str(tmp_path / "cache"), "--output_dir", str(tmp_path), "--name", "msp",
                     "--hidden_size", "4", "--num_heads", "2", "--num_gru_layers", "1", "--epochs", "1",
                     "--batch_size", "8", "--no_progress"]) == 0
        (exp,) = [p for p in tmp_path.iterdir() if p.name.startswith("msp_")]
        assert main(["evaluate", "--enhanced_model_path", str(exp), "--out", str(tmp_path / "report"),
                     "--n_boot", "20", "--max_attention_examples", "0", "--no_progress"]) == 0
    speakers = json.loads((tmp_path / "report" / "evaluation.json").read_text())["models"]["enhanced"]["speakers"]
    assert [(g["group"], g["n"]) for g in speakers["per_session"]] == [("Test1", 16), ("Test2", 16)]
    assert [g["group"] for g in speakers["per_speaker"]] == ["msp10", "msp11", "msp8", "msp9"]
    report = (tmp_path / "report" / "report.md").read_text(encoding="utf-8")
    assert "| Test1 |" in report and "label map msppodcast-4, protocol official" in report
    (headline,) = [line for line in report.splitlines() if line.startswith("| **enhanced** |")]
    assert headline.count("(1 fold) |") == 3 and "±" not in headline


def test_a_manifest_of_one_corpus_names_it_and_its_label_map_in_the_config(msp, tmp_path):
    write_manifest(tmp_path / "msp8.csv", read_msppodcast(msp[0], "msppodcast-8").utterances)
    config = TrainConfig(manifest=str(tmp_path / "msp8.csv"))
    assert (config.corpus, config.label_map) == ("msppodcast", "msppodcast-4")
    with pytest.raises(TrainingError, match=r"msp8.csv: labels \['con', 'dis', 'fea', 'sur'\] are not classes of the "
                                            r"label map msppodcast-4 .*; pass the --label_map the manifest was prepared"):
        read_utterances(config)
    assert len(read_utterances(config.override(label_map="msppodcast-8"))) == 160
    assert TrainConfig(manifest=str(tmp_path / "missing.csv")).corpus == "iemocap"  # reading it for training says why


def test_count_table_names_the_partitions():
    utts = [Utterance(f"u{k}", "x.wav", f"msp{k}", k % 4 + 1, "F", "neu", 1.0, "msppodcast") for k in range(40)]
    lines = count_table(utts).splitlines()
    assert lines[0].split() == ["class", "Train", "Development", "Test1", "Test2", "total"]
    assert lines[-1] == "(40 speakers: counts per partition; the manifest names every speaker)"

"""Subsets by recording (IEMOCAP improvised/scripted, MSP-IMPROV read/improvised/natural):
the readers, a manifest, the training config and the CLI keep exactly the recordings named."""

from __future__ import annotations

from pathlib import Path

import pytest

from iemocap_tree import TURNS, Turn, build_tree
from sier.cli import main
from sier.corpora.iemocap import read_iemocap
from sier.corpora.records import Utterance, read_manifest
from sier.corpora.registry import read_corpus
from sier.corpora.subsets import select_subset, subset_filter
from sier.errors import CorpusError, TrainingError
from sier.training.config import TrainConfig
from test_mspimprov import build_mspimprov


@pytest.fixture(scope="module")
def iemocap(tmp_path_factory) -> Path:
    return build_tree(tmp_path_factory.mktemp("iemocap") / "IEMOCAP_full_release")


@pytest.fixture(scope="module")
def improv(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("improv") / "MSP-IMPROV"
    build_mspimprov(root)
    return root


def test_iemocap_subsets_split_the_whole_corpus_by_dialog(iemocap):
    whole = read_iemocap(iemocap).utterances
    improvised = read_iemocap(iemocap, subset="improvised").utterances
    scripted = read_iemocap(iemocap, subset="scripted").utterances
    assert improvised and scripted
    assert all("_impro" in u.id for u in improvised) and all("_script" in u.id for u in scripted)
    assert sorted(improvised + scripted, key=lambda u: u.id) == whole
    labelled_script_turns = sum(1 for t in TURNS if "_script" in t.id)
    note = read_iemocap(iemocap, subset="improvised").notes
    assert note == [f"subset improvised: kept improvised dialogs (impro); left out {labelled_script_turns} "
                    "utterance(s) of other recordings (before the label map)"]
    assert read_iemocap(iemocap).notes == []


def test_a_subset_skips_the_full_release_count_check(tmp_path):
    # five sessions of neu turns: the whole corpus differs from the full release's counts
    turns = [Turn(f"Ses{s:02d}F_{kind}01_{g}000", "neu", samples=2000)
             for s in range(1, 6) for g in "FM" for kind in ("impro", "script")]
    root = build_tree(tmp_path / "IEMOCAP_full_release", turns, decoys=False, junk=False)
    assert any("counts differ" in w for w in read_iemocap(root).warnings)
    assert not any("counts differ" in w for w in read_iemocap(root, subset="improvised").warnings)


def test_mspimprov_recording_types(improv):
    whole = read_corpus("mspimprov", improv).utterances
    for subset, kinds in (("read", "R"), ("improvised", "SI"), ("natural", "P"), ("read,natural", "RP")):
        kept = read_corpus("mspimprov", improv, subset=subset).utterances
        assert kept == [u for u in whole if u.id.split("-")[4] in kinds], subset
        assert kept
    assert read_corpus("mspimprov", improv, subset="all").utterances == whole


@pytest.mark.parametrize("corpus, subset, names", [
    ("emodb", "improvised", "it has none"),
    ("iemocap", "natural", "its subsets are improvised, scripted"),
    ("mspimprov", "read,scripted", "its subsets are read, improvised, natural"),
])
def test_unknown_subsets_are_refused_naming_the_choices(corpus, subset, names):
    with pytest.raises(CorpusError, match=names):
        subset_filter(corpus, subset)
    with pytest.raises(CorpusError, match=names):
        read_corpus(corpus, "/nonexistent", subset=subset)  # before the tree is read


def _utt(utt_id: str, corpus: str) -> Utterance:
    return Utterance(utt_id, f"/x/{utt_id}.wav", "s", 1, "F", "neu", 1.0, corpus)


def test_a_manifest_is_filtered_by_each_utterances_corpus():
    utts = [_utt("Ses01F_impro01_F000", "iemocap"), _utt("Ses01F_script01_1_F000", "iemocap")]
    assert [u.id for u in select_subset(utts, "improvised")] == ["Ses01F_impro01_F000"]
    assert select_subset(utts, "all") == utts
    with pytest.raises(CorpusError, match="corpus emodb has no subset improvised"):
        select_subset(utts + [_utt("03a01Fa", "emodb")], "improvised")


def test_training_config_checks_the_subset_against_the_corpus():
    assert TrainConfig(corpus_root="/x", subset="improvised").subset == "improvised"
    with pytest.raises(TrainingError, match="corpus emodb has no subset improvised"):
        TrainConfig(corpus="emodb", corpus_root="/x", subset="improvised")


def test_prepare_writes_the_subset_and_says_what_it_left_out(iemocap, tmp_path, capsys):
    out = tmp_path / "impro.csv"
    assert main(["prepare", "--root", str(iemocap), "--subset", "improvised", "--out", str(out)]) == 0
    assert read_manifest(out) == read_iemocap(iemocap, subset="improvised").utterances
    assert "subset improvised: kept improvised dialogs" in capsys.readouterr().out


def test_training_reads_the_subset_from_a_tree_or_a_manifest(iemocap, tmp_path):
    from sier.corpora.records import write_manifest
    from sier.training.experiment import read_utterances

    scripted = read_iemocap(iemocap, subset="scripted").utterances
    assert read_utterances(TrainConfig(corpus_root=str(iemocap), subset="scripted")) == scripted
    write_manifest(tmp_path / "all.csv", read_iemocap(iemocap).utterances)
    assert read_utterances(TrainConfig(manifest=str(tmp_path / "all.csv"), subset="scripted")) == scripted

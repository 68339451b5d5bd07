"""`sier evaluate` end to end: a tiny trained experiment pair, the report, and bad input.

Trains a baseline and an enhanced (speaker-adversarial) model on two folds of the shared
synthetic corpus with the `fbank` upstream, evaluates them through the CLI, and checks
that every file is written and that the numbers of evaluation.json equal a recomputation
with scikit-learn from the predictions CSV the evaluation wrote.
"""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, f1_score, recall_score

from named_trees import build_emodb, emodb_names
from sier.cli import main
from sier.evaluation.predictions import read_predictions_csv
from sier.training.config import TrainConfig
from sier.training.crossval import run_crossval

pytestmark = pytest.mark.slow

FOLDS = (0, 1)
TABLES = ("overall.csv", "per_class.csv", "confusion.csv", "per_group.csv", "probe.csv", "comparison.csv",
          "predictions_original.csv", "predictions_enhanced.csv", "evaluation.json", "report.md")
FIGURES = ("training_original.png", "training_enhanced.png", "confusion_original.png", "confusion_enhanced.png",
           "per_speaker_ua.png", "per_gender_ua.png", "per_session_ua.png", "per_class_f1.png",
           "speaker_probe.png", "tsne_original.png", "tsne_enhanced.png")


def train_pair(synth_root, root, seed: int = 0):
    """(original, enhanced) experiment directories: 2 folds, 2 epochs, tiny GRUs, fbank features."""
    common = dict(corpus_root=str(synth_root), upstream="fbank", folds=FOLDS, epochs=2, hidden_size=8,
                  num_gru_layers=1, num_heads=2, batch_size=32, lr=3e-3, cache_dir=str(root / "cache"),
                  output_dir=str(root / "exp"), progress=False, accelerator="cpu", devices="1", seed=seed)
    original = run_crossval(TrainConfig(model="baseline", name=f"base{seed}", **common), argv=[])
    enhanced = run_crossval(TrainConfig(model="enhanced", speaker_adversarial=True, name=f"enh{seed}", **common),
                            argv=[])
    return original, enhanced


@pytest.fixture(scope="module")
def experiments(synth_root, tmp_path_factory):
    return train_pair(synth_root, tmp_path_factory.mktemp("e2e"))


@pytest.fixture(scope="module")
def evaluation(experiments, tmp_path_factory):
    original, enhanced = experiments
    out = tmp_path_factory.mktemp("eval") / "report"
    code = main(["evaluate", "--enhanced_model_path", str(enhanced), "--original_model_path", str(original),
                 "--out", str(out), "--n_boot", "200", "--max_attention_examples", "2", "--no_progress"])
    assert code == 0
    return out


def test_every_file_and_figure_is_written(evaluation):
    for name in TABLES:
        assert (evaluation / name).is_file(), name
    figures = {p.name for p in (evaluation / "figures").glob("*.png")}
    assert set(FIGURES) <= figures
    assert len([f for f in figures if f.startswith("attention_")]) == 2
    md = (evaluation / "report.md").read_text(encoding="utf-8")
    for name in figures:
        assert f"(figures/{name})" in md, name
    data = json.loads((evaluation / "evaluation.json").read_text(encoding="utf-8"))
    assert sorted(data["figures"]["attention"]) == sorted(f"figures/{f}" for f in figures if f.startswith("attention_"))


def test_numbers_recompute_from_the_predictions(evaluation, experiments):
    data = json.loads((evaluation / "evaluation.json").read_text(encoding="utf-8"))
    for name, exp_dir in zip(("original", "enhanced"), experiments):
        table = read_predictions_csv(evaluation / f"predictions_{name}.csv")
        metrics = data["models"][name]["metrics"]
        assert table.folds() == list(FOLDS)
        scopes = [(metrics["folds"][str(k)], table.subset(table.fold == k)) for k in FOLDS]
        for m, t in [*scopes, (metrics["pooled"], table)]:
            assert m["n"] == len(t)
            assert m["wa"] == pytest.approx(accuracy_score(t.label, t.pred))
            assert m["ua"] == pytest.approx(recall_score(t.label, t.pred, average="macro"))
            assert m["macro_f1"] == pytest.approx(f1_score(t.label, t.pred, average="macro", zero_division=0))
            assert m["weighted_f1"] == pytest.approx(f1_score(t.label, t.pred, average="weighted", zero_division=0))
        # the same best checkpoints predicted the same classes during training
        for k in FOLDS:
            with (exp_dir / "predictions" / f"fold_{k}.csv").open(newline="", encoding="utf-8") as fh:
                trained = {r["id"]: r["pred"] for r in csv.DictReader(fh)}
            sub = table.subset(table.fold == k)
            assert dict(zip(sub.ids, sub.pred)) == trained
        # each fold is tested on its own test speakers only, none of whom it trained on
        folds = json.loads((exp_dir / "folds.json").read_text(encoding="utf-8"))["folds"]
        for fold in folds:
            if fold["index"] in FOLDS:
                sub = table.subset(table.fold == fold["index"])
                assert set(sub.speaker) == set(fold["test_speakers"])
        with (evaluation / "overall.csv").open(newline="", encoding="utf-8") as fh:
            pooled = next(r for r in csv.DictReader(fh) if r["model"] == name and r["scope"] == "pooled")
        assert float(pooled["ua"]) == pytest.approx(metrics["pooled"]["ua"])
        # the speaker probe separates the fold's unseen speakers: 2 test + 2 validation (two per gender)
        probe = data["models"][name]["probe"]
        assert [p["n_speakers"] for p in probe["per_fold"]] == [4] * len(FOLDS)
        assert "validation and test speakers" in probe["method"]
    mc = data["comparison"]["mcnemar"]
    assert mc["n"] == data["models"]["enhanced"]["metrics"]["pooled"]["n"]
    assert mc["both_right"] + mc["only_original_right"] + mc["only_enhanced_right"] + mc["both_wrong"] == mc["n"]


def _error(capsys, argv) -> str:
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    return err


def test_bad_inputs_name_the_file(experiments, tmp_path, capsys):
    original, enhanced = experiments
    # not a checkpoint
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"definitely not a checkpoint")
    assert str(junk) in _error(capsys, ["evaluate", "--enhanced_model_path", str(junk), "--out", str(tmp_path / "o")])

    # a pickle that would run code when loaded is refused, and nothing runs
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    evil = tmp_path / "evil.pth"
    torch.save({"x": Evil()}, evil)
    assert str(evil) in _error(capsys, ["evaluate", "--enhanced_model_path", str(evil), "--out", str(tmp_path / "o")])
    assert not marker.exists()

    # a real checkpoint outside its experiment: no way to know its test speakers
    loose = tmp_path / "loose.pth"
    shutil.copy(enhanced / "models" / "best_model_fold_0.pth", loose)
    err = _error(capsys, ["evaluate", "--enhanced_model_path", str(loose), "--out", str(tmp_path / "o")])
    assert str(loose) in err and "not a sier experiment directory" in err

    # an experiment directory with a missing fold
    partial = tmp_path / "partial"
    shutil.copytree(enhanced, partial)
    (partial / "models" / "best_model_fold_1.pth").unlink()
    err = _error(capsys, ["evaluate", "--enhanced_model_path", str(partial), "--out", str(tmp_path / "o")])
    assert str(partial) in err and "fold(s) [1]" in err

    # a checkpoint trained with another label map than the experiment's data
    other = tmp_path / "other"
    shutil.copytree(enhanced, other)
    ckpt_path = other / "models" / "best_model_fold_0.pth"
    raw = torch.load(ckpt_path, weights_only=True)
    raw["meta"]["label_map"] = "iemocap-6"
    torch.save(raw, ckpt_path)
    err = _error(capsys, ["evaluate", "--enhanced_model_path", str(ckpt_path), "--out", str(tmp_path / "o")])
    assert str(ckpt_path) in err and "iemocap-6" in err

    # a checkpoint whose upstream differs from the experiment's
    raw["meta"]["label_map"] = "iemocap-4"
    raw["meta"]["feature_config"]["upstream"] = "facebook/wavlm-base-plus"
    torch.save(raw, ckpt_path)
    err = _error(capsys, ["evaluate", "--enhanced_model_path", str(ckpt_path), "--out", str(tmp_path / "o")])
    assert str(ckpt_path) in err and "upstream" in err
    assert not (tmp_path / "o").exists()


@pytest.fixture(scope="module")
def emodb_manifests(tmp_path_factory):
    """Manifests of a small EmoDB tree (10 speakers, 7 emotions): emodb-4 and emodb-7."""
    root = tmp_path_factory.mktemp("emodb")
    build_emodb(root / "download", emodb_names())
    manifests = {}
    for label_map in ("emodb-4", "emodb-7"):
        manifests[label_map] = root / f"{label_map}.csv"
        assert main(["prepare", "--corpus", "emodb", "--root", str(root / "download"), "--label_map", label_map,
                     "--out", str(manifests[label_map])]) == 0
    return manifests


def test_cross_corpus_evaluation_tests_every_fold_model_on_the_other_corpus(experiments, emodb_manifests, tmp_path):
    """Trained on the (IEMOCAP-layout) synthetic corpus, tested on German EmoDB: every fold's model
    classifies all 40 emodb-4 utterances; McNemar counts each utterance once."""
    original, enhanced = experiments
    out = tmp_path / "cross"
    assert main(["evaluate", "--enhanced_model_path", str(enhanced), "--original_model_path", str(original),
                 "--test_manifest", str(emodb_manifests["emodb-4"]), "--out", str(out), "--n_boot", "50",
                 "--max_attention_examples", "1", "--no_progress"]) == 0
    data = json.loads((out / "evaluation.json").read_text(encoding="utf-8"))
    for name in ("original", "enhanced"):
        table = read_predictions_csv(out / f"predictions_{name}.csv")
        assert table.folds() == list(FOLDS) and len(table) == 40 * len(FOLDS)
        for k in FOLDS:
            assert sorted(table.ids[table.fold == k]) == sorted(set(table.ids))
        assert {s for s in table.speaker} == {f"emodb{s}" for s in ("03", "08", "09", "10", "11", "12", "13", "14",
                                                                     "15", "16")}
        metrics = data["models"][name]["metrics"]
        assert [metrics["folds"][str(k)]["n"] for k in FOLDS] == [40, 40]
        assert metrics["pooled"]["ua"] == pytest.approx(recall_score(table.label, table.pred, average="macro"))
        assert len(data["models"][name]["speakers"]["per_speaker"]) == 10
    mcnemar = data["comparison"]["mcnemar"]
    assert mcnemar["n"] == 40 and "averaged" in mcnemar["on"]
    assert data["comparison"]["n_paired"] == 40 * len(FOLDS)
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "on every utterance of another corpus, none of whose speakers it trained on" in md
    assert "cross-corpus: all 40 utterances of 10 speakers" in md and "(emodb)" in md


def test_cross_corpus_refuses_other_classes_and_seen_speakers(experiments, emodb_manifests, tmp_path, capsys):
    _, enhanced = experiments
    args = ["evaluate", "--enhanced_model_path", str(enhanced), "--out", str(tmp_path / "r"), "--no_progress"]
    assert main([*args, "--test_manifest", str(emodb_manifests["emodb-7"])]) == 1
    err = capsys.readouterr().err
    assert "emodb-7.csv: labels ['bor', 'dis', 'fea'] are not among the classes" in err and "emodb-4" in err
    assert main([*args, "--test_manifest", str(enhanced / "manifest.csv")]) == 1
    assert "a cross-corpus test set must hold unseen speakers only" in capsys.readouterr().err


# ------------------------------------------------------------------ repetitions (other seeds)


def same_scores(a: dict, b: dict) -> bool:
    """The metrics of two evaluations, but for the UA interval (it depends on --n_boot)."""
    strip = lambda m: {**m, "pooled": {k: v for k, v in m["pooled"].items() if k != "ua_interval"}}  # noqa: E731
    return strip(a) == strip(b)


def test_repetitions_are_reported_with_their_spread_and_compared(synth_root, experiments, evaluation, tmp_path,
                                                                   capsys):
    """Both models trained again with seed 1: evaluated as two repetitions each. The first
    repetition is the single-run evaluation; the second's UA equals the one recomputed from
    its training run's own predictions files; mean, std (ddof=1) and Welch's test follow."""
    from scipy.stats import ttest_ind

    original, enhanced = experiments
    again = train_pair(synth_root, original.parent.parent, seed=1)
    out = tmp_path / "report"
    assert main(["evaluate", "--enhanced_model_path", str(enhanced), str(again[1]), "--original_model_path",
                 str(original), str(again[0]), "--out", str(out), "--n_boot", "50", "--max_attention_examples", "0",
                 "--no_progress"]) == 0
    assert "over 2 repetitions: UA" in capsys.readouterr().out
    results = json.loads((out / "evaluation.json").read_text())
    single = json.loads((evaluation / "evaluation.json").read_text())
    uas = {}
    for name, first_exp, second_exp in (("original", original, again[0]), ("enhanced", enhanced, again[1])):
        model = results["models"][name]
        reps = model["repetitions"]
        first, second = reps["per_repetition"]
        assert reps["n"] == 2 and first["source"] == str(first_exp) and second["source"] == str(second_exp)
        assert same_scores(model["metrics"], single["models"][name]["metrics"])  # the other sections: the first repetition
        assert first["ua"] == pytest.approx(single["models"][name]["metrics"]["pooled"]["ua"])
        rows = [r for k in FOLDS for r in csv.DictReader((second_exp / "predictions" / f"fold_{k}.csv").open())]
        assert second["ua"] == pytest.approx(recall_score([r["label"] for r in rows], [r["pred"] for r in rows],
                                                          average="macro"))
        assert second["n"] == len(rows) == first["n"]
        assert reps["mean"]["ua"] == pytest.approx((first["ua"] + second["ua"]) / 2)
        assert reps["std"]["ua"] == pytest.approx(abs(first["ua"] - second["ua"]) / 2 ** 0.5)
        uas[name] = [first["ua"], second["ua"]]
    assert uas["original"] != uas["enhanced"]
    ua = {r["quantity"]: r for r in results["comparison"]["repetitions"]}["ua"]
    assert ua["delta"] == pytest.approx(sum(uas["enhanced"]) / 2 - sum(uas["original"]) / 2)
    assert ua["p_welch"] == pytest.approx(ttest_ind(uas["enhanced"], uas["original"], equal_var=False).pvalue)
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "## Repetitions (other seeds)" in report and "| **enhanced** | mean ± std of 2 |" in report
    assert "Welch's t-test, 2 original and 2 enhanced runs" in report
    assert (out / "repetitions.csv").read_text().count("\n") == 1 + 4

    err = _error(capsys, ["evaluate", "--enhanced_model_path", str(enhanced), str(enhanced), "--out", str(tmp_path / "x")])
    assert "is also given by" in err and "another seed" in err
    one_fold = str(again[1] / "models" / "best_model_fold_0.pth")
    err = _error(capsys, ["evaluate", "--enhanced_model_path", str(enhanced), one_fold, "--out", str(tmp_path / "y")])
    assert f"{one_fold}: tests other utterances, folds or classes than {enhanced}" in err


# ------------------------------------------------------------------ robustness (altered test audio)


def test_conditions_classify_the_test_sets_with_altered_audio(experiments, evaluation, tmp_path, capsys):
    """gain:0 is the identity, so it must give exactly the clean audio's probabilities (its
    features come from their own cache entries); white noise at 0 dB SNR changes them."""
    original, enhanced = experiments
    out = tmp_path / "robust"
    assert main(["evaluate", "--enhanced_model_path", str(enhanced), "--original_model_path", str(original),
                 "--conditions", "gain:0,noise:0", "--out", str(out), "--n_boot", "20",
                 "--max_attention_examples", "0", "--no_progress"]) == 0
    assert "noise:0: UA" in capsys.readouterr().out
    results = json.loads((out / "evaluation.json").read_text())
    single = json.loads((evaluation / "evaluation.json").read_text())
    for name in ("original", "enhanced"):
        conditions = results["models"][name]["conditions"]
        assert list(conditions) == ["clean", "gain:0", "noise:0"]
        pooled = single["models"][name]["metrics"]["pooled"]
        assert conditions["clean"]["ua"] == pytest.approx(pooled["ua"]) and conditions["clean"]["n"] == pooled["n"]
        assert conditions["gain:0"] == conditions["clean"]
        assert conditions["noise:0"]["n"] == pooled["n"]
        clean = read_predictions_csv(out / f"predictions_{name}.csv")
        same = read_predictions_csv(out / f"predictions_{name}_gain_0.csv")
        noisy = read_predictions_csv(out / f"predictions_{name}_noise_0.csv")
        assert list(same.ids) == list(noisy.ids) == list(clean.ids)
        assert np.array_equal(same.probs, clean.probs)
        assert np.abs(noisy.probs - clean.probs).max() > 1e-3
        assert same_scores(results["models"][name]["metrics"], single["models"][name]["metrics"])  # the rest: unchanged
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "## Robustness: the test audio altered" in report and "| noise:0 |" in report
    assert (out / "conditions.csv").read_text().count("\n") == 1 + 2 * 3
    assert main(["evaluate", "--enhanced_model_path", str(enhanced), "--conditions", "echo:3",
                 "--out", str(tmp_path / "bad")]) == 1
    assert "echo" in capsys.readouterr().err

"""Metrics, speaker analysis, probe and paired tests on prediction tables built here."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, recall_score

from sier.errors import EvaluationError
from sier.evaluation.compare import align, bootstrap_ua, bootstrap_ua_difference, mcnemar
from sier.evaluation.metrics import classification_metrics, fold_metrics, unweighted_accuracy
from sier.evaluation.predictions import (
    concat, make_predictions, read_predictions_csv, write_predictions_csv,
)
from sier.evaluation.probe import probe_by_fold, probe_subset, speaker_probe
from sier.evaluation.repetitions import compare_repetitions, summarize_repetitions
from sier.evaluation.speakers import class_balance, group_table, speaker_analysis, spread

CLASSES = ("neu", "hap", "ang", "sad")


def synthetic_table(seed: int = 0, per_speaker: int = 24, skill: float = 0.6, sessions: int = 3):
    """Session-protocol predictions: fold k tests the two speakers of session k+1.

    Each utterance is right with probability `skill` (speaker Ses01M a bit worse), so metrics
    vary across speakers. Also returns [N, 8] embeddings with a speaker offset.
    """
    rng = np.random.default_rng(seed)
    tables, embeddings = [], []
    for fold in range(sessions):
        sess = fold + 1
        for g in "FM":
            spk = f"Ses{sess:02d}{g}"
            labels = rng.choice(CLASSES, per_speaker)
            p = skill - (0.2 if spk == "Ses01M" else 0.0)
            right = rng.random(per_speaker) < p
            wrong = rng.choice(CLASSES, per_speaker)
            pred = np.where(right, labels, wrong)
            probs = rng.random((per_speaker, len(CLASSES))) * 0.5
            probs[np.arange(per_speaker), [CLASSES.index(c) for c in pred]] = 1.0
            probs /= probs.sum(1, keepdims=True)
            ids = [f"{spk}_impro01_{g}{i:03d}" for i in range(per_speaker)]
            tables.append(make_predictions(CLASSES, ids, [spk] * per_speaker, [sess] * per_speaker,
                                           [g] * per_speaker, labels, probs, fold=fold))
            offset = np.zeros(8)
            offset[0] = 3.0 if g == "F" else -3.0
            embeddings.append(rng.standard_normal((per_speaker, 8)) + offset)
    return concat(tables), np.concatenate(embeddings)


def test_metrics_match_sklearn():
    table, _ = synthetic_table()
    m = classification_metrics(table.label, table.pred, CLASSES)
    assert m["n"] == len(table)
    assert m["wa"] == pytest.approx(accuracy_score(table.label, table.pred))
    assert m["ua"] == pytest.approx(recall_score(table.label, table.pred, average="macro"))
    assert m["macro_f1"] == pytest.approx(f1_score(table.label, table.pred, average="macro"))
    assert m["weighted_f1"] == pytest.approx(f1_score(table.label, table.pred, average="weighted"))
    cm = np.array(m["confusion"])
    assert cm.sum() == len(table) and np.trace(cm) == table.correct.sum()
    assert np.allclose(np.array(m["confusion_normalized"]).sum(1), 1.0)
    assert [c["support"] for c in m["per_class"]] == [int(np.sum(table.label == c)) for c in CLASSES]


def test_ua_is_mean_recall_over_present_classes():
    # "sad" never occurs in the reference: it has no recall and does not count.
    y_true = ["neu", "neu", "hap", "hap"]
    y_pred = ["neu", "sad", "hap", "hap"]
    assert unweighted_accuracy(y_true, y_pred) == pytest.approx((0.5 + 1.0) / 2)
    assert np.isnan(unweighted_accuracy([], []))
    empty = classification_metrics([], [], CLASSES)
    assert empty["n"] == 0 and np.isnan(empty["ua"])


def test_fold_metrics_per_fold_and_pooled():
    table, _ = synthetic_table()
    fm = fold_metrics(table)
    assert sorted(fm["folds"]) == [0, 1, 2]
    assert sum(f["n"] for f in fm["folds"].values()) == fm["pooled"]["n"] == len(table)
    uas = [fm["folds"][k]["ua"] for k in range(3)]
    assert fm["over_folds"]["ua"]["mean"] == pytest.approx(np.mean(uas))
    assert fm["over_folds"]["ua"]["std"] == pytest.approx(np.std(uas))


def test_speaker_analysis_finds_the_worst_speaker():
    table, _ = synthetic_table(per_speaker=200)
    sa = speaker_analysis(table)
    rows = sa["per_speaker"]
    assert [r["group"] for r in rows] == ["Ses01F", "Ses01M", "Ses02F", "Ses02M", "Ses03F", "Ses03M"]
    assert all(r["n"] == 200 for r in rows)
    s = sa["speaker_spread"]["ua"]
    assert s["worst"] == "Ses01M"
    values = [r["ua"] for r in rows]
    assert s["spread"] == pytest.approx(max(values) - min(values))
    assert s["variance"] == pytest.approx(np.var(values)) and s["std"] == pytest.approx(np.std(values))
    for r in rows:
        sub = table.subset(table.speaker == r["group"])
        assert r["wa"] == pytest.approx(accuracy_score(sub.label, sub.pred))
    assert [r["group"] for r in sa["per_gender"]] == ["F", "M"]
    assert [r["group"] for r in sa["per_session"]] == [1, 2, 3]
    assert sum(r["n"] for r in group_table(table, "session")) == len(table)
    assert set(sa["class_balance"]) >= {"f1_std", "f1_min", "worst_class"}
    assert "per_corpus" not in sa and "per_language" not in sa  # one corpus ("" here), one language


def test_languages_are_tabled_where_the_test_data_mixes_them():
    """ESD alone speaks two languages (0001-0010 Mandarin); pooled EmoDB and IEMOCAP two more."""
    table, _ = synthetic_table(per_speaker=20)
    esd = {"Ses01F": "esd0001", "Ses01M": "esd0004", "Ses02F": "esd0015", "Ses02M": "esd0011",
           "Ses03F": "esd0007", "Ses03M": "esd0020"}
    as_esd = make_predictions(CLASSES, table.ids, [esd[s] for s in table.speaker], table.session, table.gender,
                              table.label, table.probs, fold=table.fold, corpus=["esd"] * len(table))
    sa = speaker_analysis(as_esd)
    assert "per_corpus" not in sa
    rows = {r["group"]: r for r in sa["per_language"]}
    assert sorted(rows) == ["English", "Mandarin"] and rows["Mandarin"]["n"] == 60 and rows["English"]["n"] == 60
    english = as_esd.subset(np.isin(as_esd.speaker, ["esd0015", "esd0011", "esd0020"]))
    assert rows["English"]["wa"] == pytest.approx(accuracy_score(english.label, english.pred))
    pooled = make_predictions(CLASSES, table.ids, table.speaker, table.session, table.gender, table.label,
                              table.probs, fold=table.fold,
                              corpus=["emodb" if s == 1 else "iemocap" for s in table.session])
    sa = speaker_analysis(pooled)
    assert [(r["group"], r["n"]) for r in sa["per_language"]] == [("English", 80), ("German", 40)]
    assert [(r["group"], r["n"]) for r in sa["per_corpus"]] == [("emodb", 40), ("iemocap", 80)]


def test_repetitions_by_hand():
    runs = [synthetic_table(seed=s, per_speaker=40)[0] for s in range(3)]
    reps = summarize_repetitions(runs, ["a", "b", "c"])
    uas = [recall_score(t.label, t.pred, average="macro") for t in runs]
    assert [r["source"] for r in reps["per_repetition"]] == ["a", "b", "c"]
    assert reps["mean"]["ua"] == pytest.approx(np.mean(uas)) and reps["std"]["ua"] == pytest.approx(np.std(uas, ddof=1))
    assert reps["per_repetition"][0]["speaker_ua_min"] == pytest.approx(
        min(r["ua"] for r in group_table(runs[0], "speaker")))
    assert np.isnan(summarize_repetitions(runs[:1], ["a"])["std"]["ua"])
    better = [synthetic_table(seed=s, per_speaker=40, skill=0.9)[0] for s in range(3)]
    rows = {r["quantity"]: r for r in compare_repetitions(reps, summarize_repetitions(better, ["d", "e", "f"]))}
    assert rows["ua"]["better"] == "enhanced" and rows["ua"]["p_welch"] < 0.01 and rows["ua"]["delta"] > 0.2
    same = compare_repetitions(reps, reps)
    assert all(r["delta"] == 0 and r["better"] is None and r["p_welch"] == pytest.approx(1.0) for r in same)
    with pytest.raises(ValueError, match="two or more of each model"):
        compare_repetitions(reps, summarize_repetitions(runs[:1], ["a"]))


def test_bootstrap_interval_of_ua_is_wider_when_speakers_differ():
    """Same pooled skill, once alike for every speaker and once spread from weak to strong:
    the interval over speakers holds the observed UA and is wider for the unequal speakers."""
    rng = np.random.default_rng(0)
    speakers = [f"s{i}" for i in range(10)]

    def table(skills):
        labels = rng.choice(CLASSES, 100 * len(speakers))
        spk = np.repeat(speakers, 100)
        right = rng.random(len(labels)) < np.repeat(skills, 100)
        wrong = np.array([CLASSES[(CLASSES.index(c) + 1) % 4] for c in labels])
        pred = np.where(right, labels, wrong)
        probs = np.eye(4)[[CLASSES.index(c) for c in pred]]
        return make_predictions(CLASSES, [f"u{i}" for i in range(len(labels))], spk, [1] * len(labels),
                                ["F"] * len(labels), labels, probs)

    alike = bootstrap_ua(table(np.full(10, 0.6)), n_boot=500)
    unequal = bootstrap_ua(table(np.linspace(0.2, 1.0, 10)), n_boot=500)
    for ci in (alike, unequal):
        assert ci["ci_low"] <= ci["ua"] <= ci["ci_high"] and ci["n_speakers"] == 10
    assert unequal["ci_high"] - unequal["ci_low"] > 2 * (alike["ci_high"] - alike["ci_low"])
    same = table(np.full(10, 0.6))
    assert bootstrap_ua(same, n_boot=200, seed=3) == bootstrap_ua(same, n_boot=200, seed=3)  # seeded


def test_spread_and_balance_by_hand():
    rows = [{"group": "a", "ua": 0.5}, {"group": "b", "ua": 0.7}, {"group": "c", "ua": 0.6}]
    s = spread(rows)
    assert (s["worst"], s["best"]) == ("a", "b")
    assert s["spread"] == pytest.approx(0.2) and s["mean"] == pytest.approx(0.6)
    m = {"per_class": [{"class": "x", "f1": 0.2, "support": 3}, {"class": "y", "f1": 0.6, "support": 2},
                       {"class": "z", "f1": 0.0, "support": 0}]}
    b = class_balance(m)
    assert b["worst_class"] == "x" and b["f1_std"] == pytest.approx(0.2) and b["f1_range"] == pytest.approx(0.4)
    assert (b["best_class"], b["n_classes"]) == ("y", 2) and b["f1_mean"] == pytest.approx(0.4)


def test_speaker_probe_sees_speaker_offset_and_not_noise():
    table, emb = synthetic_table(per_speaker=40)
    folds = table.folds()
    by_fold = probe_by_fold({k: emb[table.fold == k] for k in folds}, {k: table.speaker[table.fold == k] for k in folds})
    assert len(by_fold["per_fold"]) == 3 and not by_fold["skipped"]
    assert by_fold["accuracy"]["mean"] > 0.9
    assert by_fold["chance"]["mean"] == pytest.approx(0.5)
    rng = np.random.default_rng(1)
    noise = speaker_probe(rng.standard_normal((120, 8)), np.repeat(["a", "b", "c"], 40))
    assert noise["chance"] == pytest.approx(1 / 3)
    assert abs(noise["accuracy"] - 1 / 3) < 0.2
    assert speaker_probe(emb[:10], ["a"] * 10) is None  # one speaker: nothing to tell apart
    one = probe_by_fold({0: emb[:10]}, {0: ["a"] * 10})
    assert one["skipped"] and not one["per_fold"] and np.isnan(one["accuracy"]["mean"])


def test_probe_of_a_large_test_set_keeps_the_speakers_it_can_fit():
    """30 speakers, one of them with a single utterance and one with 1,500: the probe keeps the
    24 with the most utterances (ties by name), at most 1,000 each, and still sees the offset."""
    rng = np.random.default_rng(0)
    sizes = {f"s{i:02d}": 20 + i for i in range(28)} | {"solo": 1, "talker": 1500}
    speakers = np.concatenate([[s] * n for s, n in sizes.items()])
    offsets = {s: 4 * rng.standard_normal(8) for s in sizes}
    emb = np.stack([offsets[s] for s in speakers]) + rng.standard_normal((len(speakers), 8))
    rows, available = probe_subset(speakers, seed=0)
    kept = {str(s): int(n) for s, n in zip(*np.unique(speakers[rows], return_counts=True))}
    assert available == 29 and len(kept) == 24 and "solo" not in kept and kept["talker"] == 1000
    assert set(kept) == {"talker", *(f"s{i:02d}" for i in range(5, 28))}  # the 23 largest of the rest
    result = speaker_probe(emb, speakers)
    assert result["n_speakers"] == 24 and result["n_speakers_available"] == 29 and result["n"] == len(rows)
    assert result["accuracy"] > 0.9
    assert speaker_probe(emb[:3], ["a", "b", "c"]) is None  # no speaker with two utterances


def test_mcnemar_exact_and_chi_square():
    a = np.array([True] * 10 + [False] * 2 + [True] * 5)
    b = np.array([False] * 10 + [True] * 2 + [True] * 5)
    r = mcnemar(a, b)
    assert (r["only_original_right"], r["only_enhanced_right"], r["both_right"]) == (10, 2, 5)
    assert r["method"] == "exact binomial"
    from scipy.stats import binomtest
    assert r["p_value"] == pytest.approx(binomtest(2, 12, 0.5).pvalue)
    big_a = np.array([True] * 40 + [False] * 20)
    big_b = np.array([False] * 40 + [True] * 20)
    r = mcnemar(big_a, big_b)
    assert r["method"].startswith("chi-square") and r["statistic"] == pytest.approx((20 - 1) ** 2 / 60)
    assert mcnemar(a, a)["p_value"] == 1.0


def test_bootstrap_ua_difference():
    orig, _ = synthetic_table(seed=0, skill=0.4, per_speaker=60)
    better = make_predictions(orig.classes, orig.ids, orig.speaker, orig.session, orig.gender, orig.label,
                              np.eye(4)[[CLASSES.index(c) for c in orig.label]], fold=orig.fold)
    r = bootstrap_ua_difference(orig, better, n_boot=500)
    assert r["delta"] == pytest.approx(1.0 - unweighted_accuracy(orig.label, orig.pred))
    assert 0 < r["ci_low"] <= r["delta"] <= r["ci_high"]
    assert r["p_value"] < 0.01 and r["n_speakers"] == 6
    same = bootstrap_ua_difference(orig, orig, n_boot=200)
    assert same["delta"] == 0 and same["ci_low"] == same["ci_high"] == 0
    # order of rows does not matter: tables are aligned by id
    shuffled = better.subset(np.random.default_rng(0).permutation(len(better)))
    assert bootstrap_ua_difference(orig, shuffled, n_boot=500)["delta"] == pytest.approx(r["delta"])


def test_align_refuses_disjoint_or_different_classes():
    t, _ = synthetic_table()
    with pytest.raises(EvaluationError, match="share no test utterance"):
        align(t.subset(t.fold == 0), t.subset(t.fold == 1))
    other = make_predictions(("a", "b"), ["x"], ["s"], [1], ["F"], ["a"], [[1.0, 0.0]])
    with pytest.raises(EvaluationError, match="different classes"):
        align(t, other)


def test_predictions_csv_roundtrip(tmp_path):
    table, _ = synthetic_table()
    write_predictions_csv(tmp_path / "p.csv", table)
    back = read_predictions_csv(tmp_path / "p.csv")
    assert back.classes == CLASSES
    assert list(back.ids) == list(table.ids) and list(back.pred) == list(table.pred)
    assert np.array_equal(back.fold, table.fold) and np.allclose(back.probs, table.probs)
    # the training's per-fold files have no fold column: the fold comes from the file name
    (tmp_path / "fold_3.csv").write_text("id,speaker,session,gender,label,pred,prob_a,prob_b\n"
                                         "u1,Ses01F,1,F,a,b,0.4,0.6\n")
    one = read_predictions_csv(tmp_path / "fold_3.csv")
    assert one.folds() == [3] and one.classes == ("a", "b")
    (tmp_path / "bad.csv").write_text("id,label\nu1,a\n")
    with pytest.raises(EvaluationError, match="not a sier predictions table"):
        read_predictions_csv(tmp_path / "bad.csv")


def test_improvised_and_scripted_dialogs_are_tabled_apart():
    """IEMOCAP's ids say whether the dialog was improvised or scripted; a corpus without such
    kinds of recording gets no table (synthetic ids, corpus "")."""
    table, _ = synthetic_table(per_speaker=20)
    ids = [f"Ses01F_{'impro01' if k % 4 else 'script01_1'}_F{k:03d}" for k in range(len(table))]
    iemocap = make_predictions(CLASSES, ids, table.speaker, table.session, table.gender, table.label, table.probs,
                               fold=table.fold, corpus=["iemocap"] * len(table))
    rows = {r["group"]: r for r in speaker_analysis(iemocap)["per_recording"]}
    assert sorted(rows) == ["improvised", "scripted"] and rows["scripted"]["n"] == len(table) // 4
    scripted = iemocap.subset(np.array(["_script" in i for i in ids]))
    assert rows["scripted"]["wa"] == pytest.approx(accuracy_score(scripted.label, scripted.pred))
    assert "per_recording" not in speaker_analysis(table)
    only_impro = iemocap.subset(np.array(["_impro" in i for i in ids]))
    assert "per_recording" not in speaker_analysis(only_impro)  # one kind: nothing to compare

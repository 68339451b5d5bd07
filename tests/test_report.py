"""The report: every figure written, and its numbers equal a recomputation from its own files."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, recall_score

from sier.evaluation import plots
from sier.evaluation.predictions import make_predictions, read_predictions_csv
from sier.evaluation.report import AttentionExample, ModelRun, write_report
from tests.iemocap_tree import write_wav
from tests.test_evaluation import synthetic_table


def _curves(folds, epochs=3, alpha=False):
    return {k: [{"epoch": e, "lr": 1e-3 / (e + 1), "alpha": (e / epochs if alpha else 0.0), "train_loss": 1.4 - 0.1 * e,
                 "val_loss": 1.5 - 0.05 * e, "val_wa": 0.4 + 0.05 * e, "val_ua": 0.38 + 0.05 * e,
                 "val_f1": 0.35 + 0.05 * e} for e in range(epochs)] for k in folds}


def _runs(tmp_path):
    orig, emb = synthetic_table(seed=0, skill=0.5, per_speaker=30)
    enh_base, _ = synthetic_table(seed=1, skill=0.7, per_speaker=30)
    # same utterances and labels, different predictions
    enh = make_predictions(orig.classes, orig.ids, orig.speaker, orig.session, orig.gender, orig.label,
                           enh_base.probs, fold=orig.fold)
    wav = write_wav(tmp_path / "audio" / "u.wav", samples=16000)
    examples = []
    for uid in orig.ids[:2]:
        t = 50
        att = np.random.default_rng(0).random((4, t, t))
        examples.append(AttentionExample(str(uid), 0, "neu", "hap", str(wav), att / att.sum(-1, keepdims=True)))
    examples.append(AttentionExample("missing", 0, "neu", "hap", str(tmp_path / "nope.wav"), np.ones((5, 5)) / 5))
    folds = orig.folds()
    return [
        ModelRun("original", orig, emb, [], _curves(folds), {k: f"m/best_model_fold_{k}.pth" for k in folds}, "exp_o"),
        ModelRun("enhanced", enh, np.random.default_rng(2).standard_normal(emb.shape), examples, _curves(folds, alpha=True),
                 {k: f"e/best_model_fold_{k}.pth" for k in folds}, "exp_e", {"upstream": "tiny"}),
    ]


def test_report_writes_everything_and_numbers_recompute(tmp_path):
    runs = _runs(tmp_path)
    rep = write_report(runs, tmp_path / "eval", max_attention_examples=3, n_boot=300)
    out = rep.out_dir
    for name in ("report.md", "evaluation.json", "overall.csv", "per_class.csv", "confusion.csv", "per_group.csv",
                 "spread.csv", "probe.csv", "comparison.csv", "paired_tests.csv", "predictions_original.csv",
                 "predictions_enhanced.csv"):
        assert (out / name).is_file(), name
    figures = {p.name for p in rep.figures}
    assert {"training_original.png", "training_enhanced.png", "confusion_original.png", "confusion_enhanced.png",
            "per_speaker_ua.png", "per_gender_ua.png", "per_session_ua.png", "per_class_f1.png",
            "speaker_probe.png", "tsne_original.png", "tsne_enhanced.png"} <= figures
    # two attention maps; the example whose wav is missing is skipped, not fatal
    assert sorted(f for f in figures if f.startswith("attention_")) == sorted(
        f"attention_{u}.png" for u in runs[0].predictions.ids[:2])
    for p in rep.figures:
        assert p.stat().st_size > 5000 and p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = rep.report_path.read_text()
    for p in rep.figures:
        assert f"(figures/{p.name})" in md
    assert "McNemar" in md and "Bootstrap over speakers" in md and "Speaker probe" in md

    data = json.loads(rep.json_path.read_text())
    for name in ("original", "enhanced"):
        table = read_predictions_csv(out / f"predictions_{name}.csv")
        pooled = data["models"][name]["metrics"]["pooled"]
        assert pooled["wa"] == pytest.approx(accuracy_score(table.label, table.pred))
        assert pooled["ua"] == pytest.approx(recall_score(table.label, table.pred, average="macro"))
        assert pooled["macro_f1"] == pytest.approx(f1_score(table.label, table.pred, average="macro"))
        ci = pooled["ua_interval"]
        assert ci["ua"] == pytest.approx(pooled["ua"]) and ci["ci_low"] < pooled["ua"] < ci["ci_high"]
        assert f"[{100 * ci['ci_low']:.2f}, {100 * ci['ci_high']:.2f}] |" in md
        for k in table.folds():
            sub = table.subset(table.fold == k)
            assert data["models"][name]["metrics"]["folds"][str(k)]["ua"] == pytest.approx(
                recall_score(sub.label, sub.pred, average="macro"))
        # the CSV tables hold the same numbers as the JSON
        with (out / "overall.csv").open() as fh:
            row = next(r for r in csv.DictReader(fh) if r["model"] == name and r["scope"] == "pooled")
        assert float(row["ua"]) == pytest.approx(pooled["ua"])
        # per speaker: n, WA, UA, macro-F1, and their spread over speakers
        uas = []
        with (out / "per_group.csv").open() as fh:
            for row in csv.DictReader(fh):
                if row["model"] != name or row["key"] != "speaker":
                    continue
                sub = table.subset(table.speaker == row["group"])
                assert int(row["n"]) == len(sub)
                assert float(row["wa"]) == pytest.approx(accuracy_score(sub.label, sub.pred))
                assert float(row["ua"]) == pytest.approx(recall_score(sub.label, sub.pred, average="macro"))
                assert float(row["macro_f1"]) == pytest.approx(f1_score(sub.label, sub.pred, average="macro"))
                uas.append(float(row["ua"]))
        with (out / "spread.csv").open() as fh:
            sp = next(r for r in csv.DictReader(fh)
                      if (r["model"], r["key"], r["metric"]) == (name, "speaker", "ua"))
        assert float(sp["std"]) == pytest.approx(np.std(uas))
        assert float(sp["variance"]) == pytest.approx(np.var(uas))
        assert float(sp["spread"]) == pytest.approx(max(uas) - min(uas))
        assert sp["worst"] == data["models"][name]["speakers"]["speaker_spread"]["ua"]["worst"]
        # the report shows them (percent, 2 decimals)
        assert f"{100 * pooled['ua']:.2f}" in md
    cmp = data["comparison"]
    d = {r["quantity"]: r for r in cmp["rows"]}
    assert d["ua (pooled)"]["delta"] == pytest.approx(
        data["models"]["enhanced"]["metrics"]["pooled"]["ua"] - data["models"]["original"]["metrics"]["pooled"]["ua"])
    assert cmp["mcnemar"]["n"] == len(runs[0].predictions)
    with (out / "paired_tests.csv").open() as fh:
        tests = {r["test"]: r for r in csv.DictReader(fh)}
    assert float(tests["mcnemar"]["p_value"]) == pytest.approx(cmp["mcnemar"]["p_value"])
    assert float(tests["bootstrap_ua_over_speakers"]["delta_ua"]) == pytest.approx(cmp["bootstrap_ua"]["delta"])
    assert cmp["bootstrap_ua"]["ci_low"] <= cmp["bootstrap_ua"]["delta"] <= cmp["bootstrap_ua"]["ci_high"]
    # the enhanced embeddings are noise: no speaker information
    probe = {n: data["models"][n]["probe"]["accuracy"]["mean"] for n in ("original", "enhanced")}
    assert probe["original"] > 0.9 and probe["enhanced"] < 0.75


def test_report_of_one_model_without_embeddings(tmp_path):
    table, _ = synthetic_table(per_speaker=10)
    rep = write_report([ModelRun("enhanced", table)], tmp_path / "one", n_boot=50)
    assert "comparison" not in rep.results
    assert not (rep.out_dir / "comparison.csv").exists()
    assert "No fold could be probed" in rep.report_path.read_text()
    assert (rep.out_dir / "figures" / "confusion_enhanced.png").is_file()
    assert "**Warning**" not in rep.report_path.read_text()


def test_a_model_that_gives_one_class_to_most_utterances_is_flagged(tmp_path):
    table, _ = synthetic_table(per_speaker=10)
    probs = np.tile([0.1, 0.1, 0.7, 0.1], (len(table), 1))
    probs[::4] = [0.7, 0.1, 0.1, 0.1]  # 25 % neu, 75 % ang
    collapsed = make_predictions(table.classes, table.ids, table.speaker, table.session, table.gender, table.label,
                                 probs, fold=table.fold)
    rep = write_report([ModelRun("enhanced", collapsed)], tmp_path / "one", n_boot=50)
    assert rep.results["models"]["enhanced"]["dominant_prediction"] == {"class": "ang", "share": 0.75}
    assert "**Warning**: enhanced predicts `ang` for 75.0 % of the test utterances." in rep.report_path.read_text()


def test_log_mel_spectrogram_shape_and_tone():
    sr = 16000  # SAMPLE_RATE
    t = np.arange(sr) / sr
    spec = plots.log_mel_spectrogram(np.sin(2 * np.pi * 1000 * t))
    assert spec.shape == (80, 1 + (sr - 400) // 320)
    peak = spec.mean(axis=1).argmax()
    assert 20 < peak < 40  # 1 kHz sits in the lower-middle mel bins
    received = plots.attention_received(np.full((2, 4, 4), 0.25))
    assert np.allclose(received, 0.25)


def test_figures_of_hundreds_of_speakers_stay_readable(tmp_path):
    """Above 40 groups the per-speaker bars become a ranked curve of fixed width (MSP-Podcast's
    test sets have hundreds of speakers); a t-SNE of 50 speakers (no legend) renders."""
    import matplotlib.image

    rng = np.random.default_rng(0)
    groups = [f"msp{i}" for i in range(300)]
    values = {m: {g: float(rng.random()) for g in groups} for m in ("original", "enhanced")}
    wide = plots.group_bars(values, {g: 5 for g in groups}, tmp_path / "ranked.png", "UA per speaker",
                            reference={"original": 0.5, "enhanced": 0.6})
    few = plots.group_bars({m: dict(list(v.items())[:10]) for m, v in values.items()}, {g: 5 for g in groups},
                           tmp_path / "bars.png", "UA per speaker")
    assert matplotlib.image.imread(wide).shape[1] < 1500 and matplotlib.image.imread(few).shape[1] < 2500
    speakers = np.repeat([f"s{i}" for i in range(50)], 4)
    path = plots.tsne({0: rng.standard_normal((200, 8))}, {0: ["neu", "ang"] * 100}, {0: speakers},
                      tmp_path / "tsne.png", "t-SNE")
    assert path.is_file() and matplotlib.image.imread(path).shape[1] < 1500

"""Emotion dimensions (arousal, valence, dominance) as an auxiliary task: the CCC, its loss
over rated utterances only, the models' dimension head, the predictions tables, the report's
scores, and a short training run that learns them on held-out speakers."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from sier.corpora.dimensions import normalized
from sier.corpora.records import Utterance, write_manifest
from sier.errors import TrainingError
from sier.evaluation.dimensions import dimension_scores
from sier.evaluation.predictions import concat, make_predictions, read_predictions_csv, write_predictions_csv
from sier.evaluation.run import evaluate
from sier.models import ModelConfig, build_model
from sier.training.config import TrainConfig
from sier.training.crossval import run_crossval
from sier.training.experiment import read_utterances
from sier.training.metrics import concordance
from sier.training.module import dimension_loss


def test_concordance_is_lins_coefficient():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=50), rng.normal(size=50)
    y = 0.6 * x + 0.5 * y + 0.3
    expected = 2 * np.cov(x, y, ddof=0)[0, 1] / (x.var() + y.var() + (x.mean() - y.mean()) ** 2)
    assert float(concordance(torch.tensor(x), torch.tensor(y))) == pytest.approx(expected, abs=1e-5)
    t = torch.tensor(x, dtype=torch.float32)
    assert float(concordance(t, t)) == pytest.approx(1.0)
    # a shift or a rescale costs concordance, though the Pearson correlation stays 1
    v = float(t.var(unbiased=False))
    assert float(concordance(t + 1.0, t)) == pytest.approx(2 * v / (2 * v + 1), abs=1e-5)
    assert float(concordance(0.2 * t, t)) < 0.5
    assert torch.isnan(concordance(t[:1], t[:1]))


def test_dimension_loss_uses_rated_utterances_only():
    target = torch.tensor([[0.1, 0.9, float("nan")], [0.5, 0.5, float("nan")], [0.9, 0.1, 0.3],
                           [float("nan"), float("nan"), float("nan")]])
    perfect = torch.nan_to_num(target, nan=123.0)  # whatever it says for unrated values
    loss = dimension_loss(perfect, target)
    assert float(loss) == pytest.approx(0.0, abs=1e-6)  # dominance has one rating: left out
    pred = torch.rand(4, 3, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
    dimension_loss(pred, target).backward()
    assert pred.grad[:3, :2].abs().min() > 0  # rated arousal and valence learn
    assert pred.grad[3].abs().sum() == 0 and pred.grad[:, 2].abs().sum() == 0  # the unrated and the lone rating do not
    assert dimension_loss(perfect, torch.full((4, 3), float("nan"))) is None


@pytest.mark.parametrize("kind", ["baseline", "enhanced"])
def test_models_have_a_dimension_head_when_asked(kind):
    torch.manual_seed(0)
    cfg = dict(kind=kind, input_dim=8, num_classes=4, hidden_size=8, num_heads=2, num_gru_layers=1)
    model = build_model(ModelConfig(**cfg, num_dimensions=3)).eval()
    out = model(torch.randn(2, 7, 8), torch.tensor([7, 4]))
    assert out["dimensions"].shape == (2, 3)
    heads = {id(p) for p in model.param_groups()["heads"]}
    assert all(id(p) in heads for p in model.dimension_head.parameters())
    assert "dimensions" not in build_model(ModelConfig(**cfg)).eval()(torch.randn(2, 7, 8), torch.tensor([7, 4]))


def test_scales_put_every_corpus_on_zero_to_one():
    iemocap = Utterance("a", "a.wav", "s", 1, "F", "neu", 1.0, "iemocap", 5.0, 1.0, 3.0)
    podcast = Utterance("b", "b.wav", "s", 1, "F", "neu", 1.0, "msppodcast", 7.0, 1.0, None)
    assert normalized(iemocap) == (1.0, 0.0, 0.5)
    assert normalized(podcast)[:2] == (1.0, 0.0) and np.isnan(normalized(podcast)[2])
    assert all(np.isnan(normalized(Utterance("c", "c.wav", "s", 1, "F", "neu", 1.0, "emodb"))))


def _table(fold: int, dims: np.ndarray, rated: np.ndarray, speakers: list[str]):
    n = len(speakers)
    return make_predictions(("neu", "ang"), [f"u{fold}_{i}" for i in range(n)], speakers, [1] * n, ["F"] * n,
                            ["neu"] * n, np.tile([0.7, 0.3], (n, 1)), fold=fold, dims=dims, rated=rated)


def test_predictions_keep_dimensions_through_csv_subset_and_concat(tmp_path):
    rated = np.array([[0.1, 0.2, np.nan], [0.4, 0.5, 0.6], [0.7, 0.8, 0.9]])
    table = concat([_table(0, rated + 0.01, rated, ["a", "a", "b"]), _table(1, rated, rated, ["c", "c", "c"])])
    write_predictions_csv(tmp_path / "p.csv", table)
    back = read_predictions_csv(tmp_path / "p.csv")
    np.testing.assert_allclose(back.dims, table.dims)
    np.testing.assert_array_equal(np.isnan(back.rated), np.isnan(table.rated))
    np.testing.assert_allclose(back.rated[~np.isnan(back.rated)], table.rated[~np.isnan(table.rated)])
    assert back.subset(back.speaker == "c").dims.shape == (3, 3)
    assert read_predictions_csv(tmp_path / "p.csv").dims is not None
    plain = make_predictions(("neu", "ang"), ["x"], ["s"], [1], ["F"], ["neu"], [[0.5, 0.5]])
    write_predictions_csv(tmp_path / "plain.csv", plain)
    assert read_predictions_csv(tmp_path / "plain.csv").dims is None
    assert concat([table, plain]).dims is None  # one model without the head: no dimension scores


def test_dimension_scores_pooled_and_per_speaker():
    rng = np.random.default_rng(1)
    rated = rng.uniform(0, 1, (40, 3))
    rated[:5, 2] = np.nan
    dims = rated + rng.normal(0, 0.05, (40, 3))
    dims[:, 1] = rng.uniform(0, 1, 40)  # valence: guessed
    speakers = ["a"] * 20 + ["b"] * 19 + ["c"]
    scores = dimension_scores(_table(0, dims, rated, speakers))
    assert scores["pooled"]["arousal"]["ccc"] > 0.9 and abs(scores["pooled"]["valence"]["ccc"]) < 0.4
    assert scores["pooled"]["dominance"]["n"] == 35
    by = {r["group"]: r for r in scores["per_speaker"]}
    assert np.isnan(by["c"]["arousal"])  # one utterance: no CCC, and out of the spread
    assert scores["speaker_spread"]["arousal"]["speakers"] == 2
    assert scores["speaker_spread"]["arousal"]["min"] == min(by["a"]["arousal"], by["b"]["arousal"])
    assert dimension_scores(_table(0, dims, np.full((40, 3), np.nan), speakers)) is None


def test_dimension_weight_needs_rated_utterances(tmp_path):
    utts = [Utterance(f"03a01F{k}", f"/x/{k}.wav", "emodb03", 1, "M", "neu", 1.0, "emodb") for k in "ab"]
    write_manifest(tmp_path / "emodb.csv", utts)
    with pytest.raises(TrainingError, match="no utterance of emodb is rated"):
        read_utterances(TrainConfig(manifest=str(tmp_path / "emodb.csv"), label_map="emodb-4", dimension_weight=1))
    with pytest.raises(TrainingError, match="monitor val_ccc needs dimension_weight"):
        TrainConfig(corpus_root="/x", monitor="val_ccc")


@pytest.mark.slow
def test_a_short_run_learns_the_dimensions_of_held_out_speakers(synth_root, tmp_path):
    """Baseline GRU on fbank, session fold 0, 12 epochs, dimension_weight 1. Measured (2-core
    CPU, seeds 0, 1, 2): test CCC arousal 0.74, 0.57, 0.67; valence 0.63, 0.54, 0.42; UA
    0.66, 0.63, 0.56. The synthetic corpus rates each emotion around its own (V, A, D)."""
    config = TrainConfig(
        corpus_root=str(synth_root), upstream="fbank", cache_dir=str(tmp_path / "cache"), output_dir=str(tmp_path),
        model="baseline", hidden_size=16, num_gru_layers=1, epochs=12, lr=3e-3, warmup_epochs=1, restart_epochs=0,
        early_stopping_patience=0, folds=(0,), progress=False, dimension_weight=1.0,
    )
    with contextlib.redirect_stdout(open(os.devnull, "w")):
        exp = run_crossval(config, argv=["test"])
        report = evaluate(exp, out=tmp_path / "eval", n_boot=50, max_attention_examples=0, progress=False,
                          conditions="gain:0,noise:0")
    header = (exp / "metrics" / "fold_0.csv").read_text().splitlines()[0]
    assert header.endswith("val_ccc,val_ccc_arousal,val_ccc_valence,val_ccc_dominance")
    assert "pred_arousal" in (exp / "predictions" / "fold_0.csv").read_text().splitlines()[0]
    scores = report.results["models"]["enhanced"]["dimensions"]
    assert scores["pooled"]["arousal"]["n"] == 30
    summary = json.loads((exp / "summary.json").read_text())  # training's own summary agrees
    assert summary["pooled_ccc"]["arousal"] == pytest.approx(scores["pooled"]["arousal"]["ccc"], abs=1e-4)
    from sier.evaluation.experiments_table import experiment_table, table_markdown, table_rows_csv

    table = experiment_table([exp])  # and so does sier summarize
    assert table["rows"][0]["mean"]["ccc_valence"] == pytest.approx(scores["pooled"]["valence"]["ccc"], abs=1e-4)
    assert "CCC dominance x 100" in table_markdown(table) and "ccc_arousal_mean" in table_rows_csv(table)[0]
    assert scores["pooled"]["arousal"]["ccc"] >= 0.35, scores["pooled"]  # chance: 0
    assert "## Emotion dimensions" in Path(report.report_path).read_text()
    rows = (tmp_path / "eval" / "dimensions.csv").read_text().splitlines()
    assert rows[0] == "model,scope,group,n,arousal,valence,dominance"
    scopes = [row.split(",")[1] for row in rows[1:]]  # pooled, then the two test speakers, their genders, ...
    assert scopes[:5] == ["pooled", "speaker", "speaker", "gender", "gender"] and "session" in scopes
    assert json.loads((tmp_path / "eval" / "evaluation.json").read_text())["models"]["enhanced"]["dimensions"]
    conditions = report.results["models"]["enhanced"]["conditions"]  # robustness of the dimensions too
    assert conditions["clean"]["ccc_arousal"] == pytest.approx(scores["pooled"]["arousal"]["ccc"])
    assert conditions["gain:0"]["ccc_arousal"] == pytest.approx(conditions["clean"]["ccc_arousal"], abs=1e-6)
    assert conditions["noise:0"]["ccc_arousal"] != pytest.approx(conditions["clean"]["ccc_arousal"], abs=1e-3)
    assert "ccc_dominance" in (tmp_path / "eval" / "conditions.csv").read_text().splitlines()[0]


def test_predict_stream_and_ensembles_report_the_dimensions(tmp_path, capsys):
    from inference_fixtures import make_checkpoint, speechlike, write_wav
    from sier.cli import main
    from sier.inference.recognizer import Recognizer, load_recognizer
    from sier.inference.stream import StreamConfig, StreamingRecognizer, iter_chunks

    exp = tmp_path / "exp"
    paths = [make_checkpoint(exp / "models" / f"best_model_fold_{k}.pth", seed=k, model={"num_dimensions": 3})
             for k in (0, 1)]
    audio = speechlike(1.5, seed=4)
    single = [Recognizer.from_checkpoint(p).predict(audio).dimensions for p in paths]
    assert list(single[0]) == ["arousal", "valence", "dominance"] and single[0] != single[1]
    got = load_recognizer(exp).predict(audio)
    for d in single[0]:
        assert got.dimensions[d] == pytest.approx((single[0][d] + single[1][d]) / 2, abs=1e-5)
    assert got.to_dict()["dimensions"].keys() == single[0].keys()
    plain = Recognizer.from_checkpoint(make_checkpoint(tmp_path / "plain.pth")).predict(audio)
    assert plain.dimensions is None and "dimensions" not in plain.to_dict()

    wav = write_wav(tmp_path / "a.wav", audio)
    assert main(["predict", "--model", str(paths[0]), str(wav), "--format", "csv"]) == 0
    header = capsys.readouterr().out.splitlines()[0]
    assert header.endswith("p_sad,arousal,valence,dominance")
    stream = StreamingRecognizer(Recognizer.from_checkpoint(paths[0]), StreamConfig(window_s=1.0, hop_s=0.5))
    steps = [s for chunk in iter_chunks(audio) for s in stream.push(chunk)]
    assert steps and all(set(s.to_dict()["dimensions"]) == set(single[0]) for s in steps)
    assert " A=" in steps[0].line()


def test_the_report_compares_the_dimensions_of_two_models(tmp_path):
    from sier.evaluation.report import ModelRun, write_report

    rng = np.random.default_rng(2)
    n = 60
    rated = rng.uniform(0, 1, (n, 3))
    speakers = [f"s{i % 4}" for i in range(n)]
    labels = np.array(["neu", "ang"])[rng.integers(0, 2, n)]
    probs = np.where((labels == "neu")[:, None], [0.8, 0.2], [0.3, 0.7])

    def run(name: str, noise: float) -> ModelRun:
        table = make_predictions(("neu", "ang"), [f"u{i}" for i in range(n)], speakers, [1] * n, ["F"] * n, labels,
                                 probs, dims=rated + rng.normal(0, noise, (n, 3)), rated=rated)
        return ModelRun(name, table)

    with contextlib.redirect_stdout(open(os.devnull, "w")):
        report = write_report([run("original", 0.5), run("enhanced", 0.05)], tmp_path, max_attention_examples=0,
                              n_boot=50)
    rows = {r["quantity"]: r for r in report.results["comparison"]["rows"]}
    assert rows["CCC x 100 arousal (pooled)"]["better"] == "enhanced"  # less noise, closer to the ratings
    assert rows["CCC x 100 arousal (pooled)"]["delta"] > 0.3
    assert "per-speaker CCC x 100 dominance std" in rows
    text = Path(report.report_path).read_text()
    assert "| original | arousal |" in text and "| enhanced | arousal |" in text


def test_onnx_exports_carry_the_dimensions(tmp_path):
    from inference_fixtures import make_checkpoint, speechlike
    from sier.inference.export import export_model
    from sier.inference.recognizer import Recognizer

    ckpt = make_checkpoint(tmp_path / "dims.pth", model={"num_dimensions": 3})
    result = export_model(ckpt, tmp_path / "dims.onnx")
    assert result.parity.dimensions_max_abs_diff is not None and result.parity.dimensions_max_abs_diff < 1e-4
    assert "max |dimension diff|" in result.parity.summary()
    audio = speechlike(1.2, seed=3)
    torch_pred = Recognizer.from_checkpoint(ckpt).predict(audio)
    onnx_pred = Recognizer.from_checkpoint(ckpt, runtime="onnx", onnx_path=result.onnx_path).predict(audio)
    for d, v in torch_pred.dimensions.items():
        assert onnx_pred.dimensions[d] == pytest.approx(v, abs=1e-4)
    plain = export_model(make_checkpoint(tmp_path / "plain.pth"), tmp_path / "plain.onnx")
    assert plain.parity.dimensions_max_abs_diff is None
    assert Recognizer.from_checkpoint(tmp_path / "plain.pth", runtime="onnx",
                                      onnx_path=plain.onnx_path).predict(audio).dimensions is None

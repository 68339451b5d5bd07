"""`sier train --task dimensions`: a model of arousal, valence and dominance only. No class
is learned, predicted or reported; it trains and is selected on the CCC of every rated
utterance."""

from __future__ import annotations

import contextlib
import csv
import json
import os

import pytest
import torch

from sier.errors import TrainingError
from sier.evaluation.predictions import read_predictions_csv
from sier.training.config import TrainConfig


def test_task_dimensions_resolves_what_it_implies_and_refuses_what_needs_classes():
    config = TrainConfig(corpus_root="/x", task="dimensions")
    assert (config.all_rated, config.dimension_weight, config.monitor) == (True, 1.0, "val_ccc")
    assert TrainConfig(corpus_root="/x", task="dimensions", dimension_weight=0.5).dimension_weight == 0.5
    assert TrainConfig(corpus_root="/x").monitor == "val_ua"  # the classes' default is unchanged
    assert TrainConfig.from_dict(config.to_dict()) == config  # the resolved config reads back the same
    with pytest.raises(TrainingError, match="task dimensions selects the model on val_ccc"):
        TrainConfig(corpus_root="/x", task="dimensions", monitor="val_ua")
    with pytest.raises(TrainingError, match="task dimensions has no class probabilities to calibrate"):
        TrainConfig(corpus_root="/x", task="dimensions", calibrate=True)
    with pytest.raises(TrainingError, match="task dimensions cannot distil"):
        TrainConfig(corpus_root="/x", task="dimensions", teacher="/t")
    with pytest.raises(TrainingError, match=r"task must be one of \('classes', 'dimensions'\)"):
        TrainConfig(corpus_root="/x", task="regression")


def test_task_dimensions_has_no_class_loss_and_no_class_metric():
    from sier.models import ModelConfig, build_model
    from sier.models.pipeline import SERModel
    from sier.training.module import SERModule

    model = SERModel(build_model(ModelConfig(kind="baseline", input_dim=4, num_classes=4, num_dimensions=3)))
    module = SERModule(model, TrainConfig(corpus_root="/x", task="dimensions"), 4)
    logits = torch.randn(4, 4, generator=torch.Generator().manual_seed(0))
    assert module._class_loss(logits, torch.tensor([0, 1, 2, 3])) is None
    batch = {"features": torch.randn(2, 5, 4), "lengths": torch.tensor([5, 3]), "labels": torch.tensor([0, 1]),
             "dimensions": torch.tensor([[0.2, 0.5, 0.5], [0.8, 0.5, 0.5]])}
    module.validation_step(batch, 0)
    scores = module._class_scores()
    assert set(scores) == {"val_loss", "val_wa", "val_ua", "val_f1"}
    assert all(torch.isnan(v) for v in scores.values())
    assert module.val_dim_pred.update_count == 1  # the dimensions are scored


@pytest.mark.slow
def test_a_run_of_the_dimensions_only_learns_arousal_writes_no_class_and_is_reported_on_its_ccc(synth_root, tmp_path):
    """Baseline GRU on fbank, session fold 0, 12 epochs, task dimensions: every rated utterance
    of the fold's test speakers (32 of the synthetic corpus, "fru" included). The synthetic
    corpus rates arousal (and, through the class, valence and dominance) in line with what it
    makes audible. Measured (2-core CPU, seeds 0-4), pooled test CCC arousal / valence /
    dominance: 0.53/0.65/0.52, 0.73/0.51/0.58, 0.51/0.02/0.43, 0.70/0.63/0.55, 0.60/0.52/0.54.
    Then the enhanced model (adversarial) the same way, and the report of both."""
    from sier.evaluation.run import evaluate
    from sier.models import load_checkpoint
    from sier.training.crossval import run_crossval
    from sier.training.layout import best_model_path

    config = TrainConfig(
        corpus_root=str(synth_root), upstream="fbank", cache_dir=str(tmp_path / "cache"), output_dir=str(tmp_path),
        model="baseline", hidden_size=16, num_gru_layers=1, epochs=12, lr=3e-3, warmup_epochs=1, restart_epochs=0,
        early_stopping_patience=0, folds=(0,), progress=False, task="dimensions", name="base",
    )
    with contextlib.redirect_stdout(open(os.devnull, "w")):
        exp = run_crossval(config, argv=["test"])
        enhanced = run_crossval(config.override(model="enhanced", num_heads=2, speaker_adversarial=True, name="enh"),
                                argv=["test"])
        report = evaluate(enhanced, exp, out=tmp_path / "eval", n_boot=200, max_attention_examples=1, progress=False)
    with (exp / "predictions" / "fold_0.csv").open() as fh:
        reader = csv.DictReader(fh)
        columns, rows = reader.fieldnames, list(reader)
    assert "pred" not in columns and not any(c.startswith("prob_") for c in columns)
    assert len(rows) == 32 and all(r["rated_arousal"] for r in rows)
    assert load_checkpoint(best_model_path(exp, 0)).dimensions_only
    table = read_predictions_csv(exp / "predictions" / "fold_0.csv")
    assert table.dimensions_only and table.dims.shape == (32, 3)
    summary = json.loads((exp / "summary.json").read_text())
    assert summary["task"] == "dimensions" and summary["n"] == 32 and "pooled" not in summary
    assert summary["folds"][0]["ccc"] == summary["pooled_ccc"]  # one fold: the same utterances
    assert summary["pooled_ccc"]["arousal"] >= 0.35, summary["pooled_ccc"]  # chance: 0
    metrics = (exp / "metrics" / "fold_0.csv").read_text().splitlines()
    assert "val_ccc" in metrics[0] and metrics[1].split(",")[6] == "nan"  # val_ua: no class is scored

    results = report.results
    assert results["task"] == "dimensions"
    original = results["models"]["original"]["dimensions"]
    assert original["pooled"]["arousal"]["n"] == 32
    assert original["pooled"]["arousal"]["ccc"] == pytest.approx(summary["pooled_ccc"]["arousal"], abs=1e-4)
    interval = original["interval"]["arousal"]
    assert interval["ci_low"] <= original["pooled"]["arousal"]["ccc"] <= interval["ci_high"]
    assert {r["group"] for r in original["per_speaker"]} == {"Ses01F", "Ses01M"}
    assert [r["dimension"] for r in results["comparison"]["rows"]] == ["arousal", "valence", "dominance"]
    text = report.report_path.read_text()
    for heading in ("# Speaker-independence evaluation: emotion dimensions", "## Original vs enhanced",
                    "**Per speaker**", "**Per gender**", "## Speaker probe", "## Training curves"):
        assert heading in text
    assert " UA" not in text and "macro-F1" not in text  # no class score anywhere
    assert (report.out_dir / "dimensions.csv").is_file() and (report.out_dir / "figures" / "per_speaker_ccc.png").is_file()

    from sier.evaluation.experiments_table import experiment_table, table_markdown

    table = experiment_table([exp, enhanced])
    assert "model" in table["columns"]  # the variants differ in the model (and its settings)
    by_model = {r["model"]: r for r in table["rows"]}
    assert by_model["baseline"]["mean"]["ccc_arousal"] == pytest.approx(summary["pooled_ccc"]["arousal"], abs=1e-4)
    assert "ua" not in by_model["baseline"]["mean"] and by_model["baseline"]["n"] == 32
    assert "CCC arousal" in table_markdown(table)


def _dims_table(n: int = 60, speakers: int = 6, seed: int = 0, noise: float = 0.1, classes=()):
    import numpy as np

    from sier.evaluation.predictions import make_predictions

    rng = np.random.default_rng(seed)
    rated = rng.uniform(0, 1, (n, 3))
    dims = np.clip(rated + noise * rng.standard_normal((n, 3)), 0, 1)
    probs = rng.dirichlet(np.ones(len(classes)), n) if classes else np.zeros((n, 0))
    return make_predictions(classes, [f"u{i}" for i in range(n)], [f"s{i % speakers}" for i in range(n)], [1] * n,
                            ["F" if i % 2 else "M" for i in range(n)], ["neu"] * n, probs, dims=dims, rated=rated)


def test_the_ccc_from_sums_is_sier_concordance_and_its_bootstrap_brackets_it():
    import numpy as np

    from sier.evaluation.dimensional import _speaker_sums, bootstrap_ccc, ccc_from_sums
    from sier.training.metrics import concordance

    table = _dims_table()
    sums = _speaker_sums(table, 0, sorted(set(table.speaker.tolist())))
    expected = float(concordance(torch.as_tensor(table.dims[:, 0]), torch.as_tensor(table.rated[:, 0])))
    assert float(ccc_from_sums(sums.sum(0))) == pytest.approx(expected, abs=1e-6)  # concordance: float32
    interval = bootstrap_ccc(table, n_boot=300)["arousal"]
    assert interval["ci_low"] < interval["ccc"] < interval["ci_high"]
    assert np.isnan(ccc_from_sums(np.array([1.0, 0.5, 0.5, 0.25, 0.25, 0.25])))  # one value: no CCC


def test_a_paired_comparison_of_the_same_predictions_finds_no_difference_and_a_better_one_is_seen():
    from sier.evaluation.dimensional import compare_dimensions

    same = compare_dimensions(_dims_table(), _dims_table(), n_boot=200)
    assert all(r["delta"] == 0 and r["ci_low"] == 0 == r["ci_high"] for r in same["rows"])
    better = compare_dimensions(_dims_table(noise=0.4), _dims_table(noise=0.05), n_boot=200)
    assert all(r["delta"] > 0.2 and r["ci_low"] > 0 and r["p_value"] < 0.01 for r in better["rows"]), better["rows"]


def test_a_model_without_dimensions_cannot_be_set_against_one_of_the_dimensions_only(tmp_path):
    import numpy as np

    from sier.errors import EvaluationError
    from sier.evaluation.predictions import make_predictions
    from sier.evaluation.report import ModelRun, write_report

    classifier = make_predictions(("neu", "ang"), ["u0", "u1"], ["s0", "s1"], [1, 1], ["F", "M"], ["neu", "ang"],
                                  np.eye(2))
    runs = [ModelRun("original", classifier), ModelRun("enhanced", _dims_table())]
    with pytest.raises(EvaluationError, match="the original model .* predicts no dimensions"):
        write_report(runs, tmp_path, max_attention_examples=0, n_boot=20)


def test_a_predictions_file_of_the_dimensions_only_reads_without_pred_and_prob_columns(tmp_path):
    from sier.errors import EvaluationError

    path = tmp_path / "fold_2.csv"
    path.write_text("id,speaker,session,gender,label,pred_arousal,pred_valence,pred_dominance,"
                    "rated_arousal,rated_valence,rated_dominance\nu0,s0,1,F,xxx,0.1,0.2,0.3,0.2,,0.4\n")
    table = read_predictions_csv(path)
    assert table.dimensions_only and table.fold.tolist() == [2] and table.pred.tolist() == [""]
    assert table.dims.tolist() == [[0.1, 0.2, 0.3]] and table.labelled_mask().tolist() == [False]
    path.write_text("id,speaker,session,gender,label\nu0,s0,1,F,neu\n")
    with pytest.raises(EvaluationError, match="not a sier predictions table"):
        read_predictions_csv(path)

"""The report's "Upstream layers" section: the softmax weights a layer-weighted model learned
over the frozen upstream's hidden states, read from each fold's checkpoint."""

from __future__ import annotations

import contextlib
import csv
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from sier.evaluation.layers import checkpoint_layer_weights, layer_weight_summary
from sier.models import ModelConfig, build_model
from tiny_models import save_tiny


@pytest.mark.parametrize("kind", ["baseline", "enhanced"])
def test_the_weights_are_the_softmax_of_the_models_parameter(kind):
    model = build_model(ModelConfig(kind=kind, input_dim=8, num_classes=4, input_layers=3))
    with torch.no_grad():
        model.layer_sum.weights.copy_(torch.tensor([0.0, 1.0, 2.0]))
    weights = checkpoint_layer_weights(model.state_dict())
    expected = np.exp([0.0, 1.0, 2.0]) / np.exp([0.0, 1.0, 2.0]).sum()
    np.testing.assert_allclose(weights, expected, rtol=1e-6)
    one_layer = build_model(ModelConfig(kind=kind, input_dim=8, num_classes=4))
    assert checkpoint_layer_weights(one_layer.state_dict()) is None


def test_the_summary_gives_mean_spread_top_and_centre_over_folds():
    summary = layer_weight_summary({1: np.array([0.1, 0.2, 0.7]), 0: np.array([0.3, 0.2, 0.5])})
    assert list(summary["folds"]) == [0, 1]
    np.testing.assert_allclose(summary["mean"], [0.2, 0.2, 0.6])
    np.testing.assert_allclose(summary["std"], [0.1, 0.0, 0.1])
    assert summary["top"] == 2 and summary["centre"] == pytest.approx(0.2 * 0 + 0.2 * 1 + 0.6 * 2)


@pytest.mark.slow
def test_a_layer_weighted_run_reports_its_layer_weights(synth_root, tmp_path):
    """A baseline GRU on the 5 hidden states of a tiny random HuBERT, two folds, 3 epochs: the
    report's weights are each fold checkpoint's softmax, and training moved them off uniform."""
    from sier.evaluation.run import evaluate
    from sier.models.checkpoint import load_checkpoint
    from sier.training.config import TrainConfig
    from sier.training.crossval import run_crossval

    upstream = save_tiny(tmp_path / "tiny-hubert", "hubert", num_layers=4)
    config = TrainConfig(corpus_root=str(synth_root), upstream=str(upstream), layer_weighted=True, model="baseline",
                         hidden_size=8, num_gru_layers=1, epochs=3, lr=3e-2, folds=(0, 1), progress=False,
                         cache_dir=str(tmp_path / "cache"), output_dir=str(tmp_path / "exp"))
    with contextlib.redirect_stdout(open(os.devnull, "w")):
        exp = run_crossval(config, argv=["test"])
        report = evaluate(exp, out=tmp_path / "eval", n_boot=20, max_attention_examples=0, progress=False)
    summary = report.results["models"]["enhanced"]["layer_weights"]
    for fold in (0, 1):
        ckpt = load_checkpoint(exp / "models" / f"best_model_fold_{fold}.pth")
        np.testing.assert_allclose(summary["folds"][fold], checkpoint_layer_weights(ckpt.state_dict), rtol=1e-6)
        assert len(summary["folds"][fold]) == 5 and sum(summary["folds"][fold]) == pytest.approx(1.0)
    assert np.abs(np.array(summary["mean"]) - 0.2).max() > 1e-3  # learned, not the uniform start
    text = Path(report.report_path).read_text()
    assert "## Upstream layers (layer-weighted models)" in text and "figures/layer_weights.png" in text
    with (tmp_path / "eval" / "layer_weights.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["row"] for r in rows] == ["fold 0", "fold 1", "mean", "std"]
    assert float(rows[2]["layer_4"]) == pytest.approx(summary["mean"][4])

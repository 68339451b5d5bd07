"""Temperature scaling: fitted on each fold's validation speakers after training, stored in the
checkpoint, applied wherever the checkpoint is used (test predictions, evaluation, inference,
ONNX); the argmax never changes."""

from __future__ import annotations

import contextlib
import csv
import os

import numpy as np
import pytest
import torch

from sier.evaluation.calibration import raw_probabilities
from sier.evaluation.predictions import make_predictions
from sier.models import ModelConfig, build_model
from sier.models.pipeline import SERModel
from sier.training.calibrate import fit_temperature, nll


def test_the_fitted_temperature_undoes_an_overconfident_scale():
    gen = torch.Generator().manual_seed(0)
    honest = torch.randn(6000, 4, generator=gen) * 1.5
    labels = torch.multinomial(honest.softmax(-1), 1, generator=gen).squeeze(1)  # the labels follow softmax(honest)
    temperature = fit_temperature(3.0 * honest, labels)
    assert temperature == pytest.approx(3.0, rel=0.08)
    assert nll(3.0 * honest, labels, temperature) < nll(3.0 * honest, labels, 1.0)


def test_the_model_divides_its_emotion_logits_and_the_raw_softmax_comes_back():
    torch.manual_seed(0)
    model = SERModel(build_model(ModelConfig(kind="baseline", input_dim=6, num_classes=4, hidden_size=8))).eval()
    features, lengths = torch.randn(5, 12, 6), torch.tensor([12, 9, 7, 12, 3])
    with torch.no_grad():
        raw = model(features, lengths)["emotion_logits"]
        model.temperature = 2.5
        scaled = model(features, lengths)["emotion_logits"]
    torch.testing.assert_close(scaled, raw / 2.5)
    assert torch.equal(scaled.argmax(-1), raw.argmax(-1))
    table = make_predictions(("a", "b", "c", "d"), list("vwxyz"), ["s"] * 5, [1] * 5, ["F"] * 5, ["a"] * 5,
                             scaled.softmax(-1).numpy(), fold=3)
    np.testing.assert_allclose(raw_probabilities(table, {3: 2.5}), raw.softmax(-1).numpy(), atol=1e-6)


def test_an_onnx_export_carries_the_temperature(tmp_path):
    from sier.inference.export import classifier_parity, export_classifier, onnx_session

    torch.manual_seed(0)
    model = SERModel(build_model(ModelConfig(input_dim=16, num_classes=4, hidden_size=8, num_heads=2))).eval()
    model.temperature = 0.5
    report = classifier_parity(model, onnx_session(export_classifier(model, 16, tmp_path / "t.onnx")), 16)
    assert report.max_abs_diff < 1e-4 and report.agreement == 1.0, report.summary()


@pytest.mark.slow
@pytest.mark.parametrize("calibrate", [True, False])
def test_training_fits_a_temperature_on_the_validation_speakers(synth_root, tmp_path, calibrate):
    from sier.models.pipeline import load_ser_model
    from sier.training.config import TrainConfig
    from sier.training.crossval import run_crossval
    from sier.training.data import UtteranceDataset, run_model
    from sier.training.experiment import open_experiment

    config = TrainConfig(corpus_root=str(synth_root), upstream="fbank", model="baseline", hidden_size=8,
                         num_gru_layers=1, epochs=3, lr=3e-3, folds=(0,), progress=False, calibrate=calibrate,
                         cache_dir=str(tmp_path / "cache"), output_dir=str(tmp_path))
    with contextlib.redirect_stdout(open(os.devnull, "w")):
        exp_dir = run_crossval(config, argv=["test"])
    model, ckpt = load_ser_model(exp_dir / "models" / "best_model_fold_0.pth")
    if not calibrate:
        assert "temperature" not in ckpt.meta and model.temperature == 1.0
        return
    exp = open_experiment(exp_dir)
    fold = exp.folds[0]
    assert ckpt.meta["calibration"]["n"] == len(fold.val)  # every validation utterance has a class here
    assert ckpt.meta["calibration"]["nll"] <= ckpt.meta["calibration"]["nll_raw"] + 1e-9
    assert model.temperature == ckpt.meta["temperature"] != 1.0
    # the test predictions are the softmax of the raw logits over that temperature
    from sier.features import FeatureConfig, extract_features

    by_id = {u.id: u for u in exp.utterances}
    test = [by_id[i] for i in fold.test]
    store = extract_features(test, FeatureConfig(upstream="fbank"), str(tmp_path / "cache"), False)
    model.temperature = 1.0
    raw = torch.cat([out["emotion_logits"] for _, out in run_model(model, UtteranceDataset(test, store, exp.classes), 8)])
    with (exp_dir / "predictions" / "fold_0.csv").open() as fh:
        written = np.array([[float(r[f"prob_{c}"]) for c in exp.classes] for r in csv.DictReader(fh)])
    np.testing.assert_allclose(written, (raw / ckpt.meta["temperature"]).softmax(-1).numpy(), atol=2e-6)

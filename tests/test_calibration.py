"""Calibration of the class probabilities: ECE, MCE, Brier, NLL and per-speaker ECE, and the
report's section."""

from __future__ import annotations

import contextlib
import csv
import os
from pathlib import Path

import numpy as np
import pytest

from sier.evaluation.calibration import calibration, expected_calibration_error
from sier.evaluation.predictions import make_predictions

CLASSES = ("neu", "ang")


def _table(confidence: np.ndarray, correct: np.ndarray, speakers=None):
    """Two classes: the predicted one ("neu") has probability `confidence`; the label is it where `correct`."""
    n = len(confidence)
    probs = np.stack([confidence, 1 - confidence], axis=1)
    labels = np.where(correct, "neu", "ang")
    return make_predictions(CLASSES, [f"u{i}" for i in range(n)], speakers if speakers is not None else ["s"] * n,
                            [1] * n, ["F"] * n, labels, probs)


def test_ece_by_hand():
    confidence = np.array([0.95, 0.95, 0.65, 0.65])
    correct = np.array([1.0, 0.0, 1.0, 1.0])
    # bin (0.9, 1]: accuracy 0.5, confidence 0.95; bin (0.6, 0.7]: accuracy 1, confidence 0.65
    assert expected_calibration_error(confidence, correct) == pytest.approx(0.5 * 0.45 + 0.5 * 0.35)
    assert np.isnan(expected_calibration_error(np.array([]), np.array([])))


def test_a_calibrated_model_scores_near_zero_and_an_overconfident_one_does_not():
    rng = np.random.default_rng(0)
    confidence = rng.uniform(0.5, 1.0, 20000)
    honest = calibration(_table(confidence, rng.random(20000) < confidence))
    assert honest["ece"] < 0.02 and honest["mce"] < 0.05
    assert honest["mean_confidence"] == pytest.approx(honest["accuracy"], abs=0.01)
    proud = calibration(_table(confidence, rng.random(20000) < confidence - 0.3))
    assert proud["ece"] == pytest.approx(0.3, abs=0.02)
    assert proud["nll"] > honest["nll"] and proud["brier"] > honest["brier"]


def test_brier_and_nll_of_sure_predictions():
    right = calibration(_table(np.array([1.0, 1.0]), np.array([True, True])))
    assert right["brier"] == 0 and right["nll"] == pytest.approx(0, abs=1e-9) and right["ece"] == 0
    wrong = calibration(_table(np.array([1.0, 1.0]), np.array([False, False])))
    assert wrong["brier"] == pytest.approx(2.0) and wrong["ece"] == pytest.approx(1.0)
    assert np.isfinite(wrong["nll"])  # a zero probability of the label: floored, not infinite


def test_per_speaker_ece_finds_the_speaker_the_model_is_overconfident_on():
    confidence = np.full(8, 0.9)
    correct = np.array([1, 1, 1, 1, 1, 0, 0, 0], dtype=bool)
    result = calibration(_table(confidence, correct, speakers=["a"] * 4 + ["b"] * 4))
    assert result["per_speaker"]["a"] == pytest.approx(0.1)
    assert result["per_speaker"]["b"] == pytest.approx(0.65)  # accuracy 0.25 at confidence 0.9
    assert result["speaker_ece"]["worst"] == "b" and result["speaker_ece"]["std"] == pytest.approx(0.275)


def test_the_report_has_a_calibration_section(tmp_path):
    from sier.evaluation.report import ModelRun, write_report

    rng = np.random.default_rng(1)
    confidence = rng.uniform(0.5, 1.0, 80)
    table = _table(confidence, rng.random(80) < confidence, speakers=[f"s{i % 4}" for i in range(80)])
    with contextlib.redirect_stdout(open(os.devnull, "w")):
        report = write_report([ModelRun("enhanced", table)], tmp_path, max_attention_examples=0, n_boot=20)
    result = report.results["models"]["enhanced"]["calibration"]
    assert result["n"] == 80
    text = Path(report.report_path).read_text()
    assert "## Calibration of the probabilities" in text and "figures/reliability.png" in text
    with (tmp_path / "calibration.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert sum(int(r["n"]) for r in rows) == 80 and {r["model"] for r in rows} == {"enhanced"}

"""ONNX export: fp32 parity with PyTorch at several lengths and batch sizes, int8 agreement,
the whole model with a tiny random HuBERT upstream, and the CLI."""

from __future__ import annotations

import numpy as np
import pytest

from inference_fixtures import make_checkpoint, speechlike

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")


@pytest.fixture(scope="module")
def tiny_upstream(tmp_path_factory):
    from tiny_models import save_tiny

    return save_tiny(tmp_path_factory.mktemp("tiny") / "hubert")


@pytest.mark.parametrize("kind", ["enhanced", "baseline"])
def test_classifier_parity_fp32_and_int8(kind, tmp_path):
    from sier.inference.export import export_model

    ckpt = make_checkpoint(tmp_path / "m.pth", kind=kind)
    result = export_model(ckpt, tmp_path / "m.onnx", quantize="int8")
    assert result.kind == "classifier"
    assert {(c["batch"], c["length"]) for c in result.parity.cases} >= {(1, 50), (3, 301)}
    assert result.parity.max_abs_diff < 1e-4 and result.parity.agreement == 1.0
    assert result.int8_path.is_file()
    print(f"{kind} int8: {result.int8_parity.summary()}")
    assert result.int8_parity.agreement >= 0.9


def test_whole_model_with_tiny_hubert(tiny_upstream, tmp_path):
    from sier.inference.export import export_model
    from sier.inference.recognizer import Recognizer

    ckpt = make_checkpoint(tmp_path / "h.pth", upstream=str(tiny_upstream), input_dim=64)
    result = export_model(ckpt, tmp_path / "h.onnx", whole=True, quantize="int8")
    assert result.kind == "whole"
    assert result.parity.max_abs_diff < 1e-4 and result.parity.agreement == 1.0
    print(f"whole int8: {result.int8_parity.summary()}")
    assert result.int8_parity.agreement >= 0.9
    # the Recognizer with the whole graph matches the PyTorch path (FrozenPrefix, one utterance)
    torch_rec = Recognizer.from_checkpoint(ckpt)
    onnx_rec = Recognizer.from_checkpoint(ckpt, "onnx", result.onnx_path)
    assert onnx_rec.onnx_kind == "whole"
    for seconds in (0.7, 2.3):
        audio = speechlike(seconds, seed=int(seconds * 10))
        assert np.abs(torch_rec.logits(audio) - onnx_rec.logits(audio)).max() < 1e-4


def test_export_cli_and_fbank_whole_note(tmp_path, capsys):
    from sier.cli import main

    ckpt = make_checkpoint(tmp_path / "f.pth")
    assert main(["export", "--model", str(ckpt), "--format", "onnx", "--whole", "--out", str(tmp_path / "f.onnx")]) == 0
    out = capsys.readouterr().out
    assert "classifier graph" in out and "fbank front-end" in out and "argmax agreement 100.0 %" in out
    assert main(["export", "--model", str(tmp_path / "nope.pth"), "--out", str(tmp_path / "x.onnx")]) == 1

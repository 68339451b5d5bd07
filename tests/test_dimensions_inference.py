"""A model of the dimensions only (`sier train --task dimensions`) in use: predict, stream, serve
and export give its arousal, valence and dominance, and never a label of its untrained class head."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest

from inference_fixtures import make_checkpoint, speechlike, write_wav

DIMS_ONLY = {"model": {"num_dimensions": 3}, "meta": {"task": "dimensions"}}


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("dims") / "d.pth", **DIMS_ONLY)


def _model_dimensions(rec, audio: np.ndarray) -> np.ndarray:
    """The model's own dimension output for `audio`, read past the Recognizer."""
    import torch

    feats = rec.features(audio)
    with torch.inference_mode():
        return rec.model(feats[None], torch.tensor([feats.shape[0]]))["dimensions"][0].numpy()


def test_a_prediction_carries_the_dimensions_and_no_class(ckpt):
    from sier.errors import InferenceError
    from sier.inference.recognizer import Recognizer

    rec = Recognizer.from_checkpoint(ckpt)
    assert rec.dimensions_only and rec.classes == [] and rec.describe()["task"] == "dimensions"
    audio = speechlike(1.4, seed=2)
    pred = rec.predict(audio)
    assert pred.label is None and pred.probs == {} and pred.confidence is None
    assert list(pred.dimensions.values()) == pytest.approx(_model_dimensions(rec, audio).tolist(), abs=1e-6)
    assert set(pred.to_dict()) == {"duration_s", "dimensions"}
    with pytest.raises(InferenceError, match="no class logits"):
        rec.logits(audio)
    classifier = Recognizer.from_checkpoint(make_checkpoint(ckpt.with_name("c.pth"), model={"num_dimensions": 3}))
    assert classifier.describe()["task"] == "classes" and classifier.predict(audio).label in classifier.classes


def test_predict_writes_dimension_columns_only(ckpt, tmp_path, capsys):
    from sier.cli import main

    wav = write_wav(tmp_path / "a.wav", speechlike(1.2, seed=1))
    assert main(["predict", "--model", str(ckpt), str(wav), "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "file,segment,start_s,end_s,arousal,valence,dominance" and len(lines) == 2
    assert main(["predict", "--model", str(ckpt), str(wav), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["classes"] == [] and "label" not in report["predictions"][0]
    assert set(report["predictions"][0]["dimensions"]) == {"arousal", "valence", "dominance"}
    assert main(["predict", "--model", str(ckpt), str(wav)]) == 0
    table = capsys.readouterr().out
    assert "arousal" in table and "label" not in table and "None" not in table


def test_streaming_smooths_the_dimensions(ckpt):
    from sier.inference.recognizer import Recognizer
    from sier.inference.stream import StreamConfig, stream_waveform

    rec = Recognizer.from_checkpoint(ckpt)
    audio = np.concatenate([speechlike(2.0, f0=110, seed=3), speechlike(2.0, f0=260, seed=4)])
    raw = list(stream_waveform(rec, audio, StreamConfig(window_s=1.0, hop_s=0.5, smoothing="none")))
    ema = list(stream_waveform(rec, audio, StreamConfig(window_s=1.0, hop_s=0.5, smoothing="ema", ema_alpha=0.4)))
    assert len(raw) == len(ema) == 8
    for r in raw:  # unsmoothed: the window's own dimensions
        window = audio[int(r.start_s * 16000) : int(r.end_s * 16000)]
        assert list(r.dimensions.values()) == pytest.approx(list(rec.predict(window).dimensions.values()), abs=1e-5)
    raws = np.array([list(r.dimensions.values()) for r in raw])
    assert np.ptp(raws, axis=0).max() > 1e-3  # the windows differ, so smoothing has something to do
    expected = raws[0]
    for r, e in zip(raws[1:], ema[1:]):
        expected = 0.4 * r + 0.6 * expected
        assert list(e.dimensions.values()) == pytest.approx(expected.tolist(), abs=1e-5)
        assert list(e.raw_dimensions.values()) == pytest.approx(r.tolist(), abs=1e-6)
    step = ema[2].to_dict()
    assert "label" not in step and "probs" not in step and set(step["raw_dimensions"]) == set(step["dimensions"])
    line = ema[2].line()
    assert " A=" in line and "None" not in line


def test_majority_smoothing_averages_the_dimensions_and_still_votes_labels():
    from inference_fixtures import CLASSES
    from sier.inference.stream import Smoother, StreamConfig

    smoother = Smoother([], StreamConfig(smoothing="majority", majority_k=2))
    outs = [smoother.update(np.zeros(0), np.array(d)) for d in ([0.2, 0.4, 0.6], [0.4, 0.4, 0.2], [1.0, 0.0, 0.0])]
    assert all(label is None and probs.size == 0 for label, probs, _ in outs)
    assert outs[1][2].tolist() == pytest.approx([0.3, 0.4, 0.4]) and outs[2][2].tolist() == pytest.approx([0.7, 0.2, 0.1])
    voter = Smoother(CLASSES, StreamConfig(smoothing="majority", majority_k=3))
    p = lambda i: np.eye(4)[i] * 0.7 + 0.075  # noqa: E731
    labels = [voter.update(p(i), np.full(3, i / 4))[0] for i in (0, 0, 1, 1)]
    assert labels == ["neu", "neu", "neu", "hap"]


def test_export_has_the_dimensions_output_alone_and_runs_in_onnx(ckpt, tmp_path):
    from sier.errors import InferenceError
    from sier.inference.export import export_model, onnx_session
    from sier.inference.recognizer import Recognizer

    result = export_model(ckpt, tmp_path / "d.onnx", quantize="int8")
    assert [o.name for o in onnx_session(result.onnx_path).get_outputs()] == ["dimensions"]
    assert result.parity.max_abs_diff is None and result.parity.dimensions_max_abs_diff < 1e-4
    assert "logit" not in result.parity.summary() and "dimension diff" in result.parity.summary()
    assert result.int8_parity.dimensions_max_abs_diff < 0.05
    audio = speechlike(1.3, seed=5)
    torch_dims = Recognizer.from_checkpoint(ckpt).predict(audio).dimensions
    onnx_pred = Recognizer.from_checkpoint(ckpt, runtime="onnx", onnx_path=result.onnx_path).predict(audio)
    assert onnx_pred.label is None
    assert list(onnx_pred.dimensions.values()) == pytest.approx(list(torch_dims.values()), abs=1e-4)
    classifier = make_checkpoint(tmp_path / "c.pth", model={"num_dimensions": 3})
    with pytest.raises(InferenceError, match="not those of this checkpoint"):
        Recognizer.from_checkpoint(classifier, runtime="onnx", onnx_path=result.onnx_path)
    classifier_onnx = export_model(classifier, tmp_path / "c.onnx", check=False).onnx_path
    with pytest.raises(InferenceError, match="not those of this checkpoint"):
        Recognizer.from_checkpoint(ckpt, runtime="onnx", onnx_path=classifier_onnx)


def test_the_whole_graph_of_a_hubert_model_of_the_dimensions_only(tmp_path):
    from sier.inference.export import export_model
    from sier.inference.recognizer import Recognizer
    from tiny_models import save_tiny

    upstream = save_tiny(tmp_path / "hubert")
    ckpt = make_checkpoint(tmp_path / "h.pth", upstream=str(upstream), input_dim=64, **DIMS_ONLY)
    result = export_model(ckpt, tmp_path / "h.onnx", whole=True)
    assert result.kind == "whole" and result.parity.dimensions_max_abs_diff < 1e-4
    audio = speechlike(0.9, seed=6)
    torch_dims = Recognizer.from_checkpoint(ckpt).predict(audio).dimensions
    onnx_dims = Recognizer.from_checkpoint(ckpt, "onnx", result.onnx_path).predict(audio).dimensions
    assert list(onnx_dims.values()) == pytest.approx(list(torch_dims.values()), abs=1e-4)


def test_an_ensemble_averages_models_of_the_dimensions_only_and_refuses_a_mix(tmp_path):
    from sier.errors import InferenceError
    from sier.inference.recognizer import Recognizer, ensemble_recognizer

    paths = [make_checkpoint(tmp_path / f"d{k}.pth", seed=k, **DIMS_ONLY) for k in (0, 1)]
    audio = speechlike(1.1, seed=7)
    single = [np.array(list(Recognizer.from_checkpoint(p).predict(audio).dimensions.values())) for p in paths]
    mean = ensemble_recognizer(paths).predict(audio)
    assert mean.label is None and list(mean.dimensions.values()) == pytest.approx(((single[0] + single[1]) / 2).tolist(),
                                                                                   abs=1e-5)
    classifier = make_checkpoint(tmp_path / "c.pth", model={"num_dimensions": 3})
    with pytest.raises(InferenceError, match="an ensemble needs models of one task"):
        ensemble_recognizer([paths[0], classifier])


def test_the_server_answers_with_the_dimensions(ckpt):
    import httpx

    from sier.inference.recognizer import Recognizer
    from sier.inference.server import create_app
    from test_server import Running, _wav_bytes, stream_session

    audio = speechlike(2.6, seed=8)
    with Running(create_app(Recognizer.from_checkpoint(ckpt))) as host:
        health = httpx.get(f"http://{host}/health", timeout=10).json()
        answer = httpx.post(f"http://{host}/predict", files={"file": ("a.wav", _wav_bytes(audio), "audio/wav")},
                            timeout=30)
        docs = httpx.get(f"http://{host}/openapi.json", timeout=10).json()
        pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()
        msgs = asyncio.run(stream_session(host, [pcm[i : i + 6400] for i in range(0, len(pcm), 6400)] + ["end"],
                                          "window_s=1&hop_s=1&smoothing=ema"))
    assert health["model"]["task"] == "dimensions" and health["model"]["classes"] == []
    assert answer.status_code == 200 and "label" not in answer.json()
    assert set(answer.json()["dimensions"]) == {"arousal", "valence", "dominance"}
    assert "no class" in docs["info"]["description"]
    steps = [m for m in msgs if m["type"] == "step"]
    assert [s["end_s"] for s in steps] == [1.0, 2.0, 2.6] and msgs[-1] == {"type": "end", "steps": 3}
    assert all("label" not in s and set(s["dimensions"]) == {"arousal", "valence", "dominance"} for s in steps)

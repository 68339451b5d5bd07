"""Predicting files and folders, VAD segmentation, output formats, and the ONNX runtime path."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from inference_fixtures import CLASSES, make_checkpoint, recording_with_pauses, speechlike, write_wav


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("pred") / "m.pth")


@pytest.fixture(scope="module")
def audio_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("audio")
    write_wav(d / "a.wav", speechlike(1.2, seed=1))
    write_wav(d / "sub" / "b.flac", speechlike(2.0, 200, seed=2))
    (d / "broken.wav").write_bytes(b"RIFF....not a wav at all")
    write_wav(d / "tiny.wav", np.zeros(100, np.float32))
    (d / "notes.txt").write_text("not audio")
    return d


def _near(found, truth, tol):
    return all(abs(a - b) <= tol for seg, ref in zip(found, truth) for a, b in zip(seg, ref))


def test_energy_vad_exact_times():
    from sier.inference.vad import VadConfig, segment_speech

    audio, truth = recording_with_pauses()
    result = segment_speech(audio, VadConfig(method="energy", pad_s=0.0))
    assert result.method == "energy"
    assert len(result.segments) == len(truth) and _near(result.segments, truth, 0.08)
    # max_segment_s cuts the 3 s segment into two equal halves
    cut = segment_speech(audio, VadConfig(method="energy", pad_s=0.0, max_segment_s=2.5)).segments
    assert len(cut) == 4 and cut[2][1] == pytest.approx(cut[3][0])


def test_silero_vad_finds_speechlike_bursts():
    """silero-vad detects the synthetic vowels of at least two bursts (not all three: it is
    a speech model and the synthesis is crude); every segment it reports lies on a burst."""
    pytest.importorskip("silero_vad")
    import torch

    from sier.inference.vad import VadConfig, segment_speech

    threads = torch.get_num_threads()
    audio, truth = recording_with_pauses()
    result = segment_speech(audio, VadConfig(method="silero", pad_s=0.0))
    assert torch.get_num_threads() == threads  # the silero import does not change it
    assert result.method == "silero" and len(result.segments) >= 2
    for start, end in result.segments:
        assert any(a - 0.2 <= start and end <= b + 0.2 for a, b in truth), (start, end)


def test_vad_falls_back_to_energy(monkeypatch):
    from sier.inference import vad

    def missing(*a, **k):
        raise ImportError("no silero")

    monkeypatch.setattr(vad, "silero_segments", missing)
    audio, truth = recording_with_pauses()
    result = vad.segment_speech(audio, vad.VadConfig(method="silero"))
    assert result.method == "energy" and "silero-vad is not installed" in result.notes[0]
    assert len(result.segments) == 3


def test_predict_files_folder_and_formats(ckpt, audio_dir, tmp_path, capsys):
    from sier.cli import main

    long_path = write_wav(tmp_path / "long.wav", recording_with_pauses()[0])
    out = tmp_path / "p.json"
    code = main(["predict", "--model", str(ckpt), str(audio_dir), str(long_path), str(tmp_path / "missing.wav"),
                 "--format", "json", "--vad", "energy", "--max_segment_s", "5", "--out", str(out)])
    assert code == 0
    data = json.loads(out.read_text())
    rows = data["predictions"]
    files = [r["file"] for r in rows]
    assert files.count(str(long_path)) == 3  # three speech segments of the 12 s recording
    assert sum(f.endswith(("a.wav", "b.flac")) for f in files) == 2
    segs = [(r["start_s"], r["end_s"]) for r in rows if r["file"] == str(long_path)]
    assert _near(segs, [(1.0, 3.0), (4.5, 6.0), (8.0, 11.0)], 0.15)
    assert all(r["label"] in CLASSES and abs(sum(r["probs"].values()) - 1) < 1e-3 for r in rows)
    skipped = " ".join(s["reason"] for s in data["skipped"])
    assert "broken.wav" in skipped and "tiny.wav" in skipped and "missing.wav" in skipped
    assert data["vad"] == ["energy", "whole"]
    assert "skipped" in capsys.readouterr().err

    main(["predict", "--model", str(ckpt), str(audio_dir), "--format", "csv"])
    table = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(table) == 2 and set(table[0]) >= {"file", "start_s", "end_s", "label"} | {f"p_{c}" for c in CLASSES}

    main(["predict", "--model", str(ckpt), str(audio_dir / "a.wav")])
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split()[:5] == ["file", "segment", "start_s", "end_s", "label"] and len(lines) == 2

    assert main(["predict", "--model", str(ckpt), str(audio_dir / "broken.wav")]) == 1  # nothing usable


def test_predict_onnx_runtime_matches_torch(ckpt, audio_dir, tmp_path):
    pytest.importorskip("onnxruntime")
    from sier.cli import main
    from sier.inference.predict import predict_paths
    from sier.inference.recognizer import Recognizer

    onnx_path = tmp_path / "m.onnx"
    assert main(["export", "--model", str(ckpt), "--out", str(onnx_path), "--no_check"]) == 0
    torch_rows = predict_paths(Recognizer.from_checkpoint(ckpt), [audio_dir]).rows
    onnx_rows = predict_paths(Recognizer.from_checkpoint(ckpt, "onnx", onnx_path), [audio_dir]).rows
    assert [r["label"] for r in torch_rows] == [r["label"] for r in onnx_rows]
    for a, b in zip(torch_rows, onnx_rows):
        assert max(abs(a["probs"][c] - b["probs"][c]) for c in CLASSES) < 1e-3
    out = tmp_path / "o.csv"
    assert main(["predict", "--model", str(ckpt), "--runtime", "onnx", "--onnx", str(onnx_path),
                 str(audio_dir / "a.wav"), "--format", "csv", "--out", str(out)]) == 0
    assert out.read_text().count("\n") == 2
    assert main(["predict", "--model", str(ckpt), "--runtime", "onnx", str(audio_dir / "a.wav")]) == 1


def test_an_experiment_directory_predicts_with_the_mean_of_its_fold_models(tmp_path, audio_dir, capsys):
    """Three fold checkpoints of different weights: the ensemble's probabilities are the mean of
    theirs, the front-end runs once, and what cannot be averaged is refused by name."""
    from sier.cli import main
    from sier.inference.recognizer import Recognizer, load_recognizer

    exp = tmp_path / "exp"
    paths = [make_checkpoint(exp / "models" / f"best_model_fold_{k}.pth", seed=k) for k in (0, 2, 10)]
    audio = speechlike(1.5, seed=4)
    single = [Recognizer.from_checkpoint(p).predict(audio).probs for p in paths]
    assert single[0] != single[1]  # different weights, different answers
    ensemble = load_recognizer(exp)
    got = ensemble.predict(audio).probs
    for c in CLASSES:
        assert got[c] == pytest.approx(np.mean([s[c] for s in single]), abs=1e-5)
    assert ensemble.describe()["ensemble"] == 3 and ensemble.describe()["checkpoint"] == [str(p) for p in paths]

    assert main(["predict", "--model", str(exp), str(audio_dir / "a.wav"), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["predictions"][0]["label"] in CLASSES
    assert main(["predict", "--model", str(exp), "--runtime", "onnx", str(audio_dir / "a.wav")]) == 1
    assert "runs on PyTorch only" in capsys.readouterr().err
    assert main(["predict", "--model", str(tmp_path), str(audio_dir / "a.wav")]) == 1
    assert "no models/best_model_fold_<k>.pth" in capsys.readouterr().err
    make_checkpoint(exp / "models" / "best_model_fold_11.pth", seed=5, dtype="bfloat16")
    assert main(["predict", "--model", str(exp), str(audio_dir / "a.wav")]) == 1
    assert "best_model_fold_11.pth: its features (upstream, layers, speaker normalisation) differ" in capsys.readouterr().err

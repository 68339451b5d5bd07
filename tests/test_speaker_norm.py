"""Per-speaker feature normalisation: the statistics, a run that uses them, an evaluation
that applies them exactly as training did, and the places that must refuse it."""

from __future__ import annotations

import contextlib
import csv
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from sier.corpora.records import Utterance, write_manifest
from sier.errors import FeatureError, InferenceError, TrainingError
from sier.evaluation.run import evaluate
from sier.features.speaker_norm import SpeakerNormalizedStore
from sier.training.config import TrainConfig
from sier.training.crossval import run_crossval


class DictStore:
    def __init__(self, features: dict[str, torch.Tensor]) -> None:
        self.features = features
        first = next(iter(features.values()))
        self.dim, self.num_layers = first.shape[-1], (first.shape[0] if first.dim() == 3 else 1)

    def has(self, utt_id: str) -> bool:
        return utt_id in self.features

    def load(self, utt_id: str) -> torch.Tensor:
        return self.features[utt_id].clone()


def _utt(utt_id: str, speaker: str) -> Utterance:
    return Utterance(utt_id, f"/x/{utt_id}.wav", speaker, 1, "F", "neu", 1.0, "t")


@pytest.mark.parametrize("layers", [0, 3])
def test_each_speaker_is_standardised_over_all_their_frames(layers):
    gen = torch.Generator().manual_seed(0)
    shape = (lambda t: (layers, t, 5)) if layers else (lambda t: (t, 5))
    features = {f"a{i}": 3.0 + 2.0 * torch.randn(shape(7 + i), generator=gen) for i in range(3)}
    features |= {f"b{i}": -1.0 + 0.5 * torch.randn(shape(4 + i), generator=gen) for i in range(2)}
    utts = [_utt(u, u[0]) for u in features] + [_utt("gone", "a")]  # "gone" has no features: left out
    store = SpeakerNormalizedStore(DictStore(features), utts)
    for speaker, ids in (("a", ["a0", "a1", "a2"]), ("b", ["b0", "b1"])):
        frames = torch.cat([store.load(u) for u in ids], dim=-2)
        assert torch.allclose(frames.mean(dim=-2), torch.zeros(1), atol=1e-5)
        assert torch.allclose(frames.std(dim=-2, unbiased=False), torch.ones(1), atol=1e-3)
    # one utterance's result depends on its speaker's statistics only, not on the other speaker
    alone = SpeakerNormalizedStore(DictStore({k: v for k, v in features.items() if k[0] == "a"}), utts)
    assert torch.equal(alone.load("a1"), store.load("a1"))
    assert not store.has("gone") and store.dim == 5
    with pytest.raises(FeatureError, match="no speaker statistics"):
        store.load("gone")


def _config(manifest: Path, tmp_path: Path, **changes) -> TrainConfig:
    base = dict(manifest=str(manifest), upstream="fbank", cache_dir=str(tmp_path / "cache"), output_dir=str(tmp_path),
                model="baseline", hidden_size=4, num_gru_layers=1, epochs=2, batch_size=8, lr=3e-3,
                warmup_epochs=0.5, restart_epochs=1, folds=(0,), max_train_s=0.6, progress=False,
                speaker_norm=True)
    return TrainConfig(**{**base, **changes})


@pytest.fixture(scope="module")
def manifest(synth_manifest, tmp_path_factory) -> Path:
    seen: dict[str, int] = {}
    kept = []
    for u in synth_manifest.utterances:
        if seen.get(u.speaker, 0) < 8:
            seen[u.speaker] = seen.get(u.speaker, 0) + 1
            kept.append(u)
    path = tmp_path_factory.mktemp("manifest") / "small.csv"
    write_manifest(path, kept)
    return path


@pytest.fixture(scope="module")
def trained(manifest, tmp_path_factory) -> Path:
    """One fold of the baseline trained with --speaker_norm."""
    with contextlib.redirect_stdout(open(os.devnull, "w")):
        return run_crossval(_config(manifest, tmp_path_factory.mktemp("trained")), argv=["test"])


def test_evaluation_normalises_as_training_did(trained, tmp_path):
    exp = trained
    with contextlib.redirect_stdout(open(os.devnull, "w")):
        report = evaluate(exp, out=tmp_path / "eval", n_boot=20, max_attention_examples=0, progress=False)
    with (exp / "predictions" / "fold_0.csv").open(newline="") as fh:
        trained = {r["id"]: [float(r[k]) for k in r if k.startswith("prob_")] for r in csv.DictReader(fh)}
    from sier.evaluation.predictions import read_predictions_csv

    assert report.results["models"]["enhanced"]["metrics"]["pooled"]["n"] == len(trained)
    table = read_predictions_csv(tmp_path / "eval" / "predictions_enhanced.csv")
    for uid, probs in zip(table.ids, table.probs):
        np.testing.assert_allclose(probs, trained[uid], atol=2e-6)


def test_enrolment_gives_the_training_normalisation_to_inference(trained, manifest, tmp_path, capsys):
    """Enrolled on all of a speaker's utterances, the recogniser's features of one of them are
    what training fed the model; without the statistics inference refuses, and says how."""
    from sier.audio import load_audio
    from sier.cli import main
    from sier.corpora.records import read_manifest
    from sier.features import FeatureConfig, extract_features
    from sier.inference.recognizer import Recognizer

    checkpoint = trained / "models" / "best_model_fold_0.pth"
    utts = read_manifest(trained / "manifest.csv")
    speaker = [u for u in utts if u.speaker == "Ses01F"]
    stats = tmp_path / "ses01f.json"
    assert main(["enroll", "--model", str(checkpoint), *(u.path for u in speaker), "--out", str(stats)]) == 0
    rec = Recognizer.from_checkpoint(checkpoint, speaker_stats=stats)
    store = SpeakerNormalizedStore(extract_features(utts, FeatureConfig(upstream="fbank"), str(tmp_path / "c"), False),
                                   utts)
    got, cached = rec.features(load_audio(speaker[3].path)), store.load(speaker[3].id)
    # the cache holds float16 (about 3 decimal digits), inference computes float32: equal to that precision
    torch.testing.assert_close(got, cached, atol=1e-2, rtol=0)
    raw = store.store.load(speaker[3].id)  # not close by chance: the raw features are far from both
    assert (got - raw).abs().max() > 1.0

    capsys.readouterr()
    assert main(["predict", "--model", str(checkpoint), speaker[0].path]) == 1
    assert "sier enroll --model" in capsys.readouterr().err
    assert main(["predict", "--model", str(checkpoint), "--speaker_stats", str(stats), speaker[0].path,
                 "--format", "json"]) == 0
    assert '"label"' in capsys.readouterr().out
    with pytest.raises(InferenceError, match="export it|sier enroll"):
        from sier.inference.export import export_model

        export_model(checkpoint, tmp_path / "m.onnx")


def test_evaluation_without_the_normalisation_would_differ(manifest, tmp_path):
    """The check above can fail: the same checkpoint on raw features gives other probabilities
    (for the baseline; the enhanced model's AdaIN would undo a per-speaker affine map)."""
    from sier.evaluation.predictions import read_predictions_csv
    from sier.models import load_checkpoint, save_checkpoint
    from sier.models.pipeline import load_ser_model

    with contextlib.redirect_stdout(open(os.devnull, "w")):
        exp = run_crossval(_config(manifest, tmp_path, name="norm"), argv=["test"])
        path = exp / "models" / "best_model_fold_0.pth"
        model, ckpt = load_ser_model(path)
        save_checkpoint(path, model.head, ckpt.model_config, {**load_checkpoint(path).meta, "speaker_norm": False})
        evaluate(exp, out=tmp_path / "raw", n_boot=20, max_attention_examples=0, progress=False)
    with (exp / "predictions" / "fold_0.csv").open(newline="") as fh:
        trained = {r["id"]: [float(r[k]) for k in r if k.startswith("prob_")] for r in csv.DictReader(fh)}
    table = read_predictions_csv(tmp_path / "raw" / "predictions_enhanced.csv")
    assert max(np.abs(p - trained[u]).max() for u, p in zip(table.ids, table.probs)) > 1e-3


def test_adain_makes_the_speaker_normalisation_a_no_op(manifest, tmp_path, caplog):
    """AdaIN standardises every utterance per channel, which undoes any per-channel affine map
    such as a speaker's standardisation: the run warns, and its predictions equal a run without."""
    with contextlib.redirect_stdout(open(os.devnull, "w")):
        runs = [run_crossval(_config(manifest, tmp_path, name=f"adain{flag}", model="enhanced", num_heads=2,
                                     speaker_norm=flag), argv=["test"]) for flag in (True, False)]
    assert "changes nothing with AdaIN" in caplog.text
    probs = []
    for exp in runs:
        with (exp / "predictions" / "fold_0.csv").open(newline="") as fh:
            probs.append(np.array([[float(r[k]) for k in r if k.startswith("prob_")] for r in csv.DictReader(fh)]))
    np.testing.assert_allclose(probs[0], probs[1], atol=1e-4)


def test_a_trainable_upstream_top_is_refused(manifest, tmp_path):
    from tiny_models import save_tiny

    folder = save_tiny(tmp_path / "tiny", num_layers=2)
    with pytest.raises(TrainingError, match="use it with a frozen upstream"):
        run_crossval(_config(manifest, tmp_path, upstream=str(folder), freeze_layers=1))


def test_speaker_statistics_only_for_the_model_they_fit(trained, tmp_path):
    from inference_fixtures import make_checkpoint, speechlike, write_wav
    from sier.inference.enroll import enroll
    from sier.inference.recognizer import Recognizer

    checkpoint = trained / "models" / "best_model_fold_0.pth"
    wav = write_wav(tmp_path / "me.wav", speechlike(1.5))
    stats = enroll(checkpoint, [wav])
    assert stats.files == 1 and stats.frames > 0 and stats.mean.shape == (80,)
    stats.save(tmp_path / "me.json")
    plain = make_checkpoint(tmp_path / "plain.pth")
    with pytest.raises(InferenceError, match="not trained with --speaker_norm; it needs no enrolment"):
        enroll(plain, [wav])
    with pytest.raises(InferenceError, match="not trained with --speaker_norm, so it takes no speaker statistics"):
        Recognizer.from_checkpoint(plain, speaker_stats=tmp_path / "me.json")
    other = stats.__class__(stats.mean, stats.std, {**stats.feature_config, "n_mels": 64}, stats.frames, stats.files)
    other.save(tmp_path / "other.json")
    with pytest.raises(InferenceError, match="computed for other features"):
        Recognizer.from_checkpoint(checkpoint, speaker_stats=tmp_path / "other.json")
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(InferenceError, match="not a file written by `sier enroll`"):
        Recognizer.from_checkpoint(checkpoint, speaker_stats=tmp_path / "bad.json")

"""Upstream split (frozen prefix + trainable top), loading, preprocessing and fbank."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from torch import nn

from sier.constants import SAMPLE_RATE
from sier.dropout import Dropout
from sier.errors import FeatureError
from sier.features import (
    FbankFrontend,
    FeatureConfig,
    Preprocessing,
    build_top,
    compute_features,
    feature_dim,
    frames_per_second,
    load_upstream,
    num_cached_layers,
    split_upstream,
)
from tiny_models import save_tiny, tiny_model

L = 3  # layers of the tiny models


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def _reference(model, wave):
    with torch.no_grad():
        return model(wave, output_hidden_states=True)


@pytest.mark.parametrize(
    ("model_type", "stable"),
    [("hubert", False), ("hubert", True), ("wavlm", False), ("wavlm", True), ("wav2vec2", False),
     ("wav2vec2", True), ("data2vec-audio", None)],  # data2vec-audio has no stable-layer-norm variant
)
@pytest.mark.parametrize("freeze", [0, 1, L])
def test_top_of_prefix_equals_full_model(model_type, stable, freeze):
    model = tiny_model(model_type, L, **({} if stable is None else {"do_stable_layer_norm": stable}))
    wave = torch.randn(1, 12_000, generator=torch.Generator().manual_seed(1))
    ref = _reference(model, wave)
    prefix, top = split_upstream(model, FeatureConfig(upstream="tiny", freeze_layers=freeze), Preprocessing(False))
    hidden = prefix(wave)
    if freeze == L:
        assert top is None
        torch.testing.assert_close(hidden, ref.last_hidden_state[0], atol=1e-5, rtol=1e-5)
        return
    torch.testing.assert_close(hidden, ref.hidden_states[freeze][0], atol=1e-5, rtol=1e-5)
    with torch.no_grad():
        out = top(hidden[None], torch.tensor([hidden.shape[0]]))
    torch.testing.assert_close(out[0], ref.last_hidden_state[0], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    ("model_type", "stable"),
    [("hubert", False), ("hubert", True), ("wavlm", False), ("wavlm", True), ("wav2vec2", True),
     ("data2vec-audio", None)],
)
@pytest.mark.parametrize("cfg", [dict(freeze_layers=1), dict(), dict(layer=1), dict(layer_weighted=True)],
                         ids=["prefix", "last", "layer", "all"])
def test_prefix_on_a_batch_equals_one_utterance_at_a_time(model_type, stable, cfg):
    model = tiny_model(model_type, L, **({} if stable is None else {"do_stable_layer_norm": stable}))
    prefix, _ = split_upstream(model, FeatureConfig(upstream="tiny", **cfg), Preprocessing(True))
    gen = torch.Generator().manual_seed(2)
    waves = [torch.randn(1, n, generator=gen) * s for n, s in ((9_000, 1.0), (16_000, 0.1), (4_000, 3.0))]
    with torch.no_grad():
        batched = prefix.forward_batch(waves)
        alone = [prefix(w) for w in waves]
    assert [b.shape for b in batched] == [a.shape for a in alone]
    assert alone[1].shape[-2] > alone[0].shape[-2]  # the others are padded in the batch
    for b, a in zip(batched, alone):
        torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("model_type", ["hubert", "wav2vec2", "data2vec-audio"])
def test_fully_frozen_layer_selection(model_type):
    model = tiny_model(model_type, L)
    wave = torch.randn(1, 8_000)
    ref = _reference(model, wave)
    prefix, _ = split_upstream(model, FeatureConfig(upstream="tiny", layer=1), Preprocessing(False))
    torch.testing.assert_close(prefix(wave), ref.hidden_states[1][0], atol=1e-5, rtol=1e-5)
    prefix, _ = split_upstream(model, FeatureConfig(upstream="tiny", layer_weighted=True), Preprocessing(False))
    torch.testing.assert_close(prefix(wave), torch.cat(ref.hidden_states), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("model_type", ["hubert", "wavlm", "data2vec-audio"])
def test_top_is_padding_correct(model_type):
    model = tiny_model(model_type, L)
    prefix, top = split_upstream(model, FeatureConfig(upstream="tiny", freeze_layers=1), Preprocessing(False))
    a, b = prefix(torch.randn(1, 16_000)), prefix(torch.randn(1, 9_000))
    batch = torch.zeros(2, a.shape[0], a.shape[1])
    batch[0], batch[1, : b.shape[0]] = a, b
    batch[1, b.shape[0]:] = 123.0  # garbage in the padding must not leak into valid frames
    with torch.no_grad():
        out = top(batch, torch.tensor([a.shape[0], b.shape[0]]))
        alone = top(b[None], torch.tensor([b.shape[0]]))
    torch.testing.assert_close(out[1, : b.shape[0]], alone[0], atol=1e-5, rtol=1e-5)
    assert torch.all(out[1, b.shape[0]:] == 0)


@pytest.mark.parametrize(
    ("model_type", "stable", "attention"),
    [(t, s, a) for t, s in (("hubert", False), ("hubert", True), ("wav2vec2", False), ("wav2vec2", True),
                            ("data2vec-audio", None)) for a in ("sdpa", "eager")] + [("wavlm", False, "own")],
)
def test_top_on_a_padded_batch_trains_as_on_each_utterance_alone(model_type, stable, attention):
    """Outputs and every gradient (weights and input) of a padded batch equal the sums over
    the utterances run alone; HuBERT, wav2vec 2.0 and data2vec-audio tops run the batch packed."""
    extra = {} if stable is None else {"do_stable_layer_norm": stable}
    if attention != "own":
        extra["attn_implementation"] = attention
    model = tiny_model(model_type, L, **extra)
    _, top = split_upstream(model, FeatureConfig(upstream="tiny", freeze_layers=1), Preprocessing(False))
    gen = torch.Generator().manual_seed(3)
    lengths = [20, 7, 13]
    utts = [torch.randn(n, 64, generator=gen) for n in lengths]
    weights = [torch.randn(n, 64, generator=gen) for n in lengths]
    seen = []
    top.layers[0].register_forward_pre_hook(lambda module, args: seen.append(tuple(args[0].shape)))

    batch = torch.full((3, 20, 64), 123.0)  # garbage in the padding must not leak anywhere
    for i, u in enumerate(utts):
        batch[i, : u.shape[0]] = u
    batch.requires_grad_(True)
    out = top(batch, torch.tensor(lengths))
    sum((out[i, :n] * w).sum() for i, (n, w) in enumerate(zip(lengths, weights))).backward()
    batched_grads = [p.grad.clone() for p in top.parameters()]
    assert seen[0] == ((1, sum(lengths), 64) if top.packs else (3, 20, 64))
    assert top.packs == (model_type != "wavlm")

    top.zero_grad()
    for i, (u, w) in enumerate(zip(utts, weights)):
        alone_in = u[None].clone().requires_grad_(True)
        alone = top(alone_in, torch.tensor([u.shape[0]]))
        (alone[0] * w).sum().backward()
        torch.testing.assert_close(out[i, : u.shape[0]], alone[0], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(batch.grad[i, : u.shape[0]], alone_in.grad[0], atol=1e-5, rtol=1e-5)
        assert torch.all(out[i, u.shape[0]:] == 0) and torch.all(batch.grad[i, u.shape[0]:] == 0)
    for p, b in zip(top.parameters(), batched_grads):
        torch.testing.assert_close(b, p.grad, atol=1e-5, rtol=1e-4)
    top.pack_frames = False  # the padded path, through the same attention function
    with torch.no_grad():
        torch.testing.assert_close(top(batch, torch.tensor(lengths)), out, atol=1e-5, rtol=1e-5)


def test_packed_top_unpickles_in_a_process_that_never_built_one():
    """DDP spawn pickles the model into fresh processes; the packed attention's name must be
    registered with transformers there too."""
    import pickle

    from transformers import AttentionInterface

    from sier.features.packing import PACKED_ATTENTION

    _, top = split_upstream(tiny_model("hubert", L), FeatureConfig(upstream="tiny", freeze_layers=1),
                            Preprocessing(False))
    data = pickle.dumps(top)
    del AttentionInterface._global_mapping[PACKED_ATTENTION]  # as in a fresh process
    hidden, lengths = torch.randn(2, 12, 64), torch.tensor([12, 5])
    with torch.no_grad():
        torch.testing.assert_close(pickle.loads(data)(hidden, lengths), top(hidden, lengths))


def test_top_dropouts_follow_the_finetune_recipe_or_the_upstream_config():
    from sier.features.upstream import TOP_DROPOUTS
    from sier.training.config import UPSTREAM_DROPOUTS

    assert sorted(UPSTREAM_DROPOUTS) == sorted(TOP_DROPOUTS)
    model = tiny_model("hubert", L, hidden_dropout=0.2, attention_dropout=0.3, activation_dropout=0.4)
    cfg = FeatureConfig(upstream="tiny", freeze_layers=1)
    _, tuned = split_upstream(model, cfg, Preprocessing(False))
    _, kept = split_upstream(model, cfg, Preprocessing(False), top_dropouts="pretrained")

    def drops(top):
        layer = top.layers[0]
        return (layer.dropout.p, layer.attention.dropout, layer.feed_forward.intermediate_dropout.p)

    assert drops(tuned) == (0.0, 0.0, 0.1)
    assert drops(kept) == (0.2, 0.3, 0.4)
    assert drops(build_top(tuned.spec())) == (0.0, 0.0, 0.1)  # a checkpoint rebuilds the same top
    # the top's dropout modules draw sier's cheaper CPU mask (same p)
    assert all(type(m) is Dropout for m in kept.modules() if isinstance(m, nn.Dropout))
    assert isinstance(kept.layers[0].feed_forward.intermediate_dropout, Dropout)
    with pytest.raises(FeatureError, match="unknown upstream dropouts"):
        split_upstream(model, cfg, Preprocessing(False), top_dropouts="none")


def test_build_top_from_spec_roundtrip():
    model = tiny_model("wavlm", L)
    _, top = split_upstream(model, FeatureConfig(upstream="tiny", freeze_layers=1), Preprocessing(False))
    import json

    rebuilt = build_top(json.loads(json.dumps(top.spec())))
    rebuilt.load_state_dict(top.state_dict())
    hidden = torch.randn(1, 20, 64)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt.eval()(hidden, torch.tensor([20])), top.eval()(hidden, torch.tensor([20])))


def test_local_folder_loads_and_respects_do_normalize(tmp_path):
    wave = (np.random.default_rng(0).standard_normal(16_000) * 0.05 + 0.3).astype(np.float32)
    outs = {}
    for norm in (False, True):
        folder = save_tiny(tmp_path / f"norm{norm}", "hubert", L, do_normalize=norm)
        model, prep = load_upstream(str(folder))
        assert prep.do_normalize is norm and not model.training
        prefix, _ = split_upstream(model, FeatureConfig(upstream=str(folder)))
        outs[norm] = compute_features(wave, prefix)
        normed = torch.from_numpy((wave - wave.mean()) / np.sqrt(wave.var() + 1e-7))[None]
        expected = _reference(model, normed if norm else torch.from_numpy(wave)[None]).last_hidden_state[0]
        torch.testing.assert_close(outs[norm], expected, atol=1e-4, rtol=1e-4)
    assert not torch.allclose(outs[False], outs[True])
    cfg = FeatureConfig(upstream=str(folder), layer_weighted=True)
    assert feature_dim(cfg) == 64 and num_cached_layers(cfg) == L + 1 and frames_per_second(cfg) == 50.0


def test_preprocessing_config_missing_or_wrong_rate(tmp_path, caplog):
    from transformers import Wav2Vec2FeatureExtractor

    folder = save_tiny(tmp_path / "d2v", "data2vec-audio", L, do_normalize=True)
    assert load_upstream(str(folder))[1].do_normalize is True
    (folder / "preprocessor_config.json").unlink()
    assert load_upstream(str(folder))[1].do_normalize is False and "do_normalize=False" in caplog.text
    Wav2Vec2FeatureExtractor(sampling_rate=8000).save_pretrained(folder)
    with pytest.raises(FeatureError, match="8000 Hz"):
        load_upstream(str(folder))


def test_hub_id_offline_fails_fast_and_clearly():
    start = time.perf_counter()
    with pytest.raises(FeatureError, match="download|local folder"):
        load_upstream("sier-test/no-such-model-anywhere")
    assert time.perf_counter() - start < 5


def test_missing_local_folder_and_bad_freeze(tmp_path):
    with pytest.raises(FeatureError, match="not found"):
        load_upstream(str(tmp_path / "nope"))
    with pytest.raises(FeatureError, match="only 3"):
        split_upstream(tiny_model("hubert", L), FeatureConfig(upstream="tiny", freeze_layers=5))
    with pytest.raises(FeatureError, match="whole upstream"):
        split_upstream(tiny_model("hubert", L), FeatureConfig(upstream="tiny", freeze_layers=1, layer=1))


def test_feature_config_roundtrip():
    cfg = FeatureConfig(upstream="fbank")
    assert FeatureConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(FeatureError):
        FeatureConfig(dtype="float64")


def test_fbank_shape_and_frame_rate():
    fbank = FbankFrontend()
    for seconds in (1.0, 3.3):
        samples = int(seconds * SAMPLE_RATE)
        out = fbank(torch.randn(1, samples))
        assert out.shape == (1 + (samples - 400) // 320, 80) and torch.isfinite(out).all()
    assert out.shape[0] == pytest.approx(3.3 * frames_per_second(FeatureConfig(upstream="fbank")), abs=1)
    # same frame count as HuBERT's conv stack for 1 s: 49
    hubert_frames = tiny_model("hubert", 1)(torch.randn(1, SAMPLE_RATE)).last_hidden_state.shape[1]
    assert fbank(torch.randn(1, SAMPLE_RATE)).shape[0] == hubert_frames
    t = torch.arange(SAMPLE_RATE) / SAMPLE_RATE
    peak = [int(fbank(torch.sin(2 * torch.pi * hz * t)[None]).mean(0).argmax()) for hz in (500, 1000, 4000)]
    assert peak == sorted(peak) and len(set(peak)) == 3

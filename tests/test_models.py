"""Models: config validation, the maths of each block, padding invariance, shapes, ONNX."""

from __future__ import annotations

import copy
import json
import warnings
from dataclasses import asdict

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from sier.errors import ModelError
from sier.models import BaselineGRU, EnhancedGRU, ModelConfig, build_model
from sier.models.layers import (
    AdaIN,
    GradientReversal,
    LayerWeightedSum,
    SelfAttentionBlock,
    bidirectional_gru,
    lengths_to_mask,
    masked_max,
    masked_mean,
    reverse_valid,
)

D = 12


def tiny(**overrides) -> ModelConfig:
    base = dict(input_dim=D, hidden_size=8, num_heads=4, speaker_hidden=8, dropout=0.1)
    overrides.setdefault("attention_dropout", overrides.get("dropout", base["dropout"]))
    return ModelConfig(**{**base, **overrides})


def batch(lengths: list[int], layers: int = 1, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    T = max(lengths)
    shape = (len(lengths), T, D) if layers == 1 else (len(lengths), layers, T, D)
    return torch.randn(shape, generator=g) * 2 + 1, torch.tensor(lengths)


CONFIGS = {
    "baseline": dict(kind="baseline"),
    "baseline_adv_layers": dict(kind="baseline", num_speakers=5, input_layers=3),
    "enhanced": dict(),
    "no_adain": dict(adain=False),
    "no_attention": dict(attention=False),
    "no_residual": dict(residual=False),
    "mean_attn": dict(pooling="mean_attn"),
    "layer_weighted": dict(input_layers=3),
    "adversarial": dict(num_speakers=5),
    "one_gru_layer": dict(num_gru_layers=1),
}


# ---------------------------------------------------------------- config


def test_config_defaults_are_valid_and_json_round_trip():
    cfg = ModelConfig()
    assert cfg.kind == "enhanced" and cfg.pooling == "mean_max" and cfg.num_heads == 8
    text = json.dumps(asdict(cfg))
    assert ModelConfig.from_dict(json.loads(text)) == cfg
    assert ModelConfig.from_dict({"kind": "baseline"}) == ModelConfig(kind="baseline")


@pytest.mark.parametrize(
    "overrides, needle",
    [
        (dict(kind="transformer"), "kind"),
        (dict(hidden_size=10, num_heads=8), "divisible by num_heads"),
        (dict(pooling="max"), "pooling"),
        (dict(dropout=1.0), "dropout"),
        (dict(attention_dropout=-0.1), "attention_dropout"),
        (dict(num_classes=1), "num_classes"),
        (dict(num_speakers=1), "num_speakers"),
        (dict(input_layers=0), "input_layers"),
        (dict(hidden_size="128"), "hidden_size must be int"),
        (dict(adain="yes"), "adain must be bool"),
        (dict(num_gru_layers=True), "num_gru_layers must be int"),
    ],
)
def test_config_rejects_bad_values(overrides, needle):
    with pytest.raises(ModelError, match=needle):
        ModelConfig(**overrides)


def test_config_heads_only_checked_where_used():
    ModelConfig(hidden_size=10, num_heads=8, attention=False)
    ModelConfig(kind="baseline", hidden_size=10, num_heads=8)


def test_config_from_dict_refuses_unknown_keys_and_keeps_types():
    with pytest.raises(ModelError, match="hiden_size"):
        ModelConfig.from_dict({"hiden_size": 64})
    cfg = ModelConfig.from_dict({"dropout": 0})
    assert cfg.dropout == 0.0 and isinstance(cfg.dropout, float)


def test_embedding_dim_matches_outputs():
    for name in ("baseline", "enhanced"):
        cfg = tiny(**CONFIGS[name])
        out = build_model(cfg).eval()(*batch([5, 3]))
        assert out["embedding"].shape == (2, cfg.embedding_dim)


def test_model_classes_check_kind():
    with pytest.raises(ModelError, match="kind='baseline'"):
        BaselineGRU(tiny())
    with pytest.raises(ModelError, match="kind='enhanced'"):
        EnhancedGRU(tiny(kind="baseline"))


# ---------------------------------------------------------------- blocks


def test_lengths_to_mask_and_masked_pooling():
    mask = lengths_to_mask(torch.tensor([3, 1]), 4)
    assert mask.tolist() == [[True, True, True, False], [True, False, False, False]]
    x = torch.tensor([[1.0, 2.0, 3.0, 100.0], [-5.0, 100.0, 100.0, 100.0]]).unsqueeze(-1)
    assert masked_mean(x, mask).squeeze(-1).tolist() == [2.0, -5.0]
    assert masked_max(x, mask).squeeze(-1).tolist() == [3.0, -5.0]


@settings(max_examples=15, deadline=None)
@given(alpha=st.floats(0.0, 10.0, allow_nan=False))
def test_gradient_reversal_scales_gradients_by_minus_alpha(alpha):
    torch.manual_seed(0)
    plain = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3))
    rev = copy.deepcopy(plain)
    reversal = GradientReversal()
    x = torch.randn(6, 4, requires_grad=True)
    x_rev = x.detach().clone().requires_grad_(True)

    y_plain = plain(x)
    y_rev = rev[2](reversal(rev[1](rev[0](x_rev)), alpha))
    torch.testing.assert_close(y_rev, y_plain)  # identity forward
    y_plain.pow(2).sum().backward()
    y_rev.pow(2).sum().backward()

    # after the reversal: same gradients; before it: -alpha times
    torch.testing.assert_close(rev[2].weight.grad, plain[2].weight.grad)
    torch.testing.assert_close(rev[0].weight.grad, -alpha * plain[0].weight.grad)
    torch.testing.assert_close(rev[0].bias.grad, -alpha * plain[0].bias.grad)
    torch.testing.assert_close(x_rev.grad, -alpha * x.grad)


def test_speaker_adversary_reverses_into_the_body():
    cfg = tiny(num_speakers=3, dropout=0.0)
    torch.manual_seed(0)
    model = build_model(cfg)
    x, lengths = batch([7, 5, 4])

    def grads(alpha):
        model.zero_grad()
        model(x, lengths, alpha=alpha)["speaker_logits"].sum().backward()
        return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    g1, g2, g0 = grads(1.0), grads(2.0), grads(0.0)
    for name in g1:
        if name.startswith("speaker_head."):
            torch.testing.assert_close(g2[name], g1[name])
        else:
            torch.testing.assert_close(g2[name], 2 * g1[name], rtol=1e-4, atol=1e-6)
            assert torch.count_nonzero(g0[name]) == 0
    assert any(g1[n].abs().sum() > 0 for n in g1 if n.startswith("gru_blocks."))


def test_adain_normalises_over_valid_frames_only():
    adain = AdaIN(D)
    x, lengths = batch([9, 4, 1])
    mask = lengths_to_mask(lengths, x.shape[1])
    y = adain.normalize(x, mask)
    for b, n in enumerate(lengths.tolist()):
        valid = y[b, :n]
        torch.testing.assert_close(valid.mean(0), torch.zeros(D), atol=1e-5, rtol=0)
        if n > 1:
            torch.testing.assert_close(valid.std(0, unbiased=False), torch.ones(D), atol=1e-3, rtol=0)
        assert torch.all(y[b, n:] == 0)
    junk = x.clone()
    junk[~mask] = 1e6
    torch.testing.assert_close(adain.normalize(junk, mask), y)


def test_adain_affine_is_per_channel():
    adain = AdaIN(D)
    with torch.no_grad():
        adain.gamma.copy_(torch.arange(1.0, D + 1))
        adain.beta.fill_(0.5)
    x, lengths = batch([6, 3])
    mask = lengths_to_mask(lengths, x.shape[1])
    expected = adain.normalize(x, mask) * adain.gamma + 0.5
    torch.testing.assert_close(adain(x, mask)[mask], expected[mask])


def test_adain_style_starts_as_plain_affine_and_reads_valid_statistics_only():
    x, lengths = batch([7, 3])
    mask = lengths_to_mask(lengths, x.shape[1])
    styled, plain = AdaIN(D, style_rank=4), AdaIN(D)
    torch.testing.assert_close(styled(x, mask), plain(x, mask))  # zero-initialised style path
    with torch.no_grad():
        styled.style[-1].weight.normal_()
    y = styled(x, mask)
    # the affine now follows each utterance's own statistics: scaling one utterance changes it
    louder = x.clone()
    louder[1] *= 3.0
    assert not torch.allclose(styled(louder, mask)[1, :3], y[1, :3])
    torch.testing.assert_close(styled(louder, mask)[0], y[0])
    junk = x.clone()
    junk[~mask] = 1e6
    torch.testing.assert_close(styled(junk, mask), y)
    assert torch.all(y[~mask] == 0)


def test_layer_weighted_sum_starts_as_mean_and_learns():
    lws = LayerWeightedSum(3)
    x = torch.randn(2, 3, 5, D)
    torch.testing.assert_close(lws(x), x.mean(dim=1))
    lws(x).sum().backward()
    assert lws.weights.grad is not None


def test_reverse_valid_flips_within_each_length_and_is_its_own_inverse():
    x = torch.arange(2 * 5, dtype=torch.float32).reshape(2, 5, 1)
    lengths = torch.tensor([5, 3])
    flipped = reverse_valid(x, lengths)
    assert flipped[0, :, 0].tolist() == [4, 3, 2, 1, 0]
    assert flipped[1, :, 0].tolist() == [7, 6, 5, 8, 9]  # padded frames 8, 9 stay put
    torch.testing.assert_close(reverse_valid(flipped, lengths), x)


@pytest.mark.parametrize("num_layers", [1, 2])
def test_bidirectional_gru_equals_the_packed_gru_with_gradients(num_layers):
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    torch.manual_seed(0)
    gru = nn.GRU(D, 6, num_layers=num_layers, batch_first=True, bidirectional=True)
    x, lengths = batch([9, 4, 1, 7])
    x.requires_grad_(True)
    packed, _ = gru(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
    ref, _ = pad_packed_sequence(packed, batch_first=True, total_length=9)
    got = bidirectional_gru(gru, x, lengths)
    torch.testing.assert_close(got, ref, atol=1e-6, rtol=1e-5)
    weights = torch.randn_like(ref)  # a loss that weighs every output frame differently
    params = [x, *gru.parameters()]
    for g_ref, g_got in zip(torch.autograd.grad((ref * weights).sum(), params),
                            torch.autograd.grad((got * weights).sum(), params)):
        torch.testing.assert_close(g_got, g_ref, atol=1e-5, rtol=1e-4)


def test_cpu_recurrence_is_torch_gru_in_float64_values_and_gradients(monkeypatch):
    """Training on CPU runs sier's own two-direction recurrence; it must be torch.gru's function."""
    import sier.models.layers as layers

    torch.manual_seed(0)
    gru = nn.GRU(5, 3, num_layers=2, batch_first=True, bidirectional=True).double()
    x = torch.randn(4, 11, 5, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([11, 1, 6, 10])
    weights = torch.randn(4, 11, 6, dtype=torch.float64)
    params = [x, *gru.parameters()]
    assert layers.use_recurrence(x)
    got = bidirectional_gru(gru, x, lengths)
    got_grads = torch.autograd.grad((got * weights).sum(), params)
    monkeypatch.setattr(layers, "use_recurrence", lambda x: False)
    ref = bidirectional_gru(gru, x, lengths)
    ref_grads = torch.autograd.grad((ref * weights).sum(), params)
    torch.testing.assert_close(got, ref, atol=1e-12, rtol=1e-10)
    for g_got, g_ref in zip(got_grads, ref_grads):
        torch.testing.assert_close(g_got, g_ref, atol=1e-12, rtol=1e-10)


def test_cpu_recurrence_backward_passes_gradcheck():
    from sier.models.recurrence import BiGRURecurrence

    torch.manual_seed(0)
    gi = torch.randn(5, 2, 9, 2, dtype=torch.float64, requires_grad=True)  # T=5, H=3, B=2
    w_hh = torch.randn(2, 9, 3, dtype=torch.float64, requires_grad=True)
    b_hh = torch.randn(2, 9, 1, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(BiGRURecurrence.apply, (gi, w_hh, b_hh))


def test_cpu_recurrence_trains_under_bf16_autocast():
    torch.manual_seed(0)
    model = build_model(tiny(dropout=0.0)).train()
    x, lengths = batch([9, 5, 2])
    ref = model(x, lengths)["emotion_logits"]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = model(x, lengths)["emotion_logits"]
    got.float().sum().backward()
    grad = model.gru_blocks[0].gru.weight_hh_l0.grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0
    torch.testing.assert_close(got.float(), ref, atol=0.1, rtol=0.1)


def test_recurrence_only_where_it_pays():
    from sier.models.layers import use_recurrence

    x = torch.zeros(1, 2, 3)
    assert use_recurrence(x)
    with torch.no_grad():
        assert not use_recurrence(x)  # inference and exports: torch.gru


def test_attention_dropout_acts_on_the_probabilities_in_training_only():
    torch.manual_seed(0)
    block = SelfAttentionBlock(16, num_heads=4, dropout=0.0, attention_dropout=0.5)
    x, mask = torch.randn(2, 10, 16), torch.ones(2, 10, dtype=torch.bool)
    assert not torch.allclose(block.train()(x, mask)[0], block(x, mask)[0])  # a new drop each call
    torch.testing.assert_close(block.eval()(x, mask)[0], block(x, mask)[0])
    plain = SelfAttentionBlock(16, num_heads=4, dropout=0.0, attention_dropout=0.0)
    plain.load_state_dict(block.state_dict())
    torch.testing.assert_close(plain.train()(x, mask)[0], block.eval()(x, mask)[0])  # 0: no drop


def test_attention_weights_only_in_eval_mode():
    model = build_model(tiny())
    x, lengths = batch([5, 3])
    assert "attention" not in model.train()(x, lengths)
    assert model.eval()(x, lengths)["attention"].shape == (2, 4, 5, 5)


def test_attention_ignores_padding_keys():
    torch.manual_seed(0)
    block = SelfAttentionBlock(16, num_heads=4, dropout=0.0, attention_dropout=0.0).eval()
    lengths = torch.tensor([10, 6, 1])
    mask = lengths_to_mask(lengths, 10)
    x = torch.randn(3, 10, 16)
    y, w = block(x, mask)
    assert w.shape == (3, 4, 10, 10)
    for b, n in enumerate(lengths.tolist()):
        assert torch.all(w[b, :, :, n:] == 0)  # padded keys get no weight
        assert torch.all(w[b, :, n:, :] == 0)  # padded query rows are empty
        torch.testing.assert_close(w[b, :, :n].sum(-1), torch.ones(4, n))
    junk = x.masked_fill(~mask.unsqueeze(-1), 1e4)
    y2, w2 = block(junk, mask)
    torch.testing.assert_close(y2[mask], y[mask])
    torch.testing.assert_close(w2, w)
    # the returned weights are the ones SDPA applied
    v = block.qkv(x).chunk(3, dim=-1)[2].reshape(3, -1, 4, 4).transpose(1, 2)
    ctx = (w @ v).transpose(1, 2).reshape(3, 10, 16)
    torch.testing.assert_close(block.norm(x + block.out(ctx))[mask], y[mask])


# ---------------------------------------------------------------- models


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_output_keys_and_shapes(name):
    cfg = tiny(**CONFIGS[name])
    model = build_model(cfg).eval()
    x, lengths = batch([9, 4, 6], layers=cfg.input_layers)
    out = model(x, lengths, alpha=0.5)
    expected = ["emotion_logits"]
    if cfg.num_speakers:
        expected.append("speaker_logits")
    expected.append("embedding")
    if cfg.kind == "enhanced" and cfg.attention:
        expected.append("attention")
    assert list(out) == expected
    assert out["emotion_logits"].shape == (3, cfg.num_classes)
    assert out["embedding"].shape == (3, cfg.embedding_dim)
    if cfg.num_speakers:
        assert out["speaker_logits"].shape == (3, cfg.num_speakers)
    if "attention" in out:
        assert out["attention"].shape == (3, cfg.num_heads, 9, 9)
    assert all(torch.isfinite(v).all() for v in out.values())


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_padding_changes_nothing(name):
    cfg = tiny(**CONFIGS[name])
    torch.manual_seed(1)
    model = build_model(cfg).eval()
    x, lengths = batch([11, 4, 7, 1], layers=cfg.input_layers)
    mask = lengths_to_mask(lengths, 11)
    x = x.masked_fill(~(mask[:, :, None] if x.dim() == 3 else mask[:, None, :, None]), torch.nan)
    together = model(x, lengths)
    for b, n in enumerate(lengths.tolist()):
        alone = model(x[b : b + 1, ..., :n, :], lengths[b : b + 1])
        for key, value in alone.items():
            got = together[key][b]
            if key == "attention":
                got = got[:, :n, :n]
            torch.testing.assert_close(got, value[0], atol=1e-5, rtol=1e-5, msg=f"{key} of item {b}")


@pytest.mark.parametrize("name", ["baseline_adv_layers", "adversarial", "mean_attn"])
def test_param_groups_cover_every_parameter_once(name):
    model = build_model(tiny(**CONFIGS[name]))
    groups = model.param_groups()
    assert set(groups) == {"body", "heads"}
    ids = [id(p) for g in groups.values() for p in g]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))
    head_ids = {id(p) for n, p in model.named_parameters() if n.startswith(("emotion_head.", "speaker_head."))}
    assert {id(p) for p in groups["heads"]} == head_ids
    assert groups["body"] and groups["heads"]


@pytest.mark.parametrize("name", ["baseline_adv_layers", "adversarial", "mean_attn", "layer_weighted"])
def test_training_step_reaches_every_parameter(name):
    model = build_model(tiny(**CONFIGS[name])).train()
    x, lengths = batch([8, 3], layers=model.cfg.input_layers)
    out = model(x, lengths, alpha=0.3)
    loss = out["emotion_logits"].logsumexp(-1).sum() + out.get("speaker_logits", torch.zeros(1)).sum()
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing


@pytest.mark.parametrize(
    "features, lengths, needle",
    [
        (torch.zeros(2, 5, D + 1), torch.tensor([5, 5]), "do not fit"),
        (torch.zeros(2, 5), torch.tensor([5, 5]), "do not fit"),
        (torch.zeros(2, 5, D), torch.tensor([6, 5]), r"lengths must be in \[1, T=5\]"),
        (torch.zeros(2, 5, D), torch.tensor([0, 5]), r"lengths must be in"),
        (torch.zeros(2, 5, D), torch.tensor([5.0, 5.0]), "integer"),
    ],
)
def test_bad_inputs_raise_model_error(features, lengths, needle):
    model = build_model(tiny()).eval()
    with pytest.raises(ModelError, match=needle):
        model(features, lengths)


# ---------------------------------------------------------------- ONNX


@pytest.mark.parametrize("name", ["enhanced_adv_attn", "baseline"])
def test_onnx_export_matches_torch_at_several_lengths(tmp_path, name):
    ort = pytest.importorskip("onnxruntime")
    overrides = dict(num_speakers=3, pooling="mean_attn") if name != "baseline" else CONFIGS["baseline"]
    torch.manual_seed(0)
    model = build_model(tiny(**overrides)).eval()
    x, lengths = batch([13, 8])
    names = list(model(x, lengths))
    axes = {"features": {0: "batch", 1: "time"}, "lengths": {0: "batch"}}
    axes.update({n: {0: "batch"} for n in names})
    if "attention" in names:
        axes["attention"] = {0: "batch", 2: "time", 3: "time"}
    path = tmp_path / "model.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, (x, lengths), str(path), dynamo=False, opset_version=17,
            input_names=["features", "lengths"], output_names=names, dynamic_axes=axes,
        )  # fmt: skip
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for lens in ([5], [40, 3, 17], [64, 64, 1, 30, 2]):
        x, lengths = batch(lens, seed=len(lens))
        with torch.no_grad():
            ref = model(x, lengths)
        got = session.run(names, {"features": x.numpy(), "lengths": lengths.numpy()})
        for n, value in zip(names, got):
            assert value.shape == tuple(ref[n].shape), n
            assert np.abs(value - ref[n].numpy()).max() < 1e-4, (n, lens)

"""sier's CPU dropout: drop rate, scaling, gradient, seeding, and where it replaces torch's."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sier.dropout import Dropout, dropout, use_fast_dropout
from sier.models.layers import dropped_attention, lengths_to_mask


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5, 0.9])
def test_dropout_keeps_one_minus_p_in_every_16_bit_slot(p):
    torch.manual_seed(0)
    count = 400_000
    keep = (dropout(torch.ones(count), p, True) != 0).float()
    expected = 1 - round(p * 65536) / 65536
    assert abs(expected - (1 - p)) < 1e-5
    # each of the four 16-bit slices of a 64-bit draw on its own: a biased top bit would show here
    per_slot = keep.view(-1, 4).mean(0)
    sigma = math.sqrt(expected * (1 - expected) / (count / 4))
    assert torch.all((per_slot - expected).abs() < 5 * sigma), per_slot


def test_dropout_shapes_and_odd_sizes():
    assert dropout(torch.ones(3, 5, 7), 0.5, True).shape == (3, 5, 7)
    assert dropout(torch.ones(1), 0.5, True).dtype == torch.float32
    assert dropout(torch.ones(0, 4), 0.5, True).shape == (0, 4)
    assert torch.all(dropout(torch.ones(1000), 1e-9, True) != 0)  # p rounds to 0: nothing dropped


def test_dropout_zeroes_or_rescales_and_keeps_the_mean():
    torch.manual_seed(0)
    x = torch.rand(200_000) + 1.0  # no zeros of its own
    y = dropout(x, 0.3, True)
    kept = y != 0
    torch.testing.assert_close(y[kept], x[kept] / 0.7)
    assert abs(kept.float().mean().item() - 0.7) < 0.005
    assert abs(y.mean().item() / x.mean().item() - 1) < 0.01


def test_dropout_is_identity_in_eval_or_at_zero_and_drops_all_at_one():
    x = torch.randn(5, 7)
    assert dropout(x, 0.3, False) is x
    assert dropout(x, 0.0, True) is x
    assert torch.all(dropout(x, 1.0, True) == 0)


def test_dropout_gradient_is_the_mask_over_keep_probability():
    torch.manual_seed(1)
    x = torch.randn(64, 33, requires_grad=True)
    y = dropout(x, 0.25, True)
    (grad,) = torch.autograd.grad(y.sum(), x)
    torch.testing.assert_close(grad, (y != 0).float() / 0.75)


def test_dropout_follows_the_torch_seed():
    x = torch.randn(10, 10)
    torch.manual_seed(7)
    a = dropout(x, 0.5, True)
    torch.manual_seed(7)
    b = dropout(x, 0.5, True)
    c = dropout(x, 0.5, True)
    assert torch.equal(a, b) and not torch.equal(b, c)


def test_dropout_module_is_an_nn_dropout_and_follows_train_mode():
    module = Dropout(0.4)
    assert isinstance(module, nn.Dropout) and module.p == 0.4 and not list(module.state_dict())
    x = torch.randn(8, 8)
    assert module.eval()(x) is x
    assert (module.train()(x) == 0).any()


def test_use_fast_dropout_swaps_plain_dropouts_and_keeps_p():
    net = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.2), nn.Sequential(nn.Dropout(0.0), nn.ReLU()), Dropout(0.1))
    assert use_fast_dropout(net) == 2
    assert [type(m) for m in net.modules() if isinstance(m, nn.Dropout)] == [Dropout] * 3
    assert [m.p for m in net.modules() if isinstance(m, nn.Dropout)] == [0.2, 0.0, 0.1]


def test_dropped_attention_without_drop_is_sdpa_over_valid_keys():
    torch.manual_seed(0)
    q, k, v = torch.randn(3, 3, 2, 9, 4).unbind(0)  # each [B=3, H=2, T=9, d=4]
    mask = lengths_to_mask(torch.tensor([9, 5, 1]), 9)
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None, None, :])
    torch.testing.assert_close(dropped_attention(q, k, v, mask, 0.0), ref)


def test_dropped_attention_drops_probabilities_not_values():
    torch.manual_seed(0)
    q, k = torch.zeros(2, 1, 1, 6, 4).unbind(0)  # uniform attention: every probability is 1/6
    v = torch.ones(1, 1, 6, 4)
    mask = torch.ones(1, 6, dtype=torch.bool)
    out = torch.stack([dropped_attention(q, k, v, mask, 0.5)[0, 0, 0, 0] for _ in range(400)])
    # each output is (kept probabilities) * 2 = (number kept) / 3
    torch.testing.assert_close(out * 3, (out * 3).round())
    assert abs(out.mean().item() - 1.0) < 0.05


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_dropout_rate_holds_in_other_float_types(dtype):
    torch.manual_seed(0)
    x = torch.ones(100_000, dtype=dtype)
    y = dropout(x, 0.3, True)
    assert y.dtype == dtype
    kept = y != 0
    assert abs(kept.float().mean().item() - 0.7) < 0.005
    torch.testing.assert_close(y[kept], torch.full_like(y[kept], 1 / 0.7))

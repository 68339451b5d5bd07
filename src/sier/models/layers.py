"""Building blocks of the sier models: one nn.Module (or function) per concept.

Shapes: B batch, T frames, D (or E) channels, L upstream layers, H attention heads.
Every block that looks across time takes a mask or lengths, so padding changes nothing.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sier.dropout import Dropout, dropout
from sier.errors import ModelError
from sier.models.recurrence import bigru_layer
from sier.tracing import exporting


def lengths_to_mask(lengths: Tensor, max_len: int) -> Tensor:
    """Valid-frame mask: lengths int [B] (frames) -> bool [B, T=max_len], True on valid frames."""
    steps = torch.arange(max_len, device=lengths.device)
    return steps.unsqueeze(0) < lengths.unsqueeze(1)


def zero_padding(x: Tensor, mask: Tensor) -> Tensor:
    """Set padded frames to 0 (also NaN/inf there): x [B, T, D] or [B, L, T, D], mask bool [B, T]."""
    keep = mask[:, :, None] if x.dim() == 3 else mask[:, None, :, None]
    return x.masked_fill(~keep, 0.0)


def masked_mean(x: Tensor, mask: Tensor) -> Tensor:
    """Mean over valid frames: x [B, T, E], mask bool [B, T] -> [B, E]."""
    keep = mask.unsqueeze(-1)
    count = keep.sum(dim=1).clamp_min(1).to(x.dtype)
    return x.masked_fill(~keep, 0.0).sum(dim=1) / count


def masked_max(x: Tensor, mask: Tensor) -> Tensor:
    """Max over valid frames: x [B, T, E], mask bool [B, T] (>= 1 valid frame per row) -> [B, E]."""
    return x.masked_fill(~mask.unsqueeze(-1), torch.finfo(x.dtype).min).amax(dim=1)


def check_inputs(features: Tensor, lengths: Tensor, input_dim: int, input_layers: int) -> None:
    """Raise ModelError unless features is [B, T, D] ([B, L, T, D] when input_layers > 1)
    and lengths is an integer [B] with 1 <= lengths <= T. Skipped while tracing/exporting."""
    if exporting():
        return
    want = "[B, T, D]" if input_layers == 1 else "[B, L, T, D]"
    ndim = 3 if input_layers == 1 else 4
    if features.dim() != ndim or features.shape[-1] != input_dim or (ndim == 4 and features.shape[1] != input_layers):
        raise ModelError(
            f"features of shape {tuple(features.shape)} do not fit the model: expected {want} with "
            f"D={input_dim}" + (f", L={input_layers}" if ndim == 4 else "") + "; check the feature config"
        )
    if lengths.dim() != 1 or lengths.shape[0] != features.shape[0] or lengths.is_floating_point():
        raise ModelError(f"lengths must be an integer tensor [B={features.shape[0]}], got {tuple(lengths.shape)}")
    if lengths.numel() and (int(lengths.min()) < 1 or int(lengths.max()) > features.shape[-2]):
        raise ModelError(f"lengths must be in [1, T={features.shape[-2]}] frames, got {lengths.tolist()}")


class _ReverseGrad(torch.autograd.Function):
    """Identity forward; backward multiplies the gradient by -alpha."""

    @staticmethod
    def forward(ctx, x: Tensor, alpha: float) -> Tensor:
        ctx.alpha = alpha
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:
        return grad.neg() * ctx.alpha, None

    @staticmethod
    def symbolic(g, x, alpha):  # ONNX: plain identity
        return g.op("Identity", x)


class GradientReversal(nn.Module):
    """Gradient reversal (Ganin & Lempitsky): y = x; dL/dx = -alpha * dL/dy.

    alpha is a forward argument so the trainer can schedule it per step.
    """

    def forward(self, x: Tensor, alpha: float) -> Tensor:
        return _ReverseGrad.apply(x, float(alpha))


class LayerWeightedSum(nn.Module):
    """SUPERB-style learned softmax weights over upstream layers: [B, L, T, D] -> [B, T, D]."""

    def __init__(self, num_layers: int) -> None:
        super().__init__()
        self.weights = nn.Parameter(torch.zeros(num_layers))

    def forward(self, x: Tensor) -> Tensor:
        w = torch.softmax(self.weights, dim=0)
        return (x * w[None, :, None, None]).sum(dim=1)


class AdaIN(nn.Module):
    """Adaptive instance normalisation over time.

    Per utterance and channel, the mean and (population) std are taken over valid frames
    only and removed, which strips speaker/channel statistics. The affine that follows is
    gamma + dgamma, beta + dbeta, where (dgamma, dbeta) come from the removed statistics
    through a low-rank bottleneck (`style_rank`, 0 = plain learned affine). The bottleneck
    starts at zero (plain instance norm) and lets the model put back the part of an
    utterance's statistics that carries emotion (loudness, spectral tilt), while the
    speaker adversary behind the pooled embedding pushes it to leave the speaker part out.
    It is an ablation, off by default: on the synthetic corpus (fbank, session folds 0 and
    2) it scored UA 0.36 against 0.44 for the fixed affine and 0.60 without AdaIN.
    x [B, T, D], mask bool [B, T] -> [B, T, D] with padded frames 0.
    """

    def __init__(self, dim: int, eps: float = 1e-5, style_rank: int = 0) -> None:
        super().__init__()
        self.eps = eps
        self.gamma = nn.Parameter(torch.ones(dim))
        self.beta = nn.Parameter(torch.zeros(dim))
        self.style = None
        if style_rank > 0:
            self.style = nn.Sequential(nn.Linear(2 * dim, style_rank), nn.GELU(), nn.Linear(style_rank, 2 * dim))
            nn.init.zeros_(self.style[-1].weight)
            nn.init.zeros_(self.style[-1].bias)

    def statistics(self, x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and std over valid frames: x [B, T, D], mask [B, T] -> ([B, 1, D], [B, 1, D])."""
        keep = mask.unsqueeze(-1)
        count = keep.sum(dim=1, keepdim=True).clamp_min(1).to(x.dtype)
        mean = x.masked_fill(~keep, 0.0).sum(dim=1, keepdim=True) / count
        var = (x - mean).masked_fill(~keep, 0.0).pow(2).sum(dim=1, keepdim=True) / count
        return mean, torch.sqrt(var + self.eps)

    def normalize(self, x: Tensor, mask: Tensor) -> Tensor:
        """The statistics part alone: mean 0, std 1 over valid frames; padded frames 0."""
        mean, std = self.statistics(x, mask)
        return ((x - mean) / std).masked_fill(~mask.unsqueeze(-1), 0.0)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        mean, std = self.statistics(x, mask)
        y = ((x - mean) / std).masked_fill(~mask.unsqueeze(-1), 0.0)
        gamma, beta = self.gamma, self.beta
        if self.style is not None:
            dgamma, dbeta = self.style(torch.cat([mean, std.log()], dim=-1)).chunk(2, dim=-1)  # [B, 1, D] each
            gamma, beta = gamma + dgamma, beta + dbeta
        return (y * gamma + beta).masked_fill(~mask.unsqueeze(-1), 0.0)


def reverse_valid(x: Tensor, lengths: Tensor) -> Tensor:
    """Reverse each sequence within its own length; padded frames stay where they are:
    x [B, T, E], lengths [B] -> [B, T, E]. Its own inverse."""
    steps = torch.arange(x.shape[1], device=x.device)
    index = lengths.to(steps.device)[:, None] - 1 - steps[None, :]  # [B, T]
    index = torch.where(index >= 0, index, steps[None, :])
    return x.gather(1, index[..., None].expand(-1, -1, x.shape[-1]))


def use_recurrence(x: Tensor) -> bool:
    """Whether bidirectional_gru runs sier's own recurrence: on CPU with gradients (training),
    never while tracing or exporting (its Python loop would be unrolled to one length)."""
    return x.device.type == "cpu" and torch.is_grad_enabled() and not exporting()


def bidirectional_gru(gru: nn.GRU, x: Tensor, lengths: Tensor) -> Tensor:
    """Run a batch_first bidirectional (multi-layer) GRU on valid frames only:
    x [B, T, D], lengths [B] -> [B, T, 2H], padding 0. Same function as the GRU over a
    pack_padded_sequence, with the module's own weights and inter-layer dropout.

    Why not pack_padded_sequence: on CPU a packed GRU projects its input step by step,
    while a plain one projects the whole sequence in one matmul first; training through
    a packed GRU cost ~1.4x as much. Padding is harmless for the forward direction (it
    comes after every valid frame), and the backward direction runs over each sequence
    reversed within its own length, so it starts at that sequence's last valid frame.
    Training on CPU runs both directions in one recurrence with its own backward
    (`sier.models.recurrence`; the training step ~1.4x faster); elsewhere each direction is a
    `torch.gru`.
    """
    if not (gru.bidirectional and gru.batch_first and gru.bias):
        raise ModelError("bidirectional_gru needs nn.GRU(bidirectional=True, batch_first=True, bias=True)")
    mask = lengths_to_mask(lengths, x.shape[1]).unsqueeze(-1)
    h0 = x.new_zeros(1, x.shape[0], gru.hidden_size)
    for layer in range(gru.num_layers):
        if layer:
            x = dropout(x, gru.dropout, gru.training)
        names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        weights = [[getattr(gru, f"{name}_l{layer}{suffix}") for name in names] for suffix in ("", "_reverse")]
        x_reversed = reverse_valid(x, lengths)
        if use_recurrence(x):
            forward, backward = bigru_layer(x, x_reversed, *weights)
        else:
            forward, backward = (
                torch.gru(seq, h0, w, True, 1, 0.0, gru.training, False, True)[0]
                for seq, w in ((x, weights[0]), (x_reversed, weights[1]))
            )
        x = torch.cat([forward, reverse_valid(backward, lengths)], dim=-1).masked_fill(~mask, 0.0)
    return x


class GRUBlock(nn.Module):
    """One bidirectional GRU layer, dropout, optional residual, LayerNorm: [B, T, E] -> [B, T, E]."""

    def __init__(self, dim: int, dropout: float, residual: bool) -> None:
        super().__init__()
        if dim % 2:
            raise ModelError(f"GRUBlock width must be even (two directions), got {dim}")
        self.gru = nn.GRU(dim, dim // 2, batch_first=True, bidirectional=True)
        self.dropout = Dropout(dropout)
        self.norm = nn.LayerNorm(dim)
        self.residual = residual

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        y = self.dropout(bidirectional_gru(self.gru, x, lengths))
        return self.norm(x + y if self.residual else y)


def attention_weights(q: Tensor, k: Tensor, mask: Tensor) -> Tensor:
    """softmax(q k^T / sqrt(d)) with padded keys at 0: q, k [B, H, T, d] -> [B, H, T, T].

    Rows of valid query frames sum to 1; rows of padded query frames are 0.
    """
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    scores = scores.masked_fill(~mask[:, None, None, :], float("-inf"))
    return torch.softmax(scores, dim=-1).masked_fill(~mask[:, None, :, None], 0.0)


def dropped_attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor, p: float) -> Tensor:
    """dropout(softmax(q k^T / sqrt(d)) over valid keys, p) v: q, k, v [B, H, T, d] -> [B, H, T, d].

    What SDPA computes with dropout_p=p, written out so that the dropout on the [B, H, T, T]
    probabilities draws sier's cheaper CPU mask (SDPA's `bernoulli_` costs ~4x as much)."""
    bias = q.new_zeros(mask.shape).masked_fill(~mask, float("-inf"))[:, None, None, :]
    scores = (q @ k.transpose(-2, -1)).mul_(1.0 / math.sqrt(q.shape[-1])).add_(bias)
    return dropout(torch.softmax(scores, dim=-1), p, True) @ v


class SelfAttentionBlock(nn.Module):
    """Multi-head self-attention with key padding mask, then residual + LayerNorm.

    Written with F.scaled_dot_product_attention and reshape(B, -1, H, d), which exports to
    ONNX with dynamic lengths (nn.MultiheadAttention does not). The returned weights are
    computed explicitly from the same q, k (detached: they are for inspection, e.g. heat
    maps; attention dropout is not applied to them), in eval mode only: training never
    reads them, and they cost a tenth of this block's training time.
    `dropout` applies to the block's output; `attention_dropout` to the attention
    probabilities. With attention_dropout above 0, training on CPU materialises the
    [B, H, T, T] probabilities and their dropout mask (`dropped_attention`) instead of running
    SDPA's fused kernel; 0 is the fast choice, 0.3 the default (see ModelConfig).
    x [B, T, E], mask bool [B, T] -> (y [B, T, E], weights [B, H, T, T] or None in training).
    """

    def __init__(self, dim: int, num_heads: int, dropout: float, attention_dropout: float) -> None:
        super().__init__()
        if dim % num_heads:
            raise ModelError(f"attention width {dim} is not divisible by num_heads={num_heads}")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.attention_dropout = attention_dropout
        self.out_dropout = Dropout(dropout)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor | None]:
        batch = x.shape[0]
        q, k, v = (
            t.reshape(batch, -1, self.num_heads, self.head_dim).transpose(1, 2)
            for t in self.qkv(x).chunk(3, dim=-1)
        )
        if self.training and self.attention_dropout > 0.0 and x.device.type == "cpu":
            ctx = dropped_attention(q, k, v, mask, self.attention_dropout)
        else:
            ctx = F.scaled_dot_product_attention(
                q, k, v, attn_mask=mask[:, None, None, :], dropout_p=self.attention_dropout if self.training else 0.0
            )
        ctx = ctx.transpose(1, 2).reshape(batch, -1, self.num_heads * self.head_dim)
        y = self.norm(x + self.out_dropout(self.out(ctx)))
        return y, None if self.training else attention_weights(q.detach(), k.detach(), mask)


class AttentivePooling(nn.Module):
    """Self-attentive pooling: softmax over valid frames of v^T tanh(W x): [B, T, E] -> [B, E]."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.score = nn.Sequential(nn.Linear(dim, max(dim // 2, 1)), nn.Tanh(), nn.Linear(max(dim // 2, 1), 1))

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        scores = self.score(x).squeeze(-1).masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=1)
        return (weights.unsqueeze(-1) * x.masked_fill(~mask.unsqueeze(-1), 0.0)).sum(dim=1)


class DualPooling(nn.Module):
    """Masked mean concatenated with masked max ("mean_max") or attentive pooling
    ("mean_attn"): x [B, T, E], mask bool [B, T] -> [B, 2E]."""

    def __init__(self, dim: int, kind: str) -> None:
        super().__init__()
        if kind not in ("mean_max", "mean_attn"):
            raise ModelError(f"unknown pooling {kind!r}; use 'mean_max' or 'mean_attn'")
        self.kind = kind
        self.attentive = AttentivePooling(dim) if kind == "mean_attn" else None

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        second = masked_max(x, mask) if self.attentive is None else self.attentive(x, mask)
        return torch.cat([masked_mean(x, mask), second], dim=-1)


class ClassifierHead(nn.Module):
    """MLP classifier: Linear, GELU, dropout, Linear: [B, E] -> logits [B, C]."""

    def __init__(self, in_dim: int, hidden: int, num_classes: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden), nn.GELU(), Dropout(dropout), nn.Linear(hidden, num_classes)
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class SpeakerHead(nn.Module):
    """Adversarial speaker classifier behind gradient reversal: [B, E], alpha -> logits [B, S]."""

    def __init__(self, in_dim: int, hidden: int, num_speakers: int, dropout: float) -> None:
        super().__init__()
        self.reverse = GradientReversal()
        self.classifier = ClassifierHead(in_dim, hidden, num_speakers, dropout)

    def forward(self, x: Tensor, alpha: float) -> Tensor:
        return self.classifier(self.reverse(x, alpha))


def split_param_groups(model: nn.Module, head_names: tuple[str, ...]) -> dict[str, list[nn.Parameter]]:
    """{"body": [...], "heads": [...]}: parameters of the named child modules go to "heads",
    every other parameter to "body"; each parameter appears exactly once."""
    groups: dict[str, list[nn.Parameter]] = {"body": [], "heads": []}
    for name, param in model.named_parameters():
        top = name.split(".", 1)[0]
        groups["heads" if top in head_names else "body"].append(param)
    return groups

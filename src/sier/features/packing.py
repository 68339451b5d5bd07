"""Run transformer layers on the valid frames of a padded batch only ("packing").

Everything in a transformer layer except the attention itself works frame by frame
(projections, feed-forward, layer norms, dropout, residuals: ~95 % of its FLOPs), so the
layers can run on the valid frames alone, `[1, N, D]` with N = sum of lengths, and only the
attention sees the padded `[B, T]` layout with its mask. With IEMOCAP-like lengths a random
batch is about half padding; the padded frames then cost as much as the valid ones.

transformers' HuBERT, wav2vec 2.0 and data2vec-audio layers look their attention function
up by name (`config._attn_implementation`) in `AttentionInterface` and hand it the
`attention_mask` they were given untouched. sier registers PACKED_ATTENTION there: the
layers receive a `FrameLayout` as their "mask", and the function unpacks queries, keys and
values, runs the model's own attention function (`layout.base`: "sdpa", "eager"...) with the
real mask and packs its output again. WavLM computes its attention itself (relative
position bias, gates) and keeps running on the padded batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

PACKED_ATTENTION = "sier_packed"
PACKABLE_TYPES = ("hubert", "wav2vec2", "data2vec-audio")


@dataclass
class FrameLayout:
    """Where the valid frames of a `[batch, frames]` padded batch are, and the attention to run.

    `index` (flat positions of the valid frames in batch * frames, ascending) is None when
    the layers run on the padded batch itself; `mask` is what the `base` attention function
    takes for the padded batch (None: nothing padded)."""

    base: str
    mask: Any
    batch: int
    frames: int
    index: Tensor | None = None

    def pack(self, x: Tensor) -> Tensor:
        """`[B, T, ...]` -> `[N, ...]`: the valid frames, utterance after utterance."""
        return x.reshape(self.batch * self.frames, *x.shape[2:]).index_select(0, self.index)

    def unpack(self, x: Tensor) -> Tensor:
        """`[N, ...]` -> `[B, T, ...]`, zeros in the padding."""
        full = x.new_zeros(self.batch * self.frames, *x.shape[1:]).index_copy(0, self.index, x)
        return full.view(self.batch, self.frames, *x.shape[1:])


def packed_attention(module: nn.Module, query: Tensor, key: Tensor, value: Tensor, layout: FrameLayout,
                     **kwargs: Any) -> tuple[Tensor, Tensor | None]:
    """An `AttentionInterface` function: `query`/`key`/`value` `[1, H, N, d]` of packed frames
    (or `[B, H, T, d]` when `layout.index` is None) -> output `[1, N, H, d]` (`[B, T, H, d]`)
    and the base function's attention weights (padded layout)."""
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
    from transformers.models.hubert.modeling_hubert import eager_attention_forward  # the same in all three families

    base = ALL_ATTENTION_FUNCTIONS.get_interface(layout.base, eager_attention_forward)
    if layout.index is None:
        return base(module, query, key, value, layout.mask, **kwargs)

    def unpack(x: Tensor) -> Tensor:  # [1, H, N, d] -> [B, H, T, d]
        return layout.unpack(x[0].transpose(0, 1)).transpose(1, 2)

    out, weights = base(module, unpack(query), unpack(key), unpack(value), layout.mask, **kwargs)
    return layout.pack(out)[None], weights


def register_packed_attention() -> None:
    """Make PACKED_ATTENTION known to transformers (idempotent)."""
    from transformers import AttentionInterface

    AttentionInterface.register(PACKED_ATTENTION, packed_attention)

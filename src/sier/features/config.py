"""FeatureConfig: which upstream, which part of it is frozen, and what the cache holds."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping

from sier.configs import from_mapping
from sier.errors import FeatureError

FBANK = "fbank"  # the `upstream` value that selects the weight-free log-mel front-end
DTYPES = ("float32", "bfloat16")


@dataclass(frozen=True)
class FeatureConfig:
    """What the front-end is and how much of it is frozen (and so cached on disk)."""

    upstream: str = "facebook/hubert-base-ls960"  # HF hub id, local folder written by save_pretrained, or "fbank"
    revision: str | None = None  # hub revision (branch, tag or commit); None = the default branch
    freeze_layers: int | None = None  # transformer layers 1..N frozen and cached; None or L = whole upstream frozen
    layer: int | None = None  # fully frozen, not layer-weighted: the hidden state used (0..L); None = last
    layer_weighted: bool = False  # fully frozen only: cache all L+1 hidden states for a learned weighted sum
    dtype: str = "float32"  # extraction precision; "bfloat16" is ~1.8x faster on CPU, max abs error ~0.09

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise FeatureError(f"dtype {self.dtype!r} is not supported; use one of {', '.join(DTYPES)}.")
        if self.freeze_layers is not None and self.freeze_layers < 0:
            raise FeatureError(f"freeze_layers must be >= 0 (got {self.freeze_layers}).")
        if self.layer is not None and self.layer_weighted:
            raise FeatureError("choose either layer or layer_weighted, not both.")
        if self.is_fbank and (self.layer is not None or self.layer_weighted or self.freeze_layers):
            raise FeatureError("the fbank front-end has no layers: drop layer, layer_weighted and freeze_layers.")

    @property
    def is_fbank(self) -> bool:
        return self.upstream == FBANK

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "FeatureConfig":
        """Rebuild from `to_dict()` output; unknown keys are an error (they mean a newer sier)."""
        return from_mapping(cls, data, FeatureError, "feature config", "is this from a newer sier?")

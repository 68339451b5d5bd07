"""The model configuration: typed, frozen, JSON-able, validated on creation."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

from sier.configs import from_mapping
from sier.errors import ModelError

MODEL_KINDS = ("baseline", "enhanced")
POOLINGS = ("mean_max", "mean_attn")


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a model; stored in every checkpoint.

    `kind="baseline"` is the original model (bidirectional GRU, masked mean pooling,
    linear classifier); it uses `input_dim`, `input_layers`, `num_classes`, `hidden_size`,
    `num_gru_layers`, `dropout`, `num_speakers`, `speaker_hidden` and `num_dimensions`, and has none of the
    enhanced parts, so `adain`, `attention`, `num_heads`, `residual` and `pooling` do not
    apply to it.

    Pooling default: "mean_max". The max over time keeps short emotional peaks (a laugh,
    a raised word) that a mean over a long neutral-sounding utterance dilutes; it has no
    parameters, so it adds nothing to overfit on the few thousand training utterances of a
    fold, and the self-attention block before it already weighs frames against each other.
    "mean_attn" (mean + attentive pooling) stays available as an ablation.
    """

    kind: str = "enhanced"  # "baseline" (original model) or "enhanced"
    input_dim: int = 768  # feature channels D per frame (upstream hidden size or mel bins)
    input_layers: int = 1  # upstream layers L; >1: input [B, L, T, D] and a learned softmax layer sum first
    num_classes: int = 4  # emotion classes C (label map size)
    hidden_size: int = 128  # GRU hidden size per direction; enhanced model width is 2 * hidden_size
    num_gru_layers: int = 2  # stacked bidirectional GRU layers
    dropout: float = 0.3  # dropout probability used throughout (projection, GRU outputs, attention output, heads)
    attention_dropout: float = 0.3  # enhanced: dropout on the attention probabilities (0: PyTorch's fused attention kernel, faster)
    adain: bool = True  # enhanced: instance-normalise each utterance over valid frames, then a learned affine
    adain_style_rank: int = 0  # enhanced: >0: AdaIN affine predicted from the removed statistics (rank); 0 = learned fixed affine
    attention: bool = True  # enhanced: multi-head self-attention block after the GRU stack
    num_heads: int = 8  # enhanced: attention heads; 2 * hidden_size must be divisible by it
    residual: bool = True  # enhanced: residual connections between GRU layers (LayerNorm stays either way)
    pooling: str = "mean_max"  # enhanced: "mean_max" (masked mean + max) or "mean_attn" (mean + attentive)
    num_speakers: int = 0  # >0: adversarial speaker head behind gradient reversal (training speakers)
    speaker_hidden: int = 128  # hidden size of the speaker classifier MLP
    num_dimensions: int = 0  # >0: a regression head for that many emotion dimensions (arousal, valence, dominance)

    def __post_init__(self) -> None:
        self._check_types()
        problems = []
        if self.kind not in MODEL_KINDS:
            problems.append(f"kind must be one of {MODEL_KINDS}, got {self.kind!r}")
        for name in ("input_dim", "input_layers", "hidden_size", "num_gru_layers", "num_heads", "speaker_hidden"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.adain_style_rank < 0:
            problems.append(f"adain_style_rank must be >= 0, got {self.adain_style_rank}")
        if self.num_classes < 2:
            problems.append(f"num_classes must be >= 2, got {self.num_classes}")
        for name in ("dropout", "attention_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                problems.append(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if self.pooling not in POOLINGS:
            problems.append(f"pooling must be one of {POOLINGS}, got {self.pooling!r}")
        if self.num_dimensions < 0:
            problems.append(f"num_dimensions must be >= 0, got {self.num_dimensions}")
        if self.num_speakers == 1 or self.num_speakers < 0:
            problems.append(f"num_speakers must be 0 (no adversary) or >= 2, got {self.num_speakers}")
        if self.kind == "enhanced" and self.attention and self.num_heads >= 1 and self.model_dim % self.num_heads:
            problems.append(
                f"2 * hidden_size ({self.model_dim}) must be divisible by num_heads ({self.num_heads}); "
                f"change one of them or set attention=False"
            )
        if problems:
            raise ModelError("invalid model config: " + "; ".join(problems))

    def _check_types(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            expected = {"str": str, "int": int, "float": float, "bool": bool}[f.type]
            if expected is float and isinstance(value, int) and not isinstance(value, bool):
                object.__setattr__(self, f.name, float(value))  # 0 from YAML/JSON means 0.0
                continue
            if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
                raise ModelError(f"invalid model config: {f.name} must be {f.type}, got {value!r}")

    @property
    def model_dim(self) -> int:
        """Width of the enhanced model between its blocks: both GRU directions, 2 * hidden_size."""
        return 2 * self.hidden_size

    @property
    def embedding_dim(self) -> int:
        """Size E of the pooled `embedding` output (the classifier input)."""
        if self.kind == "baseline":
            return 2 * self.hidden_size
        return 2 * self.model_dim

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (same as dataclasses.asdict)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelConfig:
        """Build from a dict such as `to_dict()` wrote; missing keys take the defaults.

        Raises ModelError on unknown keys (a typo or a config from another version is
        never ignored silently) and on invalid values.
        """
        known = sorted(f.name for f in fields(cls))
        return from_mapping(cls, data, ModelError, "model config", f"known keys are {known}")

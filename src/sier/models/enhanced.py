"""The enhanced model: AdaIN, a residual bidirectional GRU stack, multi-head self-attention,
dual pooling, an MLP classifier and an adversarial speaker head behind gradient reversal."""

from __future__ import annotations

from torch import Tensor, nn

from sier.dropout import Dropout
from sier.errors import ModelError
from sier.models.config import ModelConfig
from sier.models.layers import (
    AdaIN,
    ClassifierHead,
    DualPooling,
    GRUBlock,
    LayerWeightedSum,
    SelfAttentionBlock,
    SpeakerHead,
    check_inputs,
    lengths_to_mask,
    split_param_groups,
    zero_padding,
)


class EnhancedGRU(nn.Module):
    """features [B, T, D] (or [B, L, T, D]), lengths int [B] -> dict of outputs.

    Outputs, in this order: "emotion_logits" [B, C]; "speaker_logits" [B, S] when
    num_speakers > 0; "dimensions" [B, K] (emotion dimensions on 0..1) when
    num_dimensions > 0; "embedding" [B, 4 * hidden_size] (pooled vector fed to the
    classifier); "attention" [B, heads, T, T] when attention is on, in eval mode (rows
    of padded query frames and columns of padded key frames are 0).
    """

    HEADS = ("emotion_head", "speaker_head", "dimension_head")

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        if cfg.kind != "enhanced":
            raise ModelError(f"EnhancedGRU needs kind='enhanced', got {cfg.kind!r}; use build_model(cfg)")
        self.cfg = cfg
        dim = cfg.model_dim
        self.layer_sum = LayerWeightedSum(cfg.input_layers) if cfg.input_layers > 1 else None
        self.adain = AdaIN(cfg.input_dim, style_rank=cfg.adain_style_rank) if cfg.adain else None
        self.projection = nn.Sequential(nn.Linear(cfg.input_dim, dim), nn.GELU(), Dropout(cfg.dropout))
        self.gru_blocks = nn.ModuleList(
            GRUBlock(dim, cfg.dropout, cfg.residual) for _ in range(cfg.num_gru_layers)
        )
        self.attention = (
            SelfAttentionBlock(dim, cfg.num_heads, cfg.dropout, cfg.attention_dropout) if cfg.attention else None
        )
        self.pooling = DualPooling(dim, cfg.pooling)
        self.emotion_head = ClassifierHead(cfg.embedding_dim, cfg.hidden_size, cfg.num_classes, cfg.dropout)
        self.speaker_head = (
            SpeakerHead(cfg.embedding_dim, cfg.speaker_hidden, cfg.num_speakers, cfg.dropout)
            if cfg.num_speakers > 0
            else None
        )
        self.dimension_head = (
            ClassifierHead(cfg.embedding_dim, cfg.hidden_size, cfg.num_dimensions, cfg.dropout)
            if cfg.num_dimensions > 0
            else None
        )

    def forward(self, features: Tensor, lengths: Tensor, alpha: float = 0.0) -> dict[str, Tensor]:
        """alpha: gradient-reversal strength for the speaker head (0 = no adversarial push)."""
        check_inputs(features, lengths, self.cfg.input_dim, self.cfg.input_layers)
        mask = lengths_to_mask(lengths, features.shape[-2])  # [B, T]
        x = zero_padding(features, mask)
        if self.layer_sum is not None:
            x = self.layer_sum(x)  # [B, T, D]
        if self.adain is not None:
            x = self.adain(x, mask)
        x = self.projection(x)  # [B, T, E]
        for block in self.gru_blocks:
            x = block(x, lengths)
        weights = None
        if self.attention is not None:
            x, weights = self.attention(x, mask)  # [B, T, E], [B, heads, T, T] in eval mode
        embedding = self.pooling(x, mask)  # [B, 2E]
        out = {"emotion_logits": self.emotion_head(embedding)}
        if self.speaker_head is not None:
            out["speaker_logits"] = self.speaker_head(embedding, alpha)
        if self.dimension_head is not None:
            out["dimensions"] = self.dimension_head(embedding)
        out["embedding"] = embedding
        if weights is not None:
            out["attention"] = weights
        return out

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """{"body": layer weights, AdaIN, projection, GRUs, attention, pooling;
        "heads": emotion and speaker classifiers, dimension regressor}."""
        return split_param_groups(self, self.HEADS)

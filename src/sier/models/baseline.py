"""The original model: a bidirectional GRU over upstream features, masked mean pooling and
a linear classifier (plus the optional speaker adversary, so baseline + adversary is an
ablation)."""

from __future__ import annotations

from torch import Tensor, nn

from sier.errors import ModelError
from sier.models.config import ModelConfig
from sier.models.layers import (
    LayerWeightedSum,
    bidirectional_gru,
    SpeakerHead,
    check_inputs,
    lengths_to_mask,
    masked_mean,
    split_param_groups,
    zero_padding,
)


class BaselineGRU(nn.Module):
    """features [B, T, D] (or [B, L, T, D]), lengths int [B] -> dict of outputs.

    Outputs: "emotion_logits" [B, C]; "speaker_logits" [B, S] when num_speakers > 0;
    "dimensions" [B, K] (0..1) when num_dimensions > 0; "embedding" [B, 2 * hidden_size] (the masked mean of the GRU outputs).
    """

    HEADS = ("emotion_head", "speaker_head", "dimension_head")

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        if cfg.kind != "baseline":
            raise ModelError(f"BaselineGRU needs kind='baseline', got {cfg.kind!r}; use build_model(cfg)")
        self.cfg = cfg
        self.layer_sum = LayerWeightedSum(cfg.input_layers) if cfg.input_layers > 1 else None
        self.gru = nn.GRU(
            cfg.input_dim,
            cfg.hidden_size,
            num_layers=cfg.num_gru_layers,
            batch_first=True,
            bidirectional=True,
            dropout=cfg.dropout if cfg.num_gru_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(cfg.dropout)
        self.emotion_head = nn.Linear(cfg.embedding_dim, cfg.num_classes)
        self.speaker_head = (
            SpeakerHead(cfg.embedding_dim, cfg.speaker_hidden, cfg.num_speakers, cfg.dropout)
            if cfg.num_speakers > 0
            else None
        )
        # linear like the emotion classifier: the baseline stays the original model plus heads
        self.dimension_head = nn.Linear(cfg.embedding_dim, cfg.num_dimensions) if cfg.num_dimensions > 0 else None

    def forward(self, features: Tensor, lengths: Tensor, alpha: float = 0.0) -> dict[str, Tensor]:
        """alpha: gradient-reversal strength for the speaker head (0 = no adversarial push)."""
        check_inputs(features, lengths, self.cfg.input_dim, self.cfg.input_layers)
        mask = lengths_to_mask(lengths, features.shape[-2])
        x = zero_padding(features, mask)
        if self.layer_sum is not None:
            x = self.layer_sum(x)  # [B, T, D]
        h = bidirectional_gru(self.gru, x, lengths)  # [B, T, 2H]
        embedding = masked_mean(h, mask)  # [B, 2H]
        out = {"emotion_logits": self.emotion_head(self.dropout(embedding))}
        if self.speaker_head is not None:
            out["speaker_logits"] = self.speaker_head(embedding, alpha)
        if self.dimension_head is not None:
            out["dimensions"] = self.dimension_head(self.dropout(embedding))
        out["embedding"] = embedding
        return out

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """{"body": layer weights + GRU, "heads": emotion and speaker classifiers, dimension regressor}."""
        return split_param_groups(self, self.HEADS)

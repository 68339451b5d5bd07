"""Models: the baseline GRU, the enhanced GRU and the sier checkpoint format.

    cfg = ModelConfig(input_dim=768, num_speakers=8)
    model = build_model(cfg)
    out = model(features, lengths, alpha=0.5)   # dict: emotion_logits, speaker_logits, embedding, attention
"""

from torch import nn

from sier.models.baseline import BaselineGRU
from sier.models.checkpoint import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    UPSTREAM_PREFIX,
    Checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from sier.models.config import MODEL_KINDS, POOLINGS, ModelConfig
from sier.models.enhanced import EnhancedGRU


def build_model(cfg: ModelConfig) -> nn.Module:
    """The model named by cfg.kind: BaselineGRU ("baseline") or EnhancedGRU ("enhanced")."""
    return BaselineGRU(cfg) if cfg.kind == "baseline" else EnhancedGRU(cfg)


__all__ = [
    "MODEL_KINDS",
    "POOLINGS",
    "BaselineGRU",
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "Checkpoint",
    "EnhancedGRU",
    "ModelConfig",
    "UPSTREAM_PREFIX",
    "build_model",
    "load_checkpoint",
    "save_checkpoint",
]

"""SERModel: the trainable part of the pipeline, optional upstream top + head model.

    cached features [B, T, D] ──► upstream_top (transformer layers N+1..L, optional)
                                     ──► head (BaselineGRU / EnhancedGRU) ──► outputs dict

`load_ser_model` rebuilds both from a sier checkpoint alone: the head from its model
config, the top from `meta["upstream_top"]` (a `TrainableTop.spec()`) and the weights
under the `upstream_top.` prefix, and the temperature fitted on the fold's validation speakers
(`meta["temperature"]`, sier.training.calibrate), which divides the emotion logits.
Evaluation and inference use it.
"""

from __future__ import annotations

import os
from typing import Any

from torch import Tensor, nn

from sier.errors import CheckpointError
from sier.models.checkpoint import UPSTREAM_PREFIX, Checkpoint, load_checkpoint


class SERModel(nn.Module):
    """Optional trainable upstream top followed by the head model."""

    def __init__(self, head: nn.Module, upstream_top: nn.Module | None = None) -> None:
        super().__init__()
        self.head = head
        self.upstream_top = upstream_top
        # divides the emotion logits (temperature scaling); 1 while training, a checkpoint's own after
        self.temperature = 1.0

    def forward(self, features: Tensor, lengths: Tensor, alpha: float = 0.0) -> dict[str, Tensor]:
        """features [B, T, D] (or [B, L, T, D] without a top), lengths [B] frames -> the head's dict
        (emotion_logits [B, C], speaker_logits [B, S] if adversarial, embedding [B, E], attention)."""
        if self.upstream_top is not None:
            features = self.upstream_top(features, lengths)  # [B, T, D]
        out = self.head(features, lengths, alpha=alpha)
        if self.temperature != 1.0:  # same argmax, calibrated probabilities
            out = {**out, "emotion_logits": out["emotion_logits"] / self.temperature}
        return out

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """{"upstream": top parameters, "body": head body, "heads": classifier heads}."""
        groups = self.head.param_groups()
        upstream = list(self.upstream_top.parameters()) if self.upstream_top is not None else []
        return {"upstream": upstream, "body": list(groups["body"]), "heads": list(groups["heads"])}


def load_ser_model(source: str | os.PathLike | Checkpoint, map_location: Any = "cpu") -> tuple[SERModel, Checkpoint]:
    """Rebuild the SERModel of a sier checkpoint (path or loaded Checkpoint), in eval mode.

    Raises CheckpointError when the checkpoint has upstream-top weights but no spec to
    rebuild the top from, or the weights do not fit it.
    """
    ckpt = source if isinstance(source, Checkpoint) else load_checkpoint(source, map_location)
    head = ckpt.build_model()
    spec = ckpt.meta.get("upstream_top")
    top = None
    if spec:
        from sier.features.upstream import build_top

        top = build_top(spec)
        try:
            top.load_state_dict(ckpt.prefixed_state_dict(UPSTREAM_PREFIX), strict=True)
        except RuntimeError as exc:
            raise CheckpointError(
                f"{ckpt.path or 'checkpoint'}: its upstream-top weights do not match meta['upstream_top'] ({exc}); "
                "retrain or use the original file"
            ) from exc
    elif ckpt.has_upstream_top():
        raise CheckpointError(
            f"{ckpt.path or 'checkpoint'}: has upstream-top weights but no meta['upstream_top'] spec to rebuild "
            "the layers from; it was not written by `sier train`"
        )
    model = SERModel(head, top).eval()
    model.temperature = float(ckpt.meta.get("temperature", 1.0))
    return model, ckpt

"""The sier checkpoint format: weights plus everything needed to rebuild and use them.

A checkpoint is a `torch.save` of a plain dict, loadable with `weights_only=True`:

    {"format": "sier-checkpoint", "version": 1,
     "model_config": ModelConfig.to_dict(),
     "meta": {...JSON-able: feature_config, classes, label_map, speakers, fold, task, ...},
     "state_dict": {name: tensor}}

State-dict keys under `upstream_top.` belong to a trainable upstream top that the trainer
adds; all other keys are the model's own ("head" keys) and must match it exactly.
"""

from __future__ import annotations

import json
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import Tensor, nn

from sier.errors import CheckpointError, ModelError
from sier.fileio import atomic_path
from sier.models.config import ModelConfig

CHECKPOINT_FORMAT = "sier-checkpoint"
CHECKPOINT_VERSION = 1
UPSTREAM_PREFIX = "upstream_top."


@dataclass
class Checkpoint:
    """A loaded checkpoint: model config, all weights (CPU unless map_location says
    otherwise), and the JSON-able meta dict the trainer stored."""

    model_config: ModelConfig
    state_dict: dict[str, Tensor]
    meta: dict[str, Any]
    path: Path | None = field(default=None, compare=False)  # where it was loaded from, for messages

    def prefixed_state_dict(self, prefix: str) -> dict[str, Tensor]:
        """Weights whose key starts with `prefix`, with the prefix removed."""
        return {k[len(prefix) :]: v for k, v in self.state_dict.items() if k.startswith(prefix)}

    def head_state_dict(self) -> dict[str, Tensor]:
        """The model's own weights: every key not under UPSTREAM_PREFIX."""
        return {k: v for k, v in self.state_dict.items() if not k.startswith(UPSTREAM_PREFIX)}

    @property
    def dimensions_only(self) -> bool:
        """Whether the model learned arousal, valence and dominance only (`sier train --task
        dimensions`): its class head is untrained, and no class or probability of it may be shown."""
        return self.meta.get("task") == "dimensions"

    def has_upstream_top(self) -> bool:
        """Whether the checkpoint carries weights of a trainable upstream top."""
        return any(k.startswith(UPSTREAM_PREFIX) for k in self.state_dict)

    def build_model(self) -> nn.Module:
        """Rebuild the model from model_config, load the head weights strictly, eval mode.

        The upstream-top weights are not loaded here; get them with
        `prefixed_state_dict(UPSTREAM_PREFIX)`.
        """
        from sier.models import build_model  # the package imports this module

        model = build_model(self.model_config)
        try:
            model.load_state_dict(self.head_state_dict(), strict=True)
        except RuntimeError as exc:
            raise CheckpointError(
                f"{self.path or 'checkpoint'}: its weights do not match its model config ({exc}); "
                "the file was probably edited or written by another tool; retrain or use the original file"
            ) from exc
        return model.eval()


def _state_of(part: nn.Module | Mapping[str, Tensor]) -> dict[str, Tensor]:
    state = part.state_dict() if isinstance(part, nn.Module) else part
    return {str(k): v.detach().cpu() for k, v in state.items()}


def save_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    model_config: ModelConfig,
    meta: dict,
    *,
    upstream_top: nn.Module | Mapping[str, Tensor] | None = None,
) -> None:
    """Write a sier checkpoint atomically (the file is absent or complete).

    model: the BaselineGRU/EnhancedGRU built from `model_config` (its weights must load
    back into `build_model(model_config)` strictly; checked here, so a mismatch fails at
    save time, not months later). meta: JSON-able dict (tuples become lists).
    upstream_top: optional module or state dict stored under the `upstream_top.` prefix.
    Raises CheckpointError.
    """
    if not isinstance(model_config, ModelConfig):
        raise CheckpointError(f"{path}: model_config must be a ModelConfig, got {type(model_config).__name__}")
    try:
        meta = json.loads(json.dumps(meta))
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: meta must be JSON-able (str, numbers, lists, dicts): {exc}") from exc
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: meta must be a dict, got {type(meta).__name__}")
    state = _state_of(model)
    if any(k.startswith(UPSTREAM_PREFIX) for k in state):
        raise CheckpointError(f"{path}: model keys may not start with {UPSTREAM_PREFIX!r}; pass upstream_top=")
    try:
        Checkpoint(model_config, state, meta, Path(path)).build_model()  # strict check of the head keys
    except CheckpointError as exc:
        raise CheckpointError(
            f"{exc}. Pass the head model built from model_config (e.g. SERModel.head), and a trainable "
            "upstream top as upstream_top="
        ) from None
    if upstream_top is not None:
        state.update({UPSTREAM_PREFIX + k: v for k, v in _state_of(upstream_top).items()})
    payload = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "model_config": model_config.to_dict(),
        "meta": meta,
        "state_dict": state,
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def _read(path: Path, map_location: Any) -> Any:
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file; check the path (e.g. models/best_model_fold_<k>.pth)")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        if "GLOBAL" in str(exc) or "Unsupported class" in str(exc):
            raise CheckpointError(
                f"{path}: refused: the file holds Python objects other than tensors and plain data, so "
                "loading it could run code. sier loads only its own checkpoints; re-save the weights "
                "with sier.models.save_checkpoint from a trusted session"
            ) from None
        raise CheckpointError(
            f"{path}: not a readable torch file (its bytes are not a torch.save archive of plain data); "
            "pass a sier checkpoint (.pth)"
        ) from None
    except Exception as exc:  # torch raises RuntimeError, EOFError, ... on foreign bytes
        raise CheckpointError(
            f"{path}: not a readable torch file ({type(exc).__name__}: {exc}); pass a sier checkpoint (.pth)"
        ) from None


def load_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> Checkpoint:
    """Read a sier checkpoint without executing any code from the file.

    Raises CheckpointError, naming the file and the fix, for a missing file, foreign bytes,
    a pickle with code in it, a bare state_dict, another format version or a bad config.
    """
    path = Path(path)
    raw = _read(path, map_location)
    if not isinstance(raw, dict) or raw.get("format") != CHECKPOINT_FORMAT:
        hint = ""
        if isinstance(raw, dict) and raw and all(isinstance(v, Tensor) for v in raw.values()):
            hint = " It looks like a bare state_dict, which lacks the model config needed to rebuild the model."
        raise CheckpointError(
            f"{path}: not a sier checkpoint (no format={CHECKPOINT_FORMAT!r} marker).{hint} "
            "Train with sier, or wrap the weights with sier.models.save_checkpoint"
        )
    if raw.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"{path}: sier checkpoint format version {raw.get('version')!r}; this sier reads version "
            f"{CHECKPOINT_VERSION}; use the sier version that wrote it (meta.sier_version) or retrain"
        )
    missing = [k for k in ("model_config", "meta", "state_dict") if k not in raw]
    state, meta = raw.get("state_dict"), raw.get("meta")
    if missing or not isinstance(meta, dict) or not isinstance(state, dict):
        raise CheckpointError(f"{path}: damaged sier checkpoint (missing or malformed {missing or 'meta/state_dict'})")
    if not all(isinstance(k, str) and isinstance(v, Tensor) for k, v in state.items()):
        raise CheckpointError(f"{path}: damaged sier checkpoint (state_dict holds non-tensor values)")
    try:
        config = ModelConfig.from_dict(raw["model_config"])
    except ModelError as exc:
        raise CheckpointError(f"{path}: its model config is not valid for this sier: {exc}") from None
    return Checkpoint(config, dict(state), meta, path)

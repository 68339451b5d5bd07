"""Upstream encoders (HuBERT, wav2vec 2.0, WavLM, data2vec-audio via transformers) split into
a frozen prefix and a trainable top.

The prefix (conv feature encoder + feature projection + positional conv embedding + the
pre-encoder layer norm where the model has one + transformer layers 1..N) runs once per
utterance without padding; its output is what the cache stores. The top (layers N+1..L and
the final layer norm of "stable layer norm" models) runs on padded batches (on their valid
frames only where the model family allows, see sier.features.packing) and is trained with
the head.

Layer numbering follows HF `hidden_states`: index 0 is the input of the first transformer
layer, index k the output of layer k. `last_hidden_state` differs from `hidden_states[L]`
only for stable-layer-norm models (large checkpoints), where it has the final layer norm.
"""

from __future__ import annotations

import copy
import logging
from typing import Any, Sequence

import torch
from torch import Tensor, nn

from sier.dropout import use_fast_dropout
from sier.errors import FeatureError
from sier.features.config import FeatureConfig
from sier.features.loading import SUPPORTED_TYPES, Preprocessing, num_layers, resolve_freeze
from sier.features.packing import (
    PACKABLE_TYPES,
    PACKED_ATTENTION,
    FrameLayout,
    register_packed_attention,
)
from sier.tracing import exporting

log = logging.getLogger(__name__)

# Dropouts of the fine-tuned top layers. "finetune" is the HuBERT / wav2vec 2.0 fine-tuning
# recipe (fairseq examples/hubert/config/finetune: dropout 0, attention 0, activation 0.1);
# "pretrained" keeps the values of the upstream's config, which are its pre-training ones.
# Attention dropout above 0 also makes SDPA on CPU materialise every [B, H, T, T] map.
TOP_DROPOUTS: dict[str, dict[str, float]] = {
    "finetune": {"hidden_dropout": 0.0, "attention_dropout": 0.0, "activation_dropout": 0.1},
    "pretrained": {},
}


# ---------------------------------------------------------------- the split


def is_stable(config) -> bool:
    """True for "stable layer norm" models (pre-norm layers, final norm after the last layer);
    data2vec-audio configs have no such field and are post-norm."""
    return bool(getattr(config, "do_stable_layer_norm", False))


def _layer_class(config, stable: bool):
    if config.model_type == "hubert":
        from transformers.models.hubert import modeling_hubert as m

        return m.HubertEncoderLayerStableLayerNorm if stable else m.HubertEncoderLayer
    if config.model_type == "wav2vec2":
        from transformers.models.wav2vec2 import modeling_wav2vec2 as m

        return m.Wav2Vec2EncoderLayerStableLayerNorm if stable else m.Wav2Vec2EncoderLayer
    if config.model_type == "wavlm":
        from transformers.models.wavlm import modeling_wavlm as m

        return m.WavLMEncoderLayerStableLayerNorm if stable else m.WavLMEncoderLayer
    if config.model_type == "data2vec-audio":
        from transformers.models.data2vec import modeling_data2vec_audio as m

        return m.Data2VecAudioEncoderLayer
    raise FeatureError(f"model type {config.model_type!r} is not supported; use one of {', '.join(SUPPORTED_TYPES)}.")


def _layer_mask(config, hidden: Tensor, valid: Tensor, relative_bias: bool):
    """The attention mask transformers' layers take for a padded batch `hidden [B, T, D]` whose
    valid frames are `valid [B, T]`: WavLM takes the 2D mask as key padding, the others an
    additive 4D mask; None when nothing is padded."""
    if bool(valid.all()):
        return None
    if relative_bias:
        return valid.long()
    from transformers.masking_utils import create_bidirectional_mask

    return create_bidirectional_mask(config=config, inputs_embeds=hidden, attention_mask=valid)


def _run_layers(layers, hidden: Tensor, mask, relative_bias: bool, collect: list[Tensor] | None = None) -> Tensor:
    """Run transformer layers; WavLM layers pass their relative position bias on to the next."""
    position_bias = None
    for layer in layers:
        if relative_bias:
            hidden, position_bias = layer(hidden, attention_mask=mask, position_bias=position_bias)
        else:
            hidden = layer(hidden, attention_mask=mask)
        if collect is not None:
            collect.append(hidden)
    return hidden


class FrozenPrefix(nn.Module):
    """Waveform -> hidden states of the frozen part: `[1, samples]` -> `[frames, dim]`
    (or `[L+1, frames, dim]` when layer-weighted). One utterance at a time, no padding."""

    def __init__(self, model: nn.Module, freeze_layers: int, output: str | int, preprocessing: Preprocessing,
                 dtype: str = "float32"):
        """`output`: "prefix" (input of layer freeze_layers+1), "last" (last_hidden_state),
        "all" (every hidden state) or an int k (hidden_states[k])."""
        super().__init__()
        config = model.config
        self.config = config  # for the attention mask of padded batches
        self.stable = is_stable(config)
        self.relative_bias = config.model_type == "wavlm"
        self.do_normalize = preprocessing.do_normalize
        self.autocast_dtype = getattr(torch, dtype)
        self.output = output
        run = freeze_layers if not isinstance(output, int) else output
        self.feature_extractor = model.feature_extractor
        self.feature_projection = model.feature_projection
        self.pos_conv_embed = model.encoder.pos_conv_embed
        self.layer_norm = model.encoder.layer_norm  # pre-encoder norm, or the final one when stable
        self.layers = nn.ModuleList(list(model.encoder.layers[:run]))
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "FrozenPrefix":
        return super().train(False)  # frozen: dropout stays off whatever the caller does

    def embed(self, waveform: Tensor) -> Tensor:
        """`[1, samples]` -> input of the first transformer layer `[1, frames, dim]`."""
        if self.do_normalize:
            waveform = (waveform - waveform.mean()) / torch.sqrt(waveform.var(unbiased=False) + 1e-7)
        features = self.feature_extractor(waveform).transpose(1, 2)
        hidden = self.feature_projection(features)
        if isinstance(hidden, tuple):  # wav2vec2 / WavLM also return the normed conv features
            hidden = hidden[0]
        hidden = hidden + self.pos_conv_embed(hidden)
        return hidden if self.stable else self.layer_norm(hidden)

    def forward(self, waveform: Tensor) -> Tensor:
        """`waveform [1, samples]` at SAMPLE_RATE -> float32 `[frames, dim]` or `[L+1, frames, dim]`."""
        return self.forward_batch([waveform])[0]

    def forward_batch(self, waveforms: Sequence[Tensor]) -> list[Tensor]:
        """Several `[1, samples]` waveforms -> what `forward` gives for each, within float tolerance.

        The conv encoder runs on each utterance alone (its group norm spans the time axis, so
        padding would change the features); the transformer layers, most of the compute, run
        on the padded batch with an attention mask, where larger matrix products pay."""
        enabled = self.autocast_dtype != torch.float32
        with torch.autocast(waveforms[0].device.type, dtype=self.autocast_dtype, enabled=enabled):
            embedded = [self.embed(w)[0] for w in waveforms]
            lengths = [e.shape[0] for e in embedded]
            hidden = nn.utils.rnn.pad_sequence(embedded, batch_first=True)
            frames = torch.arange(hidden.shape[1], device=hidden.device)
            valid = frames[None, :] < torch.tensor(lengths, device=hidden.device)[:, None]
            out = self.run_layers(hidden, _layer_mask(self.config, hidden, valid, self.relative_bias))
        return [out[i, ..., :n, :].float() for i, n in enumerate(lengths)]

    def run_layers(self, hidden: Tensor, mask=None) -> Tensor:
        """Embedded batch `[B, frames, dim]` (`mask`: from `_layer_mask`, None when unpadded)
        -> the selected output `[B, frames, dim]` or `[B, L+1, frames, dim]`."""
        states = [hidden] if self.output == "all" else None
        hidden = _run_layers(self.layers, hidden, mask, self.relative_bias, states)
        if self.output == "all":
            return torch.stack(states, dim=1)  # as HF hidden_states
        if self.output == "last" and self.stable:
            return self.layer_norm(hidden)
        return hidden


class TrainableTop(nn.Module):
    """Transformer layers N+1..L (+ final layer norm of stable-layer-norm models) on padded batches."""

    def __init__(self, config, first_layer: int, attn_implementation: str = "sdpa"):
        """Random init; use `from_upstream` to copy weights or load a state dict."""
        super().__init__()
        config._attn_implementation = attn_implementation
        self.mask_config = copy.copy(config)  # masks are built for the real attention function
        self.packs = config.model_type in PACKABLE_TYPES
        self.pack_frames = True  # False: run on the padded batch even where packing works (for comparisons)
        if self.packs:  # see sier.features.packing
            register_packed_attention()
            config._attn_implementation = PACKED_ATTENTION
        self.config = config
        self.first_layer = first_layer
        self.stable = is_stable(config)
        self.relative_bias = config.model_type == "wavlm"
        layer_cls = _layer_class(config, self.stable)
        count = num_layers(config) - first_layer
        if count <= 0:
            raise FeatureError(f"nothing to train: first_layer={first_layer} of {num_layers(config)} layers.")
        if self.relative_bias:  # the first top layer computes the relative position bias for the rest
            layers = [layer_cls(config, has_relative_position_bias=(i == 0)) for i in range(count)]
        else:
            layers = [layer_cls(config) for _ in range(count)]
        self.layers = nn.ModuleList(layers)
        use_fast_dropout(self.layers)  # transformers' nn.Dropout draws its CPU mask ~4x slower
        self.final_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps) if self.stable else None

    @property
    def attn_implementation(self) -> str:
        """The model's own attention function ("sdpa", "eager"), which the packed one calls."""
        return self.mask_config._attn_implementation

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        if self.packs:  # unpickled in another process (DDP spawn): its transformers has not seen the name
            register_packed_attention()

    @classmethod
    def from_upstream(cls, model: nn.Module, freeze_layers: int, dropouts: str = "finetune") -> "TrainableTop":
        """A top holding copies of `model`'s layers freeze_layers+1..L (and its final norm),
        with the dropouts of TOP_DROPOUTS[dropouts] (kept in its config, so in `spec()`)."""
        if dropouts not in TOP_DROPOUTS:
            raise FeatureError(f"unknown upstream dropouts {dropouts!r}; use one of {sorted(TOP_DROPOUTS)}.")
        config = model.config.__class__.from_dict({**model.config.to_dict(), **TOP_DROPOUTS[dropouts]})
        top = cls(config, freeze_layers, model.config._attn_implementation or "sdpa")
        source = model.encoder.layers
        for i, layer in enumerate(top.layers):
            missing, unexpected = layer.load_state_dict(source[freeze_layers + i].state_dict(), strict=False)
            if unexpected or (missing and not (i == 0 and all("rel_attn_embed" in k for k in missing))):
                raise FeatureError(f"cannot copy layer {freeze_layers + i + 1}: missing {missing}, unexpected {unexpected}")
        if top.relative_bias and freeze_layers > 0:
            bias = source[0].attention.rel_attn_embed
            top.layers[0].attention.rel_attn_embed.load_state_dict(bias.state_dict())
        if top.final_norm is not None:
            top.final_norm.load_state_dict(model.encoder.layer_norm.state_dict())
        return top.train(model.training)

    def spec(self) -> dict[str, Any]:
        """JSON-able description that `build_top` rebuilds this module from (weights not included)."""
        return {
            "model_type": self.config.model_type,
            "config": self.config.to_dict(),
            "first_layer": self.first_layer,
            "attn_implementation": self.attn_implementation,
        }

    def forward(self, hidden: Tensor, lengths: Tensor) -> Tensor:
        """`hidden [B, T, D]` (cached prefix output, padded), `lengths [B]` frames -> `[B, T, D]`;
        padded frames come out as zeros and never affect the valid ones.

        HuBERT, wav2vec 2.0 and data2vec-audio tops run on the valid frames only, padded
        just for the attention (sier.features.packing); WavLM runs on the padded batch."""
        valid = torch.arange(hidden.shape[1], device=hidden.device)[None, :] < lengths.to(hidden.device)[:, None]
        mask = _layer_mask(self.mask_config, hidden, valid, self.relative_bias)
        if self.packs:
            layout = FrameLayout(self.attn_implementation, mask, *valid.shape)
            # an export traces the padded path: no ops whose sizes depend on the lengths
            if mask is not None and self.pack_frames and not exporting():
                layout.index = valid.reshape(-1).nonzero().squeeze(1)
                packed = _run_layers(self.layers, layout.pack(hidden)[None], layout, False)
                return layout.unpack(self._finish(packed)[0])
            mask = layout  # the packed attention function runs the real one on the padded batch
        hidden = self._finish(_run_layers(self.layers, hidden, mask, self.relative_bias))
        return hidden * valid[..., None].to(hidden.dtype)

    def _finish(self, hidden: Tensor) -> Tensor:
        return self.final_norm(hidden) if self.final_norm is not None else hidden


def build_top(spec: dict[str, Any]) -> TrainableTop:
    """Rebuild a TrainableTop (random weights) from `TrainableTop.spec()`; load its state dict after."""
    from transformers import CONFIG_MAPPING

    if spec.get("model_type") not in SUPPORTED_TYPES:
        raise FeatureError(f"top spec has unsupported model type {spec.get('model_type')!r}.")
    config = CONFIG_MAPPING[spec["model_type"]].from_dict(dict(spec["config"]))
    return TrainableTop(config, int(spec["first_layer"]), spec.get("attn_implementation") or "sdpa")


def split_upstream(model: nn.Module, cfg: FeatureConfig, preprocessing: Preprocessing | None = None,
                   top_dropouts: str = "finetune") -> tuple[FrozenPrefix, TrainableTop | None]:
    """Split `model` at cfg.freeze_layers: the frozen prefix (shares `model`'s modules) and a
    trainable top (a copy of the remaining layers, dropouts from TOP_DROPOUTS[top_dropouts]),
    or None when the whole upstream is frozen.

    `preprocessing` defaults to the one `load_upstream` attached to the model."""
    preprocessing = preprocessing or getattr(model, "sier_preprocessing", None)
    if preprocessing is None:
        log.warning("no preprocessing given for the upstream; assuming do_normalize=False")
        preprocessing = Preprocessing(do_normalize=False)
    n = resolve_freeze(cfg, model.config)
    if n < num_layers(model.config):
        output: str | int = "prefix"
    else:
        output = "all" if cfg.layer_weighted else ("last" if cfg.layer is None else cfg.layer)
    prefix = FrozenPrefix(model, n, output, preprocessing, cfg.dtype)
    top = TrainableTop.from_upstream(model, n, top_dropouts) if n < num_layers(model.config) else None
    return prefix, top

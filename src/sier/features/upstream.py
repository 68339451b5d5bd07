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
import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import Tensor, nn

from sier.constants import SAMPLE_RATE
from sier.dropout import use_fast_dropout
from sier.errors import FeatureError
from sier.features.config import FeatureConfig
from sier.features.packing import (
    PACKABLE_TYPES,
    PACKED_ATTENTION,
    FrameLayout,
    register_packed_attention,
)
from sier.tracing import exporting

log = logging.getLogger(__name__)

SUPPORTED_TYPES = ("hubert", "wav2vec2", "wavlm", "data2vec-audio")
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".json")
# Dropouts of the fine-tuned top layers. "finetune" is the HuBERT / wav2vec 2.0 fine-tuning
# recipe (fairseq examples/hubert/config/finetune: dropout 0, attention 0, activation 0.1);
# "pretrained" keeps the values of the upstream's config, which are its pre-training ones.
# Attention dropout above 0 also makes SDPA on CPU materialise every [B, H, T, T] map.
TOP_DROPOUTS: dict[str, dict[str, float]] = {
    "finetune": {"hidden_dropout": 0.0, "attention_dropout": 0.0, "activation_dropout": 0.1},
    "pretrained": {},
}


@dataclass(frozen=True)
class Preprocessing:
    """What the upstream's feature extractor does to the waveform before the model."""

    do_normalize: bool  # zero-mean unit-variance per utterance before the conv encoder


# ---------------------------------------------------------------- loading


def hub_offline() -> bool:
    """True when HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) is set in the environment."""
    flags = (os.environ.get("HF_HUB_OFFLINE", ""), os.environ.get("TRANSFORMERS_OFFLINE", ""))
    return any(v.strip().upper() in {"1", "ON", "YES", "TRUE"} for v in flags)


def _local_folder(name_or_path: str) -> Path | None:
    """The folder `name_or_path` names, None for a hub id; FeatureError for a missing path."""
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path.resolve()
    if path.exists():
        raise FeatureError(f"{path}: is a file; pass the folder written by save_pretrained (config.json + weights).")
    looks_like_path = name_or_path.startswith((".", "/", "~")) or name_or_path.count("/") > 1 or "\\" in name_or_path
    if looks_like_path:
        raise FeatureError(f"{name_or_path}: model folder not found; check the path.")
    return None


def _from_pretrained(loader: Any, name_or_path: str, revision: str | None, what: str) -> Any:
    """Call `loader.from_pretrained`, cache first; turn OSError into a FeatureError that says what to do."""
    folder = _local_folder(name_or_path)
    if folder is not None:
        try:
            return loader.from_pretrained(str(folder), local_files_only=True)
        except (OSError, ValueError) as exc:
            raise FeatureError(f"{folder}: cannot load the {what} ({exc}); pass a folder written by save_pretrained.") from exc
    try:  # the local hub cache first: no network, fails in milliseconds
        return loader.from_pretrained(name_or_path, revision=revision, local_files_only=True)
    except OSError as exc:
        if hub_offline():
            raise FeatureError(
                f"{name_or_path}: the {what} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set. "
                f"Download it on a machine with network (`hf download {name_or_path}`) or pass a local folder "
                "written by save_pretrained as --upstream."
            ) from exc
    try:
        return loader.from_pretrained(name_or_path, revision=revision)
    except OSError as exc:
        raise FeatureError(
            f"{name_or_path}: cannot download the {what} ({exc}); check the id and your network, "
            "or pass a local folder written by save_pretrained."
        ) from exc


def upstream_config(name_or_path: str, revision: str | None = None):
    """The transformers config of an upstream (no weights loaded); FeatureError if unsupported."""
    from transformers import AutoConfig

    config = _from_pretrained(AutoConfig, name_or_path, revision, "model config")
    if config.model_type not in SUPPORTED_TYPES:
        raise FeatureError(
            f"{name_or_path}: model type {config.model_type!r} is not supported; use one of {', '.join(SUPPORTED_TYPES)}."
        )
    if getattr(config, "add_adapter", False):
        raise FeatureError(f"{name_or_path}: models with an output adapter (add_adapter=True) are not supported.")
    return config


def load_upstream(name_or_path: str, revision: str | None = None) -> tuple[nn.Module, Preprocessing]:
    """Load an upstream in eval mode with its preprocessing; never downloads when HF_HUB_OFFLINE is set.

    `name_or_path` is a hub id (cache first, then the network unless offline) or a local folder
    written by `save_pretrained`. The waveform normalisation comes from the model's own feature
    extractor config (preprocessor_config.json); a missing one means none (warned).
    """
    from transformers import AutoModel

    upstream_config(name_or_path, revision)  # fail early and clearly on an unsupported model
    model = _from_pretrained(AutoModel, name_or_path, revision, "model")
    model.eval()
    preprocessing = load_preprocessing(name_or_path, revision)
    model.sier_preprocessing = preprocessing  # read by split_upstream when not passed explicitly
    return model, preprocessing


def load_preprocessing(name_or_path: str, revision: str | None = None) -> Preprocessing:
    """The upstream's waveform preprocessing, read from its feature extractor config.

    FeatureError when that config expects another sample rate than SAMPLE_RATE; a missing
    config gives do_normalize=False with a warning."""
    from transformers import AutoFeatureExtractor

    try:
        extractor = _from_pretrained(AutoFeatureExtractor, name_or_path, revision, "feature extractor config")
    except FeatureError:
        log.warning("%s: no feature extractor config (preprocessor_config.json); assuming the waveform "
                    "is not normalised (do_normalize=False)", name_or_path)
        return Preprocessing(do_normalize=False)
    rate = getattr(extractor, "sampling_rate", SAMPLE_RATE)
    if rate != SAMPLE_RATE:
        raise FeatureError(f"{name_or_path}: the model expects {rate} Hz audio; sier feeds {SAMPLE_RATE} Hz.")
    return Preprocessing(do_normalize=bool(getattr(extractor, "do_normalize", False)))


def upstream_identity(cfg: FeatureConfig) -> dict[str, Any]:
    """What identifies the upstream's weights, for cache keys: the hub id, revision and resolved
    commit, or for a local folder its resolved path and a hash of its config/weight file stats."""
    if cfg.is_fbank:
        return {"upstream": cfg.upstream}
    folder = _local_folder(cfg.upstream)
    if folder is not None:
        stats = sorted(
            (p.name, p.stat().st_size, p.stat().st_mtime_ns)
            for p in folder.iterdir()
            if p.is_file() and p.name.endswith(_WEIGHT_SUFFIXES)
        )
        digest = hashlib.sha256(repr(stats).encode()).hexdigest()[:16]
        return {"upstream": str(folder), "files": digest}
    config = upstream_config(cfg.upstream, cfg.revision)
    return {"upstream": cfg.upstream, "revision": cfg.revision, "commit": getattr(config, "_commit_hash", None)}


# ---------------------------------------------------------------- derived sizes


def num_layers(config) -> int:
    return int(config.num_hidden_layers)


def resolve_freeze(cfg: FeatureConfig, config) -> int:
    """freeze_layers as a number 0..L (None means L); FeatureError for an impossible config."""
    total = num_layers(config)
    n = total if cfg.freeze_layers is None else cfg.freeze_layers
    if n > total:
        raise FeatureError(f"freeze_layers={n} but {cfg.upstream} has only {total} transformer layers.")
    if n < total and (cfg.layer is not None or cfg.layer_weighted):
        raise FeatureError("layer and layer_weighted need the whole upstream frozen (freeze_layers unset or = L).")
    if cfg.layer is not None and not 0 <= cfg.layer <= total:
        raise FeatureError(f"layer={cfg.layer} is out of range 0..{total} for {cfg.upstream}.")
    return n


def feature_dim(cfg: FeatureConfig) -> int:
    """Size of one cached frame vector (hidden size, or the number of mel bands for fbank)."""
    from sier.constants import FBANK_N_MELS

    return FBANK_N_MELS if cfg.is_fbank else int(upstream_config(cfg.upstream, cfg.revision).hidden_size)


def num_cached_layers(cfg: FeatureConfig) -> int:
    """1, or L+1 when the whole upstream is frozen and layer-weighted."""
    if cfg.is_fbank or not cfg.layer_weighted:
        return 1
    return num_layers(upstream_config(cfg.upstream, cfg.revision)) + 1


def conv_stride(config) -> int:
    """Samples per frame of the conv feature encoder: the product of its strides."""
    stride = 1
    for s in config.conv_stride:
        stride *= int(s)
    return stride


def frames_per_second(cfg: FeatureConfig) -> float:
    """Frame rate of the features: SAMPLE_RATE over the conv stride (50.0 for HuBERT), or 1/hop for fbank."""
    from sier.constants import FBANK_HOP_S

    if cfg.is_fbank:
        return 1.0 / FBANK_HOP_S
    return SAMPLE_RATE / conv_stride(upstream_config(cfg.upstream, cfg.revision))


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

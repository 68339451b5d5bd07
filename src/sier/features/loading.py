"""Loading an upstream encoder (HuBERT, wav2vec 2.0, WavLM, data2vec-audio) through transformers
from a hub id or a local save_pretrained folder, offline-safe, and the sizes derived from its
config (layers, hidden size, frame rate) that the cache and the models need."""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from sier.constants import SAMPLE_RATE
from sier.errors import FeatureError
from sier.features.config import FeatureConfig

log = logging.getLogger(__name__)

SUPPORTED_TYPES = ("hubert", "wav2vec2", "wavlm", "data2vec-audio")
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".json")


@dataclass(frozen=True)
class Preprocessing:
    """What the upstream's feature extractor does to the waveform before the model."""

    do_normalize: bool  # zero-mean unit-variance per utterance before the conv encoder


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

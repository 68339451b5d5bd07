"""Compute frozen-prefix features for a manifest into the cache, resumably."""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from sier.audio import SkipReport, iter_audio
from sier.constants import FBANK_HOP_S, FBANK_N_MELS, FBANK_WIN_S, SAMPLE_RATE
from sier.errors import FeatureError
from sier.features.augment import WaveAugment
from sier.features.cache import (
    FORMAT_VERSION,
    FeatureStore,
    open_key_dir,
    store_entries,
    write_entry,
)
from sier.features.config import FeatureConfig
from sier.features.fbank import FbankFrontend
from sier.features.upstream import (
    TrainableTop,
    load_upstream,
    num_layers,
    resolve_freeze,
    split_upstream,
    upstream_config,
    upstream_identity,
)

log = logging.getLogger(__name__)


def cache_key(cfg: FeatureConfig, augment: WaveAugment | None = None) -> dict[str, Any]:
    """Everything cached features depend on, as JSON-able data (see sier.features.cache)."""
    key: dict[str, Any] = {"format": FORMAT_VERSION, **upstream_identity(cfg), "sample_rate": SAMPLE_RATE}
    if augment is not None:
        key["augment"] = augment.name
    if cfg.is_fbank:
        key.update(freeze_layers=0, select="fbank", dtype="float32",
                   fbank=[FBANK_N_MELS, FBANK_WIN_S, FBANK_HOP_S])
        return key
    config = upstream_config(cfg.upstream, cfg.revision)
    n = resolve_freeze(cfg, config)
    if n < num_layers(config):
        select: str | int = "prefix"
    else:
        select = "all" if cfg.layer_weighted else ("last" if cfg.layer is None else cfg.layer)
    key.update(freeze_layers=n, num_layers=num_layers(config), select=select, dtype=cfg.dtype)
    return key


def build_frontend(cfg: FeatureConfig) -> tuple[nn.Module, TrainableTop | None]:
    """Load the upstream of `cfg` and split it: (frozen prefix or FbankFrontend, trainable top or None)."""
    if cfg.is_fbank:
        return FbankFrontend(), None
    model, preprocessing = load_upstream(cfg.upstream, cfg.revision)
    return split_upstream(model, cfg, preprocessing)


def _prefix_device(prefix: nn.Module) -> torch.device:
    tensor = next(prefix.parameters(), None)
    if tensor is None:
        tensor = next(prefix.buffers(), None)
    return tensor.device if tensor is not None else torch.device("cpu")


def compute_features(waveform: np.ndarray, prefix: nn.Module) -> Tensor:
    """Float32 mono waveform `[samples]` at SAMPLE_RATE -> float32 CPU tensor `[frames, dim]`
    (or `[layers, frames, dim]`), computed without padding and without a cache."""
    x = torch.as_tensor(np.asarray(waveform, dtype=np.float32)).reshape(1, -1)
    with torch.inference_mode():
        return prefix(x.to(_prefix_device(prefix))).float().cpu()


def default_device() -> torch.device:
    """CUDA (the LOCAL_RANK device under a multi-process launcher) when available, else CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)) % torch.cuda.device_count())
    return torch.device("cpu")


def _feature_shape(cfg: FeatureConfig, key: dict[str, Any]) -> tuple[int, int]:
    if cfg.is_fbank:
        return FBANK_N_MELS, 1
    config = upstream_config(cfg.upstream, cfg.revision)
    return int(config.hidden_size), (key["num_layers"] + 1 if key["select"] == "all" else 1)


def open_store(utterances: Sequence[Any], cfg: FeatureConfig, cache_dir: str | os.PathLike,
               report: SkipReport | None = None, augment: WaveAugment | None = None) -> FeatureStore:
    """The FeatureStore of `utterances` under `cfg` (and `augment`, if any; nothing computed).
    Utterances whose audio file is missing go to `report` (or raise FeatureError when no
    report is given)."""
    key = cache_key(cfg, augment)
    directory = open_key_dir(cache_dir, key)
    entries = {}
    for utt in utterances:
        try:
            entries.update(store_entries(directory, [utt]))
        except FeatureError as exc:
            if report is None:
                raise
            report.add(str(utt.path), str(exc))
    dim, layers = _feature_shape(cfg, key)
    return FeatureStore(directory, entries, dim, layers, skipped=report)


def extract_features(utterances: Sequence[Any], cfg: FeatureConfig, cache_dir: str | os.PathLike,
                     progress: bool = True, rank: int = 0, world_size: int = 1,
                     device: str | torch.device | None = None,
                     augment: WaveAugment | None = None) -> FeatureStore:
    """Compute the features of `utterances` (Utterance records) that are not cached yet.

    augment: a waveform transform applied before the front-end; its features are cached
    under their own key (see sier.features.augment).

    Rank r handles utterances i with i % world_size == r; the other ranks' entries appear once
    they finish (synchronise before reading them). Unreadable audio is skipped and reported in
    `store.skipped`. Loads the upstream only when something is missing.
    """
    report = SkipReport()
    store = open_store(utterances, cfg, cache_dir, report, augment)
    mine = [u for i, u in enumerate(utterances) if i % world_size == rank and u.id in store._entries]
    todo: dict[str, list[Any]] = {}  # audio path -> its utterances whose entries are missing
    for utt in mine:
        if not store.has(utt.id):
            todo.setdefault(str(utt.path), []).append(utt)
    if not todo:
        log.info("all %d utterances cached in %s", len(mine), store.directory)
        return store
    device = torch.device(device) if device is not None else default_device()
    prefix, _ = build_frontend(cfg)
    prefix.to(device)
    _extract(todo, store, prefix, progress, augment)
    if report.skipped:
        log.warning("%s", report.summary())
    return store


def _extract(todo: dict[str, list[Any]], store: FeatureStore, prefix: nn.Module, progress: bool,
             augment: WaveAugment | None = None) -> None:
    from tqdm.auto import tqdm

    total_s = sum(float(getattr(utts[0], "duration_s", 0.0) or 0.0) for utts in todo.values())
    # tqdm shows files/s itself; the postfix adds audio seconds. Not a terminal (a log file):
    # one line every 30 s instead of one per file.
    interval = 0.1 if sys.stderr.isatty() else 30.0
    desc = f"features ({augment.name})" if augment is not None else "features"
    bar = tqdm(total=len(todo), unit="file", desc=desc, disable=not progress, mininterval=interval)
    done_s, start = 0.0, time.perf_counter()
    try:
        for path, samples in iter_audio(todo.keys(), store.skipped):
            if augment is not None:
                samples = augment.apply(samples, seed_text=path)
            features = compute_features(samples, prefix).numpy()
            for utt in todo[path]:
                write_entry(store.path(utt.id), features)
            done_s += samples.size / SAMPLE_RATE
            rate = done_s / max(time.perf_counter() - start, 1e-9)
            # set before update(), which redraws (at most every `interval`): the bar shows this file's rate
            bar.set_postfix_str(f"{done_s:.0f}/{total_s:.0f} audio-s, {rate:.1f} audio-s/s", refresh=False)
            bar.update(1)
    finally:
        bar.close()

"""Compute frozen-prefix features for a manifest into the cache, resumably."""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any, Callable, Iterable, Iterator, Sequence, TypeVar

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
from sier.features.loading import load_upstream, num_layers, resolve_freeze, upstream_config, upstream_identity
from sier.features.upstream import TrainableTop, split_upstream

log = logging.getLogger(__name__)

T = TypeVar("T")
# The upstream's transformer layers run on padded batches of utterances of similar length (the
# extraction goes through them shortest first): at most EXTRACT_BATCH_S of padded audio,
# EXTRACT_MAX_UTTERANCES utterances and EXTRACT_MAX_PADDING of padding per batch. Larger
# products run nearer the matmul peak; padding is work thrown away.
EXTRACT_BATCH_S = 60.0
EXTRACT_MAX_UTTERANCES = 16
EXTRACT_MAX_PADDING = 0.1


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
    return compute_features_batch([waveform], prefix)[0]


def compute_features_batch(waveforms: Sequence[np.ndarray], prefix: nn.Module) -> list[Tensor]:
    """`compute_features` of several waveforms; a FrozenPrefix runs its transformer layers on
    them as one padded batch (see FrozenPrefix.forward_batch), other front-ends one by one."""
    device = _prefix_device(prefix)
    xs = [torch.as_tensor(np.asarray(w, dtype=np.float32)).reshape(1, -1).to(device) for w in waveforms]
    with torch.inference_mode():
        outs = prefix.forward_batch(xs) if hasattr(prefix, "forward_batch") else [prefix(x) for x in xs]
    return [out.float().cpu() for out in outs]


def padded_groups(items: Iterable[T], size: Callable[[T], int], budget: int, max_items: int = EXTRACT_MAX_UTTERANCES,
                  max_padding: float = EXTRACT_MAX_PADDING) -> Iterator[list[T]]:
    """Consecutive groups of `items` whose padded size (count times the largest `size`) stays
    within `budget`, whose count stays within `max_items` and whose padding stays within
    `max_padding` of the padded size; an item larger than `budget` goes alone."""
    group: list[T] = []
    largest = total = 0
    for item in items:
        n = size(item)
        padded = max(largest, n) * (len(group) + 1)
        if group and (padded > budget or len(group) >= max_items or padded - total - n > max_padding * padded):
            yield group
            group, largest, total = [], 0, 0
        group.append(item)
        largest, total = max(largest, n), total + n
    if group:
        yield group


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
                     augment: WaveAugment | None = None, batch_s: float = EXTRACT_BATCH_S) -> FeatureStore:
    """Compute the features of `utterances` (Utterance records) that are not cached yet.

    augment: a waveform transform applied before the front-end; its features are cached
    under their own key (see sier.features.augment).
    batch_s: padded audio seconds per batch of the upstream's transformer layers (files go
    shortest first by their manifest duration); 0 runs one file at a time.

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
    todo = dict(sorted(todo.items(), key=lambda item: _duration_s(item[1][0])))
    _extract(todo, store, prefix, progress, augment, int(batch_s * SAMPLE_RATE))
    if report.skipped:
        log.warning("%s", report.summary())
    return store


def _duration_s(utt: Any) -> float:
    """The manifest's duration of an utterance record, 0 when it has none."""
    return float(getattr(utt, "duration_s", 0.0) or 0.0)


def _extract(todo: dict[str, list[Any]], store: FeatureStore, prefix: nn.Module, progress: bool,
             augment: WaveAugment | None = None, batch_samples: int = 0) -> None:
    from tqdm.auto import tqdm

    total_s = sum(_duration_s(utts[0]) for utts in todo.values())
    # tqdm shows files/s itself; the postfix adds audio seconds. Not a terminal (a log file):
    # one line every 30 s instead of one per file.
    interval = 0.1 if sys.stderr.isatty() else 30.0
    desc = f"features ({augment.name})" if augment is not None else "features"
    bar = tqdm(total=len(todo), unit="file", desc=desc, disable=not progress, mininterval=interval)
    done_s, start = 0.0, time.perf_counter()

    def audio():
        for path, samples in iter_audio(todo.keys(), store.skipped):
            yield path, augment.apply(samples, seed_text=path) if augment is not None else samples

    try:
        for group in padded_groups(audio(), lambda item: item[1].size, batch_samples):
            features = compute_features_batch([samples for _, samples in group], prefix)
            for (path, samples), feats in zip(group, features):
                feats = feats.numpy()
                for utt in todo[path]:
                    write_entry(store.path(utt.id), feats)
                done_s += samples.size / SAMPLE_RATE
            rate = done_s / max(time.perf_counter() - start, 1e-9)
            # set before update(), which redraws (at most every `interval`): the bar shows this batch's rate
            bar.set_postfix_str(f"{done_s:.0f}/{total_s:.0f} audio-s, {rate:.1f} audio-s/s", refresh=False)
            bar.update(len(group))
    finally:
        bar.close()

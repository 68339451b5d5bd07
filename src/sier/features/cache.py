"""On-disk cache of frozen-prefix features.

Layout: `<cache_dir>/<slug>-<key hash>/` holds `key.json` (everything the features depend on:
upstream id, revision and resolved commit or a hash of a local folder's config/weight file
stats, the frozen layer range, the layer selection, dtype, sample rate, format version) and one
float16 `.npy` per utterance named `<utt id>-<file hash>.npy`, where the file hash covers the
audio file's resolved path, size and mtime_ns. A changed audio file or a changed key gives a
different name, so a stale entry is never read. Entries are written atomically; an interrupted
extraction leaves only complete entries, and the next run computes the missing ones. Reading
one utterance opens one small file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from sier.errors import FeatureError
from sier.fileio import atomic_path, read_json, write_json

FORMAT_VERSION = 1
KEY_FILE = "key.json"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def key_hash(key: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def key_dirname(key: dict[str, Any]) -> str:
    """`<readable slug>-<hash>`: the slug is for people, the hash decides."""
    slug = _UNSAFE.sub("_", Path(str(key.get("upstream", "features"))).name)[:40] or "features"
    return f"{slug}-{key_hash(key)}"


def file_identity(path: str | os.PathLike) -> str:
    """Hash of the audio file's resolved path, size and mtime_ns (cheap: no content is read).
    Editing, replacing or touching the file changes it; a missing file raises FeatureError."""
    resolved = Path(path).expanduser().resolve()
    try:
        st = resolved.stat()
    except OSError as exc:
        raise FeatureError(f"{path}: audio file not found ({exc}).") from exc
    return hashlib.sha256(f"{resolved}\0{st.st_size}\0{st.st_mtime_ns}".encode()).hexdigest()[:16]


def entry_name(utt_id: str, audio_path: str | os.PathLike) -> str:
    return f"{_UNSAFE.sub('_', utt_id)}-{file_identity(audio_path)}.npy"


def write_entry(path: Path, features: np.ndarray) -> None:
    """Write one utterance's features as float16, atomically; FeatureError (nothing written)
    when a value is not finite or beyond float16's range (65504)."""
    with np.errstate(over="ignore"):  # checked just below, with a message that says what to do
        half = np.ascontiguousarray(features, dtype=np.float16)
    if not np.isfinite(half).all():
        peak = float(np.nanmax(np.abs(features))) if np.size(features) else float("nan")
        raise FeatureError(f"{path.name}: features are not finite in float16 (max |x| = {peak:.4g}); "
                           "this upstream's hidden states cannot be cached (report it with the model id).")
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, half)


def open_key_dir(cache_dir: str | os.PathLike, key: dict[str, Any]) -> Path:
    """The directory of `key` under cache_dir, created with its key.json if new."""
    directory = Path(cache_dir) / key_dirname(key)
    key_file = directory / KEY_FILE
    if key_file.is_file():
        if read_json(key_file) != key:
            raise FeatureError(f"{key_file}: does not match the requested features (hash collision?); delete {directory}.")
    else:
        write_json(key_file, key)
    return directory


class FeatureStore:
    """Read access to cached features of a set of utterances (one key directory)."""

    def __init__(self, directory: Path, entries: dict[str, Path], dim: int, num_layers: int,
                 skipped: Any = None):
        self.directory = directory
        self._entries = entries  # utterance id -> .npy path (present or not yet computed)
        self.dim = dim  # feature size D
        self.num_layers = num_layers  # 1, or L+1 for layer-weighted features
        self.skipped = skipped  # the SkipReport of the extraction that built this store, if any

    @property
    def ids(self) -> list[str]:
        """Ids whose features are on disk."""
        return [u for u, p in self._entries.items() if p.is_file()]

    def has(self, utt_id: str) -> bool:
        path = self._entries.get(utt_id)
        return path is not None and path.is_file()

    def path(self, utt_id: str) -> Path:
        return self._entries[utt_id]

    def missing(self) -> list[str]:
        return [u for u, p in self._entries.items() if not p.is_file()]

    def load(self, utt_id: str):
        """Float32 tensor `[frames, dim]`, or `[layers, frames, dim]` for layer-weighted features."""
        import torch

        path = self._entries.get(utt_id)
        if path is None:
            raise FeatureError(f"{utt_id}: not one of the utterances of this feature store ({self.directory}).")
        try:
            array = np.load(path, allow_pickle=False)
        except FileNotFoundError as exc:
            raise FeatureError(f"{utt_id}: features not cached in {self.directory}; run `sier features` first.") from exc
        except (OSError, ValueError) as exc:
            raise FeatureError(f"{path}: unreadable cache entry ({exc}); delete it and re-run `sier features`.") from exc
        tensor = torch.from_numpy(array.astype(np.float32))
        return tensor if self.num_layers > 1 else tensor.reshape(-1, self.dim)

    def __len__(self) -> int:
        return len(self._entries)


@dataclass(frozen=True)
class CacheStatus:
    """One key directory of a cache: what it holds and how large it is."""

    directory: str
    key: dict[str, Any]
    entries: int  # number of cached utterances (.npy files)
    bytes: int  # total size on disk of those entries
    partial: int = 0  # temporary files left by a killed run (never read; safe to delete)

    def describe(self) -> str:
        """What the entries are, in words: upstream, frozen part, which hidden states, augmentation."""
        augment = f"; waveform augmented: {self.key['augment']}" if self.key.get("augment") else ""
        return self._describe_features() + augment

    def _describe_features(self) -> str:
        k = self.key
        if k.get("select") == "fbank":
            return f"fbank log-mel {k.get('fbank')} (mels, window s, hop s)"
        n, total, select = int(k.get("freeze_layers", 0)), k.get("num_layers"), k.get("select")
        frozen = "conv encoder" + (f" + layers 1..{n}" if n else "") + f" of {total} frozen"
        what = {
            "prefix": f"stored: input of layer {n + 1}, the trainable top runs layers {n + 1}..{total}",
            "all": f"stored: all {(total or 0) + 1} hidden states, for a layer-weighted sum",
            "last": "stored: last hidden state",
        }.get(select, f"stored: hidden state {select}")
        rev = f"@{k['revision']}" if k.get("revision") else ""
        return f"{k.get('upstream')}{rev}: {frozen}; {what}; {k.get('dtype')} extraction"

    def line(self) -> str:
        tmp = f", {self.partial} partial .tmp file(s) from a killed run" if self.partial else ""
        return (f"{Path(self.directory).name}: {self.entries} utterances, {self.bytes / 2**20:.1f} MiB{tmp}\n"
                f"    {self.describe()}")


def status(cache_dir: str | os.PathLike) -> list[CacheStatus]:
    """What `cache_dir` holds: one CacheStatus per key directory (empty list for no cache)."""
    root = Path(cache_dir)
    result = []
    for key_file in sorted(root.glob(f"*/{KEY_FILE}")):
        files = list(key_file.parent.glob("*.npy"))
        result.append(CacheStatus(
            directory=str(key_file.parent),
            key=read_json(key_file),
            entries=len(files),
            bytes=sum(f.stat().st_size for f in files),
            partial=len(list(key_file.parent.glob(".*.tmp"))),
        ))
    return result


def store_entries(directory: Path, utterances: Iterable[Any]) -> dict[str, Path]:
    """utterance id -> the entry path it has for the current state of its audio file."""
    return {u.id: directory / entry_name(u.id, u.path) for u in utterances}

"""Datasets over cached features: padding collate, class balance and feature augmentation.

A batch is a dict:
- `features`: float32 [B, T, D] (or [B, L, T, D] for a layer-weighted upstream), zero-padded,
- `lengths`: int64 [B], valid frames per utterance,
- `labels`: int64 [B], emotion class index (order of the label map's classes); NO_CLASS (-1)
  for an utterance whose label is not a class (kept for its dimensions, `all_rated`),
- `speakers`: int64 [B], index among the fold's training speakers, -1 for others,
- `dimensions`: float32 [B, 3], arousal, valence, dominance on 0..1, NaN where unknown,
- `index`: int64 [B], position of the utterance in the dataset,
- `teacher_logits`: float32 [B, C], a teacher's logits (training sets of a distilled run only).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Protocol, Sequence

import torch
from torch.utils.data import DataLoader, Dataset, WeightedRandomSampler

from sier.corpora.dimensions import normalized
from sier.corpora.records import Utterance
from sier.errors import TrainingError

NO_CLASS = -1  # the label index of an utterance of no class: the class loss and metrics skip it


class FeatureSource(Protocol):
    """What the datasets need from a feature store (sier.features.FeatureStore has it)."""

    def load(self, utt_id: str) -> torch.Tensor: ...


@dataclass(frozen=True)
class FeatureAugment:
    """SpecAugment-like masking on one utterance's features [T, D] or [L, T, D].

    Masked spans are set to the utterance's mean over time (per channel, per layer), so
    a mask removes information without adding an out-of-range value. Uses torch's global
    RNG: seeded runs are reproducible.
    """

    time_masks: int = 2  # masks along time
    time_mask_frames: int = 10  # maximum width of one time mask, frames
    channel_masks: int = 2  # masks along feature channels
    channel_mask_width: int = 4  # maximum width of one channel mask, channels
    max_frames: int = 0  # random crop of longer utterances to this many frames (0 = no crop)

    def __call__(self, feats: torch.Tensor) -> torch.Tensor:
        frames, channels = feats.shape[-2], feats.shape[-1]
        if self.max_frames and frames > self.max_frames:
            start = int(torch.randint(0, frames - self.max_frames + 1, ()).item())
            feats = feats[..., start : start + self.max_frames, :]
            frames = self.max_frames
        if not (self.time_masks or self.channel_masks):
            return feats
        feats = feats.clone()
        fill = feats.mean(dim=-2, keepdim=True)  # [..., 1, D]
        for _ in range(self.time_masks):
            width = _random_width(self.time_mask_frames, frames // 4)  # never more than a quarter per mask
            if width:
                start = int(torch.randint(0, frames - width + 1, ()).item())
                feats[..., start : start + width, :] = fill
        for _ in range(self.channel_masks):
            width = _random_width(self.channel_mask_width, channels // 4)
            if width:
                start = int(torch.randint(0, channels - width + 1, ()).item())
                feats[..., :, start : start + width] = fill[..., :, start : start + width]
        return feats


def _random_width(max_width: int, cap: int) -> int:
    hi = min(max_width, cap)
    return int(torch.randint(0, hi + 1, ()).item()) if hi > 0 else 0


class UtteranceDataset(Dataset):
    """Utterances of one part of a fold, with labels and speaker indices, features from a store.
    A label that is not one of `classes` gets NO_CLASS (the reading of the data decides
    whether such utterances belong: `all_rated`)."""

    def __init__(
        self,
        utterances: Sequence[Utterance],
        store: FeatureSource,
        classes: Sequence[str],
        speakers: Sequence[str] = (),
        augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
        variants: Sequence[FeatureSource] = (),
        variant_prob: float = 0.0,
        teacher_logits: torch.Tensor | None = None,
    ) -> None:
        """variants: stores of waveform-augmented copies; each item is read from one of them
        (chosen uniformly) with probability `variant_prob`, else from `store`.
        teacher_logits: [N, C], row i a teacher's logits for utterance i (distillation)."""
        self.utterances = list(utterances)
        self.store = store
        self.variants = list(variants)
        self.variant_prob = variant_prob if self.variants else 0.0
        self.classes = tuple(classes)
        class_index = {c: i for i, c in enumerate(self.classes)}
        speaker_index = {s: i for i, s in enumerate(speakers)}
        self.labels = torch.tensor([class_index.get(u.label, NO_CLASS) for u in self.utterances], dtype=torch.long)
        self.speakers = torch.tensor([speaker_index.get(u.speaker, -1) for u in self.utterances], dtype=torch.long)
        self.dimensions = torch.tensor([normalized(u) for u in self.utterances], dtype=torch.float32).reshape(-1, 3)
        self.augment = augment
        if teacher_logits is not None and teacher_logits.shape != (len(self.utterances), len(self.classes)):
            raise TrainingError(f"teacher logits of shape {tuple(teacher_logits.shape)} for {len(self.utterances)} "
                                f"utterances of {len(self.classes)} classes")
        self.teacher_logits = teacher_logits

    def __len__(self) -> int:
        return len(self.utterances)

    def _source(self) -> FeatureSource:
        # draws from torch's global RNG only when there are variants, so runs without them keep their stream
        if self.variant_prob and float(torch.rand(())) < self.variant_prob:
            return self.variants[int(torch.randint(len(self.variants), ()))]
        return self.store

    def __getitem__(self, i: int) -> dict:
        feats = self._source().load(self.utterances[i].id).float()
        if self.augment is not None:
            feats = self.augment(feats)
        item = {"features": feats, "label": self.labels[i], "speaker": self.speakers[i],
                "dimensions": self.dimensions[i], "index": i}
        if self.teacher_logits is not None:
            item["teacher_logits"] = self.teacher_logits[i]
        return item

    def class_counts(self) -> list[int]:
        """Utterances per class, in class order (those of no class are not counted)."""
        counts = Counter(self.labels.tolist())
        return [counts.get(c, 0) for c in range(len(self.classes))]


def collate(items: Sequence[dict]) -> dict:
    """Pad features along time to the longest item; see the module docstring for the keys."""
    lengths = torch.tensor([it["features"].shape[-2] for it in items], dtype=torch.long)
    first = items[0]["features"]
    shape = (len(items), *first.shape[:-2], int(lengths.max()), first.shape[-1])
    features = first.new_zeros(shape)
    for b, it in enumerate(items):
        features[b, ..., : it["features"].shape[-2], :] = it["features"]
    batch = {
        "features": features,
        "lengths": lengths,
        "labels": torch.stack([torch.as_tensor(it["label"]) for it in items]),
        "speakers": torch.stack([torch.as_tensor(it["speaker"]) for it in items]),
        "dimensions": torch.stack([it["dimensions"] for it in items]),
        "index": torch.tensor([it["index"] for it in items], dtype=torch.long),
    }
    if "teacher_logits" in items[0]:
        batch["teacher_logits"] = torch.stack([it["teacher_logits"] for it in items])
    return batch


def run_model(model: torch.nn.Module, dataset: Dataset, batch_size: int,
              device: Any = "cpu") -> Iterator[tuple[dict, dict[str, torch.Tensor]]]:
    """(batch, model outputs) over `dataset` in order, batched by `collate`, in inference mode.
    Shared by training's test predictions and by evaluation."""
    for batch in DataLoader(dataset, batch_size=batch_size, collate_fn=collate):
        with torch.inference_mode():  # per batch: the caller's code between batches runs outside it
            out = model(batch["features"].to(device), batch["lengths"].to(device))
        yield batch, out


def class_weights(counts: Sequence[int]) -> torch.Tensor:
    """Inverse-frequency weights w_c = N / (C * n_c), C the number of present classes; 0 if absent.

    Each present class then carries the same total weight N / C, and the weight averaged
    over the N utterances is 1 (so the loss keeps its unweighted scale)."""
    counts_t = torch.tensor(counts, dtype=torch.float)
    present = counts_t > 0
    weights = torch.zeros_like(counts_t)
    weights[present] = counts_t.sum() / (present.sum() * counts_t[present])
    return weights


def balanced_sampler(labels: torch.Tensor, num_classes: int, seed: int) -> WeightedRandomSampler:
    """Draws each class equally often in expectation (with replacement), one epoch = len(labels) draws."""
    counts = torch.bincount(labels, minlength=num_classes).float()
    weights = (1.0 / counts.clamp(min=1))[labels]
    generator = torch.Generator().manual_seed(seed)
    return WeightedRandomSampler(weights.double(), num_samples=len(labels), replacement=True, generator=generator)

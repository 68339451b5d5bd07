"""Per-speaker feature normalisation: the classic speaker-independence baseline that AdaIN's
per-utterance normalisation is compared with.

Every speaker's frames are standardised with the mean and std of that speaker's frames over
all their utterances (per channel, and per layer for layer-weighted features). A test
speaker's statistics come from their own unlabelled test utterances, as in the literature on
speaker normalisation for SER; no label and no other speaker enters them, so the folds stay
speaker-independent. The price is deployment: a model trained so needs a new speaker's
statistics, which one file or a stream does not give (sier's inference refuses it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from sier.corpora.records import Utterance
from sier.errors import FeatureError

if TYPE_CHECKING:
    import torch

VARIANCE_FLOOR = 1e-5  # keeps a constant channel (e.g. a silent mel band) finite


class SpeakerNormalizedStore:
    """A feature store whose `load` gives each utterance standardised by its speaker's
    statistics, computed once (one pass over the speaker's cached features) on creation."""

    def __init__(self, store: Any, utterances: Sequence[Utterance]) -> None:
        self.store = store
        self.dim, self.num_layers = store.dim, store.num_layers
        self.speaker = {u.id: u.speaker for u in utterances if store.has(u.id)}
        self.stats = _speaker_stats(store, self.speaker)

    def has(self, utt_id: str) -> bool:
        return utt_id in self.speaker

    def load(self, utt_id: str) -> torch.Tensor:
        if utt_id not in self.speaker:
            raise FeatureError(f"{utt_id}: no speaker statistics for it (not among the utterances normalised).")
        mean, std = self.stats[self.speaker[utt_id]]
        return (self.store.load(utt_id) - mean) / std


def _speaker_stats(store: Any, speaker: dict[str, str]) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """speaker -> (mean, std) over the frames of all their utterances: [D], or [L, 1, D]."""
    sums: dict[str, list] = {}
    for utt_id, spk in speaker.items():
        x = store.load(utt_id).double()  # [T, D] or [L, T, D]
        acc = sums.setdefault(spk, [0.0, 0.0, 0])
        acc[0] = acc[0] + x.sum(dim=-2)
        acc[1] = acc[1] + (x * x).sum(dim=-2)
        acc[2] += x.shape[-2]
    stats = {}
    for spk, (s, s2, n) in sums.items():
        mean = s / max(n, 1)
        var = (s2 / max(n, 1) - mean * mean).clamp_min(0.0)
        std = (var + VARIANCE_FLOOR).sqrt()
        shape = (-1, 1, mean.shape[-1]) if mean.dim() > 1 else (mean.shape[-1],)
        stats[spk] = (mean.float().reshape(shape), std.float().reshape(shape))
    return stats


def normalize_if(enabled: bool, store: Any, utterances: Sequence[Utterance]) -> Any:
    """`store` wrapped in a SpeakerNormalizedStore when `enabled` (a run or checkpoint with
    speaker_norm), else unchanged."""
    return SpeakerNormalizedStore(store, utterances) if enabled else store

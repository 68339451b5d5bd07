"""Per-speaker feature normalisation: the classic speaker-independence baseline that AdaIN's
per-utterance normalisation is compared with.

Every speaker's frames are standardised with the mean and std of that speaker's frames over
all their utterances (per channel, and per layer for layer-weighted features). A test
speaker's statistics come from their own unlabelled test utterances, as in the literature on
speaker normalisation for SER; no label and no other speaker enters them, so the folds stay
speaker-independent. The price is deployment: a model trained so needs a new speaker's
statistics: `sier enroll` computes them from some of the speaker's speech, and
`predict`/`stream`/`serve --speaker_stats` use them (sier.inference.enroll).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Sequence

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
    by_speaker: dict[str, list[str]] = {}
    for utt_id, spk in speaker.items():
        by_speaker.setdefault(spk, []).append(utt_id)
    return {spk: frame_moments(store.load(u) for u in ids) for spk, ids in by_speaker.items()}


def frame_moments(features: Iterable[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, std) over the frames of all `features` ([T, D] or [L, T, D] each), per channel
    (and layer): [D], or [L, 1, D] to broadcast over [L, T, D]."""
    s = s2 = 0.0
    n = 0
    for x in features:
        x = x.double()
        s, s2, n = s + x.sum(dim=-2), s2 + (x * x).sum(dim=-2), n + x.shape[-2]
    if not n:
        raise FeatureError("no feature frames to compute a speaker's statistics from.")
    mean = s / n
    std = ((s2 / n - mean * mean).clamp_min(0.0) + VARIANCE_FLOOR).sqrt()
    shape = (-1, 1, mean.shape[-1]) if mean.dim() > 1 else (mean.shape[-1],)
    return mean.float().reshape(shape), std.float().reshape(shape)


def normalize_if(enabled: bool, store: Any, utterances: Sequence[Utterance]) -> Any:
    """`store` wrapped in a SpeakerNormalizedStore when `enabled` (a run or checkpoint with
    speaker_norm), else unchanged."""
    return SpeakerNormalizedStore(store, utterances) if enabled else store

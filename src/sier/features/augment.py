"""Waveform-level augmentation whose features are cached like the clean ones.

Training reads features from the cache, so a waveform augmentation cannot run per step;
instead each augmentation is a fixed transform (Kaldi-style speed perturbation, white noise
at an SNR, a gain) applied once per utterance before extraction and cached under its own
key. Training then draws, per item and epoch, the clean features or one augmented copy
(`wave_augment`, `wave_augment_prob` in TrainConfig).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from sier.constants import SAMPLE_RATE
from sier.errors import FeatureError

KINDS = {
    "speed": "speed factor: 0.9 = 10 % slower and lower (length / 0.9), 1.1 = faster and higher",
    "noise": "white noise at this signal-to-noise ratio, dB",
    "gain": "gain in dB (an upstream that normalises its waveform ignores it)",
}


@dataclass(frozen=True)
class WaveAugment:
    """One fixed waveform transform: kind in KINDS and its value."""

    kind: str
    value: float

    @property
    def name(self) -> str:
        """Canonical text form, e.g. "speed:0.9"; part of the cache key."""
        return f"{self.kind}:{self.value:g}"

    def apply(self, samples: np.ndarray, seed_text: str = "") -> np.ndarray:
        """float32 mono samples at SAMPLE_RATE -> transformed float32 samples at SAMPLE_RATE.

        The noise is seeded by `seed_text` (the audio path), so a rerun writes the same features."""
        x = np.asarray(samples, dtype=np.float32)
        if self.kind == "speed":
            import soxr

            # read as if recorded at rate * factor, play back at rate: tempo and pitch both scale
            return soxr.resample(x, SAMPLE_RATE * self.value, SAMPLE_RATE).astype(np.float32)
        if self.kind == "noise":
            rng = np.random.default_rng(zlib.crc32(f"{seed_text}|{self.name}".encode()))
            power = float(np.mean(x.astype(np.float64) ** 2)) or 1e-10
            noise = rng.standard_normal(x.size) * np.sqrt(power / 10 ** (self.value / 10))
            return (x + noise).astype(np.float32)
        return (x * 10 ** (self.value / 20)).astype(np.float32)


def parse_augments(text: str) -> tuple[WaveAugment, ...]:
    """"speed:0.9,speed:1.1,noise:20" -> WaveAugments (empty text: none). FeatureError on bad text."""
    out = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        kind, _, value = part.partition(":")
        try:
            number = float(value)
        except ValueError:
            number = None
        if kind not in KINDS or number is None or (kind == "speed" and not 0.5 <= number <= 2.0):
            raise FeatureError(
                f"bad waveform augmentation {part!r}; write KIND:VALUE, comma-separated, with KIND one of "
                + "; ".join(f"{k} ({v})" for k, v in KINDS.items()) + " (speed within 0.5..2), e.g. speed:0.9,noise:20"
            )
        out.append(WaveAugment(kind, number))
    return tuple(out)

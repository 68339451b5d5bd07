"""Waveform augmentation: the transforms, their own cache keys, and training that draws them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from sier.constants import SAMPLE_RATE
from sier.errors import FeatureError, TrainingError
from sier.features.augment import WaveAugment, parse_augments


def tone(seconds: float = 1.0, hz: float = 200.0) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def dominant_hz(x: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(x))
    return float(np.fft.rfftfreq(x.size, 1 / SAMPLE_RATE)[spectrum.argmax()])


def test_speed_scales_length_and_pitch():
    x = tone()
    fast = WaveAugment("speed", 1.1).apply(x)
    slow = WaveAugment("speed", 0.9).apply(x)
    assert abs(fast.size - x.size / 1.1) <= 2 and abs(slow.size - x.size / 0.9) <= 2
    assert dominant_hz(fast) == pytest.approx(220, abs=3) and dominant_hz(slow) == pytest.approx(180, abs=3)


def test_noise_has_the_asked_snr_and_is_seeded_by_the_path():
    x = tone(2.0)
    aug = WaveAugment("noise", 10.0)
    y = aug.apply(x, seed_text="a.wav")
    snr = 10 * np.log10(np.mean(x.astype(np.float64) ** 2) / np.mean((y - x).astype(np.float64) ** 2))
    assert snr == pytest.approx(10.0, abs=0.2)
    assert np.array_equal(y, aug.apply(x, seed_text="a.wav"))
    assert not np.array_equal(y, aug.apply(x, seed_text="b.wav"))


def test_gain_and_parsing():
    x = tone()
    np.testing.assert_allclose(WaveAugment("gain", -6.0).apply(x), x * 10 ** (-6 / 20), rtol=1e-6)
    assert [a.name for a in parse_augments(" speed:0.9, noise:20 ,gain:-6")] == ["speed:0.9", "noise:20", "gain:-6"]
    assert parse_augments("") == ()
    for bad in ("pitch:2", "speed:fast", "speed:3", "noise"):
        with pytest.raises(FeatureError, match="KIND:VALUE"):
            parse_augments(bad)
    with pytest.raises(TrainingError, match="bad waveform augmentation"):
        from sier.training.config import TrainConfig

        TrainConfig(wave_augment="speed:9")


def test_augmented_features_are_cached_under_their_own_key(synth_manifest, tmp_path):
    from sier.features import extract_features
    from sier.features.config import FeatureConfig

    utts = synth_manifest.utterances[:3]
    cfg = FeatureConfig(upstream="fbank")
    clean = extract_features(utts, cfg, tmp_path, progress=False)
    fast = extract_features(utts, cfg, tmp_path, progress=False, augment=WaveAugment("speed", 1.1))
    assert clean.directory != fast.directory
    for u in utts:
        a, b = clean.load(u.id), fast.load(u.id)
        assert abs(b.shape[0] - a.shape[0] / 1.1) <= 2  # fewer frames: the audio is shorter
    from sier.features.cache import status

    described = {Path(st.directory): st.describe() for st in status(tmp_path)}
    assert "waveform augmented: speed:1.1" in described[Path(fast.directory)]
    assert "augmented" not in described[Path(clean.directory)]


def test_training_draws_the_variants(synth_manifest, tmp_path):
    from sier.training.data import UtteranceDataset

    class Store:
        def __init__(self, value: float) -> None:
            self.value = value

        def load(self, utt_id: str) -> torch.Tensor:
            return torch.full((5, 2), self.value)

    utts = synth_manifest.utterances[:50]
    classes = sorted({u.label for u in synth_manifest.utterances})
    torch.manual_seed(0)
    data = UtteranceDataset(utts, Store(0.0), classes, variants=[Store(1.0), Store(2.0)], variant_prob=0.5)
    seen = [float(data[i]["features"][0, 0]) for i in range(len(utts)) for _ in range(4)]
    share = {v: seen.count(v) / len(seen) for v in (0.0, 1.0, 2.0)}
    assert share[0.0] == pytest.approx(0.5, abs=0.1) and share[1.0] == pytest.approx(0.25, abs=0.08)
    plain = UtteranceDataset(utts, Store(0.0), classes)  # no variants: never drawn, RNG untouched
    state = torch.get_rng_state()
    assert all(float(plain[i]["features"][0, 0]) == 0.0 for i in range(10))
    assert torch.equal(state, torch.get_rng_state())

"""Helpers for the inference tests: random-weight checkpoints and speech-like audio (offline)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

SR = 16_000
CLASSES = ["neu", "hap", "ang", "sad"]
_VOWELS = [(730, 1090, 2440), (270, 2290, 3010), (300, 870, 2240), (530, 1840, 2480), (570, 840, 2410)]


def make_checkpoint(path: str | Path, upstream: str = "fbank", input_dim: int = 80, kind: str = "enhanced",
                    seed: int = 0, model: dict | None = None, meta: dict | None = None, **feature_overrides) -> Path:
    """A sier checkpoint with random weights (no training) for `upstream` ("fbank" or a folder).
    model: ModelConfig fields that replace the small defaults used here (e.g. the bench's sizes);
    meta: entries added to the checkpoint's meta (e.g. {"task": "dimensions"})."""
    import torch

    from sier.features.config import FeatureConfig
    from sier.models import ModelConfig, build_model, save_checkpoint

    torch.manual_seed(seed)
    sizes = {"hidden_size": 16, "num_heads": 4, "num_speakers": 3, "dropout": 0.0, **(model or {})}
    cfg = ModelConfig(kind=kind, input_dim=input_dim, num_classes=len(CLASSES), **sizes)
    meta = {
        "feature_config": FeatureConfig(upstream=str(upstream), **feature_overrides).to_dict(),
        "classes": CLASSES,
        "label_map": "iemocap-4",
        "speakers": ["Ses01F", "Ses01M", "Ses02F"],
        "fold": 1,
        "upstream_top": None,
        **(meta or {}),
    }
    path = Path(path)
    save_checkpoint(path, build_model(cfg).eval(), cfg, meta)
    return path


def _resonator(x: np.ndarray, freq: float, bw: float) -> np.ndarray:
    from scipy.signal import lfilter

    r, th = np.exp(-np.pi * bw / SR), 2 * np.pi * freq / SR
    return lfilter([1 - r], [1, -2 * r * np.cos(th), r * r], x)


def speechlike(duration_s: float, f0: float = 130.0, seed: int = 0) -> np.ndarray:
    """Vowel-like syllables (glottal pulses through three formants, 5 syllables/s), float32."""
    from scipy.signal import lfilter

    rng = np.random.default_rng(seed)
    n = int(duration_s * SR)
    t = np.arange(n) / SR
    phase = np.cumsum(f0 * (1 + 0.15 * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, 6)))) / SR
    source = lfilter([1], [1, -0.97], (np.diff(np.floor(phase), prepend=0) > 0).astype(float))
    out = np.zeros(n)
    syllable = int(0.2 * SR)
    for a in range(0, n, syllable):
        b = min(n, a + syllable)
        formants = _VOWELS[rng.integers(len(_VOWELS))]
        y = sum(_resonator(source[a:b], f, 80 + 40 * k) for k, f in enumerate(formants))
        out[a:b] = y * np.sin(np.pi * np.linspace(0, 1, b - a)) ** 0.6
    out = 0.3 * out / np.abs(out).max()
    return (out + 0.002 * rng.standard_normal(n)).astype(np.float32)


def silence(duration_s: float, seed: int = 1) -> np.ndarray:
    return (0.001 * np.random.default_rng(seed).standard_normal(int(duration_s * SR))).astype(np.float32)


def recording_with_pauses() -> tuple[np.ndarray, list[tuple[float, float]]]:
    """12 s: speech at 1-3 s, 4.5-6 s and 8-11 s, near-silence between; returns (audio, truth)."""
    parts = [silence(1), speechlike(2, 130, 0), silence(1.5), speechlike(1.5, 200, 1), silence(2),
             speechlike(3, 150, 2), silence(1)]
    return np.concatenate(parts), [(1.0, 3.0), (4.5, 6.0), (8.0, 11.0)]


def write_wav(path: str | Path, audio: np.ndarray, rate: int = SR) -> Path:
    import soundfile as sf

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), audio, rate)
    return path


def signal_of_kind(kind: int, duration_s: float, seed: int = 0) -> np.ndarray:
    """Four easily told apart kinds of audio, float32: 0 low voice, 1 high voice, 2 noise, 3 a tone."""
    rng = np.random.default_rng(seed)
    n = int(duration_s * SR)
    if kind == 0:
        return speechlike(duration_s, 110, seed)
    if kind == 1:
        return speechlike(duration_s, 300, seed)
    if kind == 2:
        return (0.1 * rng.standard_normal(n)).astype(np.float32)
    freq = 500 + 400 * rng.random()
    return (0.2 * np.sin(2 * np.pi * freq * np.arange(n) / SR)).astype(np.float32)


def make_decisive_checkpoint(path: str | Path, upstream: str, input_dim: int, per_kind: int = 4, steps: int = 300,
                             seed: int = 0, model: dict | None = None) -> Path:
    """A checkpoint like make_checkpoint's whose emotion head is trained (Adam, `steps` steps on
    the frozen pooled embeddings) to tell the four `signal_of_kind` kinds apart, so that its
    logits are decisive and depend on the input: argmax agreement is then a meaningful test of
    a quantised model, which it is not with the near-tied logits of random weights."""
    import torch

    from sier.inference.recognizer import Recognizer
    from sier.models import save_checkpoint
    from sier.models.checkpoint import load_checkpoint

    path = Path(path)
    make_checkpoint(path, upstream=upstream, input_dim=input_dim, seed=seed, model=model)
    rec = Recognizer.from_checkpoint(path)
    embeddings, labels = [], []
    with torch.inference_mode():
        for kind in range(4):
            for i in range(per_kind):
                feats = rec.features(signal_of_kind(kind, 0.8 + 0.15 * i, seed=100 + i))
                embeddings.append(rec.model(feats[None], torch.tensor([feats.shape[0]]))["embedding"])
                labels.append(kind)
    x, y = torch.cat(embeddings).clone(), torch.tensor(labels)
    head = rec.model.head.emotion_head.train()
    torch.manual_seed(seed)
    optimizer = torch.optim.Adam(head.parameters(), lr=1e-2)
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(head(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    ckpt = load_checkpoint(path)
    save_checkpoint(path, rec.model.head.eval(), ckpt.model_config, ckpt.meta)
    return path

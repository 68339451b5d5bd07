"""Build small trees in the distributed layouts of EmoDB and RAVDESS for tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

EMODB_GENDER = {"03": "M", "08": "F", "09": "F", "10": "M", "11": "M", "12": "M", "13": "F", "14": "F",
                "15": "M", "16": "F"}
EMODB_PAIR = {"03": 1, "08": 1, "10": 2, "09": 2, "11": 3, "13": 3, "12": 4, "14": 4, "15": 5, "16": 5}
EMODB_CODES = {"W": "ang", "L": "bor", "E": "dis", "A": "fea", "F": "hap", "T": "sad", "N": "neu"}
RAVDESS_CODES = {"01": "neu", "02": "cal", "03": "hap", "04": "sad", "05": "ang", "06": "fea", "07": "dis",
                 "08": "sur"}


def write_wav(path: Path, seconds: float, rate: int = 16_000, seed: int = 0) -> float:
    path.parent.mkdir(parents=True, exist_ok=True)
    samples = int(seconds * rate)
    rng = np.random.default_rng(seed)
    sf.write(path, (0.1 * rng.standard_normal(samples)).astype(np.float32), rate)
    return samples / rate


def emodb_names(speakers=tuple(EMODB_GENDER)) -> list[str]:
    """Every speaker with all seven emotion letters (texts and versions vary)."""
    texts = ("a01", "a02", "a04", "a05", "a07", "b01", "b02", "b03", "b09", "b10")
    return [f"{spk}{texts[(i + j) % len(texts)]}{letter}{'abc'[j % 3]}"
            for i, spk in enumerate(speakers) for j, letter in enumerate("WLEAFTN")]


def build_emodb(root: Path, names: list[str]) -> dict[str, float]:
    """root/wav/<name>.wav plus what the download has beside them; returns name -> duration."""
    durations = {name: write_wav(root / "wav" / f"{name}.wav", 0.2 + 0.01 * i, seed=i) for i, name in enumerate(names)}
    for folder in ("lablaut", "labsilb", "silb"):
        (root / folder).mkdir(exist_ok=True)
        (root / folder / f"{names[0]}.lab").write_text("0.0 x\n")
    (root / "erklaerung.txt").write_text("documentation\n")
    (root / "wav" / f"._{names[0]}.wav").write_bytes(b"\x00\x05\x16\x07 macOS resource fork")
    return durations


def ravdess_name(emotion: int, actor: int, intensity: int = 1, statement: int = 1, repetition: int = 1,
                 modality: int = 3, channel: int = 1) -> str:
    return "-".join(f"{v:02d}" for v in (modality, channel, emotion, intensity, statement, repetition, actor))

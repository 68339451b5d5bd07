"""Audio loading: any format soundfile reads -> float32 mono at SAMPLE_RATE, validated."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import soundfile as sf
import soxr

from sier.constants import DEFAULT_MIN_DURATION_S, SAMPLE_RATE
from sier.errors import AudioError

log = logging.getLogger(__name__)


def audio_duration(path: str | os.PathLike) -> float:
    """Duration in seconds read from the file header, without decoding the samples."""
    try:
        info = sf.info(str(path))
    except Exception as exc:  # soundfile raises several types for unreadable files
        raise AudioError(f"{path}: cannot read audio header ({exc}); is it a valid audio file?") from exc
    return info.frames / info.samplerate if info.samplerate else 0.0


def to_mono_16k(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """Downmix [samples, channels] to mono and resample to SAMPLE_RATE (soxr, high quality)."""
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim == 2:
        samples = samples.mean(axis=1)
    if sample_rate != SAMPLE_RATE:
        samples = soxr.resample(samples, sample_rate, SAMPLE_RATE).astype(np.float32)
    return samples


def validate(samples: np.ndarray, source: str, min_duration_s: float = DEFAULT_MIN_DURATION_S) -> np.ndarray:
    """Raise AudioError naming `source` if the audio is empty, too short or non-finite."""
    if samples.size == 0:
        raise AudioError(f"{source}: audio is empty; remove the file or re-export it.")
    duration = samples.size / SAMPLE_RATE
    if duration < min_duration_s:
        raise AudioError(
            f"{source}: audio is too short ({duration:.3f} s < {min_duration_s} s) to classify; "
            "leave it out of the manifest or the request."
        )
    if not np.all(np.isfinite(samples)):
        raise AudioError(f"{source}: audio contains NaN or infinite samples; re-export the file.")
    return samples


def load_audio(path: str | os.PathLike, min_duration_s: float = DEFAULT_MIN_DURATION_S) -> np.ndarray:
    """Load a file as float32 mono at SAMPLE_RATE, shape [samples]; AudioError if unusable."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: audio file not found.")
    try:
        samples, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:
        raise AudioError(f"{path}: cannot decode audio ({exc}); convert it to WAV or FLAC.") from exc
    return validate(to_mono_16k(samples, rate), str(path), min_duration_s)


@dataclass
class SkipReport:
    """Files a batch caller skipped, with the reason for each."""

    skipped: list[tuple[str, str]] = field(default_factory=list)

    def add(self, path: str, reason: str) -> None:
        self.skipped.append((path, reason))
        log.warning("skipping %s", reason)

    def summary(self, limit: int = 5) -> str:
        if not self.skipped:
            return "no files skipped"
        head = "; ".join(reason for _, reason in self.skipped[:limit])
        more = f" (+{len(self.skipped) - limit} more)" if len(self.skipped) > limit else ""
        return f"{len(self.skipped)} file(s) skipped: {head}{more}"


def iter_audio(
    paths: Iterable[str | os.PathLike],
    report: SkipReport,
    min_duration_s: float = DEFAULT_MIN_DURATION_S,
) -> Iterator[tuple[str, np.ndarray]]:
    """Yield (path, samples) for each usable file; bad files go to `report` instead of raising."""
    for path in paths:
        try:
            yield str(path), load_audio(path, min_duration_s)
        except AudioError as exc:
            report.add(str(path), str(exc))

"""Voice activity detection: cut a long recording into speech segments.

Two detectors, both returning segments in seconds:

- ``silero``: the silero-vad network (its weights ship in the wheel, so it runs offline).
  Importing silero-vad calls ``torch.set_num_threads(1)`` for the whole process; the import
  here restores the previous count at once. Its ``read_audio`` needs torchaudio, so audio is
  always loaded by :mod:`sier.audio` and passed in as a float32 array.
- ``energy``: frame RMS against a threshold between the noise floor and the loudest frame.
  Exact on clean recordings (silence between utterances), no dependency beyond numpy.

``segment_speech(..., method="silero")`` falls back to ``energy`` when silero-vad is not
installed, and the returned :class:`VadResult` says which detector was used.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

import numpy as np

from sier.constants import SAMPLE_RATE
from sier.errors import InferenceError

log = logging.getLogger(__name__)

VAD_METHODS = ("silero", "energy", "none")

ENERGY_FRAME_S = 0.03  # analysis window of the energy detector
ENERGY_HOP_S = 0.01  # its hop: segment boundaries are exact to this step
ENERGY_MARGIN_DB = 12.0  # a frame is speech if this far above the noise floor ...
ENERGY_RANGE_DB = 40.0  # ... and no further than this below the loudest frame


@dataclass(frozen=True)
class VadConfig:
    """How speech segments are found and shaped."""

    method: str = "silero"  # silero | energy | none (the whole recording is one segment)
    min_segment_s: float = 0.5  # shorter speech segments are dropped
    max_segment_s: float = 15.0  # longer ones are cut into equal parts no longer than this
    min_silence_s: float = 0.3  # pauses shorter than this do not end a segment
    pad_s: float = 0.05  # padding added on both sides of each segment (clipped to the audio)
    threshold: float = 0.5  # silero speech probability threshold


@dataclass
class VadResult:
    """Speech segments [(start_s, end_s), ...] and the detector that found them."""

    segments: list[tuple[float, float]]
    method: str  # the detector actually used: silero | energy | none
    notes: list[str] = field(default_factory=list)


_SILERO_LOCK = threading.Lock()  # the silero model keeps state between calls: one caller at a time
_SILERO_MODEL = None


def silero_available() -> bool:
    """True when silero-vad can be imported (it ships its own weights)."""
    try:
        _import_silero()
    except ImportError:
        return False
    return True


def _import_silero():
    """Import silero_vad and set torch's thread count back to what it was before."""
    import torch

    threads = torch.get_num_threads()
    try:
        import silero_vad
    finally:
        torch.set_num_threads(threads)
    return silero_vad


def _silero_model():
    global _SILERO_MODEL
    if _SILERO_MODEL is None:
        silero_vad = _import_silero()
        try:
            import onnxruntime  # noqa: F401  (the ONNX build is the faster one on CPU)

            _SILERO_MODEL = silero_vad.load_silero_vad(onnx=True)
        except ImportError:
            _SILERO_MODEL = silero_vad.load_silero_vad()
    return _SILERO_MODEL


def silero_segments(waveform: np.ndarray, cfg: VadConfig) -> list[tuple[float, float]]:
    """Raw speech segments (seconds) from silero-vad on float32 mono audio at SAMPLE_RATE."""
    import torch

    silero_vad = _import_silero()
    with _SILERO_LOCK:
        model = _silero_model()
        stamps = silero_vad.get_speech_timestamps(
            torch.from_numpy(np.ascontiguousarray(waveform, dtype=np.float32)),
            model,
            threshold=cfg.threshold,
            sampling_rate=SAMPLE_RATE,
            min_speech_duration_ms=int(cfg.min_segment_s * 1000),
            min_silence_duration_ms=int(cfg.min_silence_s * 1000),
            speech_pad_ms=0,
        )
    return [(s["start"] / SAMPLE_RATE, s["end"] / SAMPLE_RATE) for s in stamps]


def energy_segments(waveform: np.ndarray, cfg: VadConfig) -> list[tuple[float, float]]:
    """Raw speech segments (seconds): frames whose RMS is well above the noise floor."""
    frame, hop = int(ENERGY_FRAME_S * SAMPLE_RATE), int(ENERGY_HOP_S * SAMPLE_RATE)
    if waveform.size < frame:
        return []
    n = 1 + (waveform.size - frame) // hop
    idx = np.arange(frame)[None, :] + hop * np.arange(n)[:, None]
    rms_db = 10 * np.log10(np.mean(waveform[idx].astype(np.float64) ** 2, axis=1) + 1e-12)
    floor, peak = np.percentile(rms_db, 10), rms_db.max()
    threshold = max(floor + ENERGY_MARGIN_DB, peak - ENERGY_RANGE_DB)
    if peak < floor + ENERGY_MARGIN_DB:  # no frame stands out: no speech (or speech everywhere)
        return []
    active = rms_db > threshold
    # frame i covers [i*hop, i*hop+frame); report the centre hop of each frame
    edges = np.flatnonzero(np.diff(np.concatenate([[0], active.astype(np.int8), [0]])))
    offset = (frame - hop) / 2 / SAMPLE_RATE
    return [(s * ENERGY_HOP_S + offset, e * ENERGY_HOP_S + offset) for s, e in zip(edges[::2], edges[1::2])]


def shape_segments(raw: list[tuple[float, float]], duration_s: float, cfg: VadConfig) -> list[tuple[float, float]]:
    """Merge short pauses, drop short segments, pad, and cut segments longer than max_segment_s."""
    merged: list[list[float]] = []
    for start, end in sorted(raw):
        if merged and start - merged[-1][1] < cfg.min_silence_s:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out: list[tuple[float, float]] = []
    for start, end in merged:
        if end - start < cfg.min_segment_s:
            continue
        start, end = max(0.0, start - cfg.pad_s), min(duration_s, end + cfg.pad_s)
        parts = max(1, int(np.ceil((end - start) / cfg.max_segment_s - 1e-9)))
        step = (end - start) / parts
        out.extend((round(float(start + i * step), 3), round(float(start + (i + 1) * step), 3)) for i in range(parts))
    return out


def segment_speech(waveform: np.ndarray, cfg: VadConfig = VadConfig()) -> VadResult:
    """Speech segments of float32 mono audio at SAMPLE_RATE, shape [samples].

    ``cfg.method == "none"`` returns the whole recording as one segment (cut into parts of
    at most max_segment_s). Silero falls back to the energy detector when not installed.
    """
    if cfg.method not in VAD_METHODS:
        raise InferenceError(f"unknown VAD method {cfg.method!r}; choose one of {', '.join(VAD_METHODS)}.")
    duration = waveform.size / SAMPLE_RATE
    notes: list[str] = []
    method = cfg.method
    if method == "none":
        no_pad = VadConfig(**{**cfg.__dict__, "pad_s": 0.0, "min_segment_s": 0.0})
        return VadResult(shape_segments([(0.0, duration)], duration, no_pad), "none")
    if method == "silero":
        try:
            raw = silero_segments(waveform, cfg)
        except ImportError:
            notes.append("silero-vad is not installed (pip install silero-vad); used the energy VAD instead")
            log.warning(notes[-1])
            method = "energy"
    if method == "energy":
        raw = energy_segments(waveform, cfg)
    return VadResult(shape_segments(raw, duration, cfg), method, notes)

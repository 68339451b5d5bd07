"""Streaming recognition: audio chunks in, one label + probabilities per hop out (and arousal,
valence, dominance where the model predicts them; those alone for a model of the dimensions only).

    stream = StreamingRecognizer(recognizer, StreamConfig(window_s=3, hop_s=1, smoothing="ema"))
    for chunk in chunks:                 # float32 mono 16 kHz, any chunk size
        for step in stream.push(chunk):  # a StreamStep every hop_s seconds of audio
            print(step.line())
    for step in stream.flush():          # the tail after the last full hop
        ...

Each step classifies the last ``window_s`` seconds (less at the start). Latency is bounded:
with ``drop_late=True`` (real-time sources) a push that brings several pending hops
classifies only the newest window and counts the others as skipped, so a slow model falls
behind by at most one step instead of an ever-growing queue. A source must hand over
all the audio recorded so far at each push (see :func:`stream_waveform`); feeding one small
chunk per push hides the backlog from the stream.

Smoothing acts on the probabilities and on the dimensions alike: ``ema`` averages both
exponentially; ``majority`` votes the label over the last k steps and averages the
dimensions over them (a vote means nothing for a number); ``none`` keeps each window's own.

Sources: a file played as fast as possible or at real time (:func:`stream_file`), a
microphone when ``sounddevice`` is importable (:func:`stream_microphone`), and a WebSocket
(see :mod:`sier.inference.server`).
"""

from __future__ import annotations

import logging
import time
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from sier.constants import SAMPLE_RATE
from sier.errors import InferenceError
from sier.inference.recognizer import Recognizer

log = logging.getLogger(__name__)

SMOOTHINGS = ("ema", "majority", "none")


@dataclass(frozen=True)
class StreamConfig:
    """Window, hop and smoothing of a stream."""

    window_s: float = 3.0  # audio classified at each step (the last window_s seconds)
    hop_s: float = 1.0  # a step every hop_s seconds of audio
    smoothing: str = "ema"  # ema | majority | none
    ema_alpha: float = 0.5  # weight of the newest step in the EMA of probabilities and dimensions
    majority_k: int = 3  # steps voted over by "majority" (and whose dimensions it averages)
    min_window_s: float = 0.5  # no step before this much audio; the flushed tail must be this long
    drop_late: bool = False  # classify only the newest pending window (real-time sources)

    def __post_init__(self) -> None:
        if self.smoothing not in SMOOTHINGS:
            raise InferenceError(f"unknown smoothing {self.smoothing!r}; choose one of {', '.join(SMOOTHINGS)}.")
        if not 0 < self.hop_s <= self.window_s:
            raise InferenceError(f"need 0 < hop_s <= window_s (got hop {self.hop_s}, window {self.window_s}).")
        if not 0 < self.ema_alpha <= 1 or self.majority_k < 1:
            raise InferenceError("ema_alpha must be in (0, 1] and majority_k >= 1.")


@dataclass
class StreamStep:
    """The result of one streaming step."""

    index: int  # 0, 1, ... (skipped steps keep their index)
    start_s: float  # window start in the stream's audio time
    end_s: float  # window end = the audio time this step answers for
    label: str | None  # smoothed label (None: a model of the dimensions only)
    probs: dict[str, float]  # smoothed probabilities ({} without classes)
    raw_label: str | None  # label of this window alone
    raw_probs: dict[str, float]
    compute_s: float  # wall time spent classifying the window
    skipped: int = 0  # earlier steps dropped to keep latency bounded (drop_late)
    latency_s: float | None = None  # wall time from the recording of the window's last sample to the result
    dimensions: dict[str, float] | None = None  # smoothed arousal, valence, dominance (0..1), if the model has them
    raw_dimensions: dict[str, float] | None = None  # those of this window alone

    def to_dict(self) -> dict[str, Any]:
        r = lambda d: {k: round(v, 4) for k, v in d.items()}  # noqa: E731
        out: dict[str, Any] = {"index": self.index, "start_s": round(self.start_s, 3), "end_s": round(self.end_s, 3)}
        if self.label is not None:
            out.update(label=self.label, probs=r(self.probs), raw_label=self.raw_label, raw_probs=r(self.raw_probs))
        if self.dimensions is not None:
            out.update(dimensions=r(self.dimensions), raw_dimensions=r(self.raw_dimensions or {}))
        return {**out, "compute_ms": round(1000 * self.compute_s, 1), "skipped": self.skipped,
                "latency_ms": None if self.latency_s is None else round(1000 * self.latency_s, 1)}

    def line(self) -> str:
        lat = f" latency {1000 * self.latency_s:.0f} ms" if self.latency_s is not None else ""
        # A V D: arousal, valence, dominance
        avd = lambda d: " ".join(f"{k[0].upper()}={v:.2f}" for k, v in d.items())  # noqa: E731
        if self.label is None:
            shown, raw = avd(self.dimensions or {}), avd(self.raw_dimensions or {})
        else:
            shown, raw = f"{self.label:<5} " + " ".join(f"{k}={v:.2f}" for k, v in self.probs.items()), self.raw_label
            if self.dimensions is not None:
                shown += "  " + avd(self.dimensions)
        return f"[{self.start_s:7.2f}-{self.end_s:7.2f} s] {shown}  (raw {raw}, {1000 * self.compute_s:.0f} ms{lat})"


class Smoother:
    """EMA of probabilities and dimensions, majority vote of labels over k steps (with the mean of
    their probabilities and dimensions), or nothing. `classes` may be empty (dimensions only)."""

    def __init__(self, classes: list[str], cfg: StreamConfig) -> None:
        self.classes, self.cfg = classes, cfg
        self.ema: np.ndarray | None = None
        self.history: deque[np.ndarray] = deque(maxlen=cfg.majority_k)

    def update(self, probs: np.ndarray, dims: np.ndarray | None = None
               ) -> tuple[str | None, np.ndarray, np.ndarray | None]:
        """(label, probabilities, dimensions) after this step's `probs` [C] and `dims` [3] or None."""
        n = len(probs)
        both = np.concatenate([probs, dims if dims is not None else []])  # one vector: one smoothing
        if self.cfg.smoothing == "ema":
            a = self.cfg.ema_alpha
            self.ema = both if self.ema is None else a * both + (1 - a) * self.ema
            smoothed, best = self.ema, (int(self.ema[:n].argmax()) if n else None)
        elif self.cfg.smoothing == "majority":
            self.history.append(both)
            smoothed, best = np.mean(self.history, axis=0), self._vote(n)
        else:
            smoothed, best = both, (int(probs.argmax()) if n else None)
        return (None if best is None else self.classes[best]), smoothed[:n], \
            (None if dims is None else smoothed[n:])

    def _vote(self, n: int) -> int | None:
        """The most frequent label of the history; ties go to the most recent of the tied labels."""
        if not n:
            return None
        labels = [int(h[:n].argmax()) for h in self.history]
        votes = Counter(labels)
        top = max(votes.values())
        return next(label for label in reversed(labels) if votes[label] == top)


class StreamingRecognizer:
    """Keeps the last window of audio and classifies it every hop (see the module doc)."""

    def __init__(self, recognizer: Recognizer, cfg: StreamConfig = StreamConfig()) -> None:
        self.recognizer, self.cfg = recognizer, cfg
        self.window = int(round(cfg.window_s * SAMPLE_RATE))
        self.hop = int(round(cfg.hop_s * SAMPLE_RATE))
        self.min_window = int(round(cfg.min_window_s * SAMPLE_RATE))
        self.reset()

    def reset(self) -> None:
        self.buffer = np.zeros(0, dtype=np.float32)  # the newest <= window samples
        self.total = 0  # samples received so far
        self.next_step = self.hop  # stream position (samples) of the next step's window end
        self.done = 0  # stream position of the last step
        self.index = 0
        self.smoother = Smoother(self.recognizer.classes, self.cfg)

    def push(self, chunk: np.ndarray, arrived: float | None = None) -> list[StreamStep]:
        """Add float32 mono 16 kHz samples; return the steps now due (usually 0 or 1).

        `arrived`: wall time (time.perf_counter()) at which the chunk's last sample was
        recorded (a real-time source); when given, each step carries latency_s, measured
        from the recording of the window's last sample."""
        chunk = np.asarray(chunk, dtype=np.float32).reshape(-1)
        if chunk.size and not np.all(np.isfinite(chunk)):
            raise InferenceError("stream chunk contains NaN or infinite samples.")
        start_total = self.total
        self.total += chunk.size
        keep = max(self.window, self.total - self.next_step + self.window)  # enough for every pending step
        self.buffer = np.concatenate([self.buffer, chunk])[-keep:]
        due = []
        while self.next_step <= self.total:
            due.append(self.next_step)
            self.next_step += self.hop
        if self.cfg.drop_late and len(due) > 1:
            skipped, due = len(due) - 1, due[-1:]
            self.index += skipped
        else:
            skipped = 0
        steps = []
        for end in due:
            if end < self.min_window:
                self.index += 1
                continue
            # the window's last sample was recorded (total - end) samples before the chunk's last
            end_arrived = None if arrived is None or end <= start_total else arrived - (self.total - end) / SAMPLE_RATE
            step = self._classify(end, skipped, end_arrived)
            steps.append(step)
            skipped = 0
        return steps

    def flush(self) -> list[StreamStep]:
        """Classify the audio after the last step if at least min_window_s of new audio came."""
        if self.total - self.done >= self.min_window and self.total > self.done:
            return [self._classify(self.total, 0, None)]
        return []

    def _classify(self, end: int, skipped: int, arrived: float | None) -> StreamStep:
        """Classify the window ending at stream position `end` (samples)."""
        buf_start = self.total - self.buffer.size  # stream position of buffer[0]
        start = max(0, end - self.window, buf_start)
        audio = self.buffer[start - buf_start : end - buf_start]
        t0 = time.perf_counter()
        pred = self.recognizer.predict(audio, source=f"stream window {start / SAMPLE_RATE:.2f} s")
        t1 = time.perf_counter()
        classes = self.recognizer.classes
        raw = np.array([pred.probs[c] for c in classes])
        raw_dims = None if pred.dimensions is None else np.array(list(pred.dimensions.values()))
        label, smoothed, dims = self.smoother.update(raw, raw_dims)
        step = StreamStep(self.index, start / SAMPLE_RATE, end / SAMPLE_RATE, label,
                          {c: float(p) for c, p in zip(classes, smoothed)},
                          pred.label, pred.probs, t1 - t0, skipped, None if arrived is None else t1 - arrived,
                          None if dims is None else dict(zip(pred.dimensions, map(float, dims))), pred.dimensions)
        self.index += 1
        self.done = end
        return step


def iter_chunks(waveform: np.ndarray, chunk_s: float = 0.1) -> Iterator[np.ndarray]:
    size = max(1, int(chunk_s * SAMPLE_RATE))
    for i in range(0, waveform.size, size):
        yield waveform[i : i + size]


def stream_waveform(recognizer: Recognizer, waveform: np.ndarray, cfg: StreamConfig = StreamConfig(),
                    realtime: bool = False, chunk_s: float = 0.1,
                    sleep: Callable[[float], None] = time.sleep) -> Iterator[StreamStep]:
    """Stream float32 mono 16 kHz audio in chunks of chunk_s, as fast as possible or at real time.

    At real time (drop_late on) the file plays like a recorder: a chunk becomes available
    when its last sample would have been recorded, and each push hands over every chunk
    recorded by then (as :func:`stream_microphone` drains its queue). So when a step takes
    longer than the hop, the next push brings several pending hops and the stream skips
    to the newest one: latency stays bounded by about compute + hop + chunk_s.
    """
    if realtime and not cfg.drop_late:
        cfg = StreamConfig(**{**cfg.__dict__, "drop_late": True})
    stream = StreamingRecognizer(recognizer, cfg)
    if not realtime:
        for chunk in iter_chunks(waveform, chunk_s):
            yield from stream.push(chunk)
        yield from stream.flush()
        return
    size = max(1, int(chunk_s * SAMPLE_RATE))
    t0 = time.perf_counter()
    pos = 0
    while pos < waveform.size:
        wait = t0 + min(waveform.size, pos + size) / SAMPLE_RATE - time.perf_counter()
        if wait > 0:  # wait for the next chunk to be recorded
            sleep(wait)
        recorded = int((time.perf_counter() - t0) * SAMPLE_RATE)  # samples recorded by now
        end = min(waveform.size, max(pos + size, pos + size * ((recorded - pos) // size)))  # whole chunks only
        yield from stream.push(waveform[pos:end], t0 + end / SAMPLE_RATE)
        pos = end
    yield from stream.flush()


def stream_file(recognizer: Recognizer, path: str, cfg: StreamConfig = StreamConfig(), realtime: bool = False,
                chunk_s: float = 0.1) -> Iterator[StreamStep]:
    """Stream an audio file (any format sier.audio reads); see stream_waveform."""
    from sier.audio import load_audio

    yield from stream_waveform(recognizer, load_audio(path), cfg, realtime, chunk_s)


def microphone_available() -> bool:
    try:
        import sounddevice  # noqa: F401
    except (ImportError, OSError):  # OSError: PortAudio library missing
        return False
    return True


def stream_microphone(recognizer: Recognizer, cfg: StreamConfig = StreamConfig(), chunk_s: float = 0.1,
                      max_s: float | None = None) -> Iterator[StreamStep]:
    """Stream the default microphone (needs the optional `sounddevice` package)."""
    if not microphone_available():
        raise InferenceError("microphone streaming needs the sounddevice package: pip install sounddevice.")
    import queue

    import sounddevice as sd

    chunks: queue.Queue = queue.Queue()
    stream = StreamingRecognizer(recognizer, StreamConfig(**{**cfg.__dict__, "drop_late": True}))

    def callback(indata, frames, time_info, status):  # runs in PortAudio's thread
        chunks.put((indata[:, 0].copy(), time.perf_counter()))

    with sd.InputStream(samplerate=SAMPLE_RATE, channels=1, dtype="float32",
                        blocksize=int(chunk_s * SAMPLE_RATE), callback=callback):
        while max_s is None or stream.total < max_s * SAMPLE_RATE:
            pending = [chunks.get()]
            while not chunks.empty():
                pending.append(chunks.get_nowait())
            audio = np.concatenate([c for c, _ in pending])
            yield from stream.push(audio, pending[-1][1])


def summarize(steps: Iterable[StreamStep]) -> dict[str, Any]:
    """Step count, mean/max compute and latency (ms), and the real-time factor of the compute."""
    steps = list(steps)
    compute = [s.compute_s for s in steps]
    lat = [s.latency_s for s in steps if s.latency_s is not None]
    out: dict[str, Any] = {"steps": len(steps), "skipped": sum(s.skipped for s in steps)}
    if compute:
        out.update(mean_compute_ms=1000 * float(np.mean(compute)), max_compute_ms=1000 * float(np.max(compute)))
    if lat:
        out.update(mean_latency_ms=1000 * float(np.mean(lat)), max_latency_ms=1000 * float(np.max(lat)))
    return out

"""Streaming: step count and times, smoothing, real-time pacing with bounded latency."""

from __future__ import annotations

import time

import numpy as np
import pytest

from inference_fixtures import CLASSES, make_checkpoint, speechlike, write_wav


@pytest.fixture(scope="module")
def recognizer(tmp_path_factory):
    from sier.inference.recognizer import Recognizer

    return Recognizer.from_checkpoint(make_checkpoint(tmp_path_factory.mktemp("stream") / "m.pth"))


def test_steps_windows_and_chunking(recognizer):
    from sier.inference.stream import StreamConfig, StreamingRecognizer, stream_waveform

    audio = speechlike(7.5)
    steps = list(stream_waveform(recognizer, audio, StreamConfig(window_s=3, hop_s=1, smoothing="none")))
    assert [s.end_s for s in steps] == [1, 2, 3, 4, 5, 6, 7, 7.5]
    assert [s.start_s for s in steps] == [0, 0, 0, 1, 2, 3, 4, 4.5]
    for s in steps:  # unsmoothed steps equal a direct prediction of the window
        ref = recognizer.predict(audio[int(s.start_s * 16000) : int(s.end_s * 16000)])
        assert s.label == ref.label and s.probs[s.label] == pytest.approx(ref.confidence, abs=1e-5)
    # chunk size does not matter: one push of everything gives the same steps
    stream = StreamingRecognizer(recognizer, StreamConfig(window_s=3, hop_s=1, smoothing="none"))
    whole = stream.push(audio) + stream.flush()
    assert [(s.start_s, s.end_s, s.label) for s in whole] == [(s.start_s, s.end_s, s.label) for s in steps]


def test_smoothing():
    from sier.inference.stream import Smoother, StreamConfig

    p = lambda i: np.eye(4)[i] * 0.7 + 0.075  # noqa: E731
    maj = Smoother(CLASSES, StreamConfig(smoothing="majority", majority_k=3))
    labels = [maj.update(p(i))[0] for i in (0, 0, 1, 0, 1, 1)]
    assert labels == ["neu", "neu", "neu", "neu", "hap", "hap"]
    ema = Smoother(CLASSES, StreamConfig(smoothing="ema", ema_alpha=0.3))
    labels = [ema.update(p(i))[0] for i in (0, 1, 1, 1)]
    assert labels == ["neu", "neu", "hap", "hap"]  # one step behind the raw labels
    assert Smoother(CLASSES, StreamConfig(smoothing="none")).update(p(2))[0] == "ang"


def test_realtime_pacing_and_bounded_latency(recognizer):
    from sier.inference.stream import StreamConfig, stream_waveform

    chunk_s = 0.1  # stream_waveform's default: audio arrives in chunks of 0.1 s

    def bound(steps, hop_s):
        # no queue: a result waits at most for its own compute, the step before it still running
        # (at most one hop's worth, the rest is dropped), and the chunk holding the window's end;
        # 0.15 s of slack for a loaded machine. A growing queue breaks this after a few steps.
        return max(s.compute_s for s in steps) + hop_s + chunk_s + 0.15

    audio = speechlike(3.2)
    t0 = time.perf_counter()
    steps = list(stream_waveform(recognizer, audio, StreamConfig(hop_s=0.5, window_s=2), realtime=True))
    wall = time.perf_counter() - t0
    assert wall >= 3.1  # played at real time
    assert len(steps) + sum(s.skipped for s in steps) == 6  # 0.5 ... 3.0 s; the 0.2 s tail is under min_window_s
    assert all(s.latency_s is not None and s.latency_s >= s.compute_s for s in steps)
    assert max(s.latency_s for s in steps) < bound(steps, 0.5)

    class Slow:
        classes = recognizer.classes

        def predict(self, audio, source=""):
            time.sleep(0.45)
            return recognizer.predict(audio, source)

    # compute (>= 0.45 s) slower than the hop (0.25 s): late windows are dropped, latency stays bounded
    # (without dropping, the 11 steps would queue up and the last answer come about 2 s late)
    steps = list(stream_waveform(Slow(), speechlike(3.0), StreamConfig(hop_s=0.25, window_s=1), realtime=True))
    assert sum(s.skipped for s in steps) > 0
    assert steps[-1].index == 11  # the last full hop (3.0 s) is answered; earlier ones were skipped
    assert max(s.latency_s for s in steps) < bound(steps, 0.25)


def test_stream_cli(recognizer, tmp_path, capsys):
    from sier.cli import main

    path = write_wav(tmp_path / "s.wav", speechlike(4.0))
    ckpt = recognizer.info["checkpoint"]
    assert main(["stream", "--model", ckpt, str(path), "--smoothing", "majority"]) == 0
    out = capsys.readouterr()
    assert len(out.out.strip().splitlines()) == 4 and "4 steps" in out.err
    assert main(["stream", "--model", ckpt]) == 1  # neither a file nor --microphone

"""The HTTP server over real sockets: uvicorn on 127.0.0.1 in a thread, httpx and websockets clients."""

from __future__ import annotations

import asyncio
import io
import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from inference_fixtures import SR, make_checkpoint, speechlike

httpx = pytest.importorskip("httpx")
uvicorn = pytest.importorskip("uvicorn")
websockets = pytest.importorskip("websockets")
sf = pytest.importorskip("soundfile")


@pytest.fixture(scope="module")
def recognizer(tmp_path_factory):
    from sier.inference.recognizer import Recognizer

    return Recognizer.from_checkpoint(make_checkpoint(tmp_path_factory.mktemp("srv") / "m.pth"))


class Slow:
    """A recognizer that takes `delay` seconds per prediction (for limit tests)."""

    def __init__(self, inner, delay: float) -> None:
        self.inner, self.delay, self.classes = inner, delay, inner.classes

    def predict(self, audio, source="audio"):
        time.sleep(self.delay)
        return self.inner.predict(audio, source)

    def describe(self):
        return self.inner.describe()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Running:
    def __init__(self, app) -> None:
        self.port = _free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.time() + 10
        while not self.server.started and time.time() < deadline:
            time.sleep(0.01)
        assert self.server.started
        return f"127.0.0.1:{self.port}"

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(5)


def _wav_bytes(audio: np.ndarray, rate: int = SR, fmt: str = "WAV", subtype: str | None = None) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, audio, rate, format=fmt, subtype=subtype)
    return buf.getvalue()


def _post(host: str, data: bytes, name: str = "a.wav", timeout: float = 30) -> httpx.Response:
    return httpx.post(f"http://{host}/predict", files={"file": (name, data, "audio/wav")}, timeout=timeout)


def test_predict_health_openapi_and_bad_uploads(recognizer):
    from sier.inference.server import ServerLimits, create_app

    limits = ServerLimits(max_upload_mb=0.5, max_duration_s=5.0)
    with Running(create_app(recognizer, limits)) as host:
        health = httpx.get(f"http://{host}/health").json()
        assert health["status"] == "ok" and health["model"]["classes"] == recognizer.classes
        spec = httpx.get(f"http://{host}/openapi.json").json()
        assert {"/predict", "/health"} <= set(spec["paths"])
        assert httpx.get(f"http://{host}/docs").status_code == 200

        # a 44.1 kHz stereo FLAC is resampled and downmixed
        stereo = np.stack([speechlike(1.5), speechlike(1.5, seed=3)], axis=1)
        ok = _post(host, _wav_bytes(stereo, 44_100, "FLAC"), "s.flac")
        assert ok.status_code == 200, ok.text
        body = ok.json()
        assert body["label"] in recognizer.classes and abs(sum(body["probs"].values()) - 1) < 1e-3
        assert body["duration_s"] == pytest.approx(1.5 * SR / 44_100, abs=0.01)

        garbage = _post(host, b"this is not audio" * 100, "g.wav")
        assert garbage.status_code == 400 and "cannot decode" in garbage.json()["detail"]
        assert _post(host, b"", "e.wav").status_code == 400
        short = _post(host, _wav_bytes(np.zeros(160, np.float32)), "short.wav")
        assert short.status_code == 422 and "too short" in short.json()["detail"]
        nan = _post(host, _wav_bytes(np.full(SR, np.nan, np.float32), subtype="FLOAT"), "nan.wav")
        assert nan.status_code == 422 and "NaN" in nan.json()["detail"]
        too_long = _post(host, _wav_bytes(np.zeros(6 * SR, np.int16).astype(np.float32), fmt="FLAC"), "long.flac")
        assert too_long.status_code == 422 and "limit is 5" in too_long.json()["detail"]
        too_big = _post(host, b"\0" * (1024 * 1024), "big.wav")
        assert too_big.status_code == 413
        missing = httpx.post(f"http://{host}/predict", timeout=10)
        assert missing.status_code == 422  # FastAPI's validation error: no file field


def test_concurrency_limit_and_timeout(recognizer):
    from sier.inference.server import ServerLimits, create_app

    audio = _wav_bytes(speechlike(1.0))
    with Running(create_app(Slow(recognizer, 1.0), ServerLimits(max_concurrency=1, timeout_s=10))) as host:
        with ThreadPoolExecutor(3) as pool:
            codes = sorted(r.status_code for r in pool.map(lambda _: _post(host, audio), range(3)))
        assert codes[0] == 200 and 503 in codes
        busy = [c for c in codes if c == 503]
        assert len(busy) >= 1
    with Running(create_app(Slow(recognizer, 1.5), ServerLimits(timeout_s=0.3))) as host:
        r = _post(host, audio)
        assert r.status_code == 504 and "longer than" in r.json()["detail"]


async def stream_session(host: str, payloads, query: str) -> list[dict]:
    """Send `payloads` (PCM bytes, then "end") to /stream?`query`; every message the server sends back."""
    messages = []
    async with websockets.connect(f"ws://{host}/stream?{query}") as ws:
        try:
            for p in payloads:
                await ws.send(p)
            async for m in ws:
                messages.append(json.loads(m))
        except websockets.ConnectionClosed:
            pass
    return messages


def test_websocket_stream(recognizer):
    from sier.inference.server import ServerLimits, create_app

    audio = speechlike(4.5)
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()

    def client(host: str, payloads, query="window_s=3&hop_s=1&smoothing=majority"):
        return stream_session(host, payloads, query)

    with Running(create_app(recognizer, ServerLimits(max_streams=2))) as host:
        chunk = 3200 * 2  # 0.2 s of 16-bit samples
        msgs = asyncio.run(client(host, [pcm[i : i + chunk] for i in range(0, len(pcm), chunk)] + ["end"]))
        steps = [m for m in msgs if m["type"] == "step"]
        assert msgs[-1] == {"type": "end", "steps": len(steps)}
        assert [s["end_s"] for s in steps] == [1.0, 2.0, 3.0, 4.0, 4.5]
        assert steps[3]["start_s"] == 1.0  # 3 s window
        assert all(s["label"] in recognizer.classes for s in steps)

        odd = asyncio.run(client(host, [b"\x00\x01\x02"]))
        assert odd[-1]["type"] == "error" and "even number" in odd[-1]["message"]
        bad = asyncio.run(client(host, [], query="smoothing=median"))
        assert bad[-1]["type"] == "error"


def test_websocket_limits_and_drop_late(recognizer):
    from sier.inference.server import ServerLimits, create_app

    pcm = (np.clip(speechlike(3.0), -1, 1) * 32767).astype("<i2").tobytes()
    chunks = [pcm[i : i + 3200] for i in range(0, len(pcm), 3200)]  # 0.1 s each

    async def session(host, query, payloads, hold_s=0.0):
        messages = []
        async with websockets.connect(f"ws://{host}/stream?{query}") as ws:
            try:
                for p in payloads:
                    await ws.send(p)
                if hold_s:
                    await asyncio.sleep(hold_s)
                    await ws.send("end")
            except websockets.ConnectionClosed:  # the server refused: its error message is still buffered
                pass
            try:
                async for m in ws:
                    messages.append(json.loads(m))
            except websockets.ConnectionClosed:
                pass
        return messages

    async def two_at_once(host):  # the first stream holds its slot while the second is refused
        first = asyncio.create_task(session(host, "hop_s=1", [chunks[0]], hold_s=1.0))
        await asyncio.sleep(0.3)
        second = await session(host, "hop_s=1", [chunks[0], "end"])
        await first
        await asyncio.sleep(0.3)  # the server frees the slot after the close
        return second

    with Running(create_app(recognizer, ServerLimits(max_streams=1, max_stream_s=2.0))) as host:
        refused = asyncio.run(two_at_once(host))
        assert refused[-1]["type"] == "error" and "too many streams" in refused[-1]["message"]
        too_long = asyncio.run(session(host, "hop_s=1", chunks + ["end"]))
        assert too_long[-1]["type"] == "error" and "longer than 2 s" in too_long[-1]["message"]

    # a step slower than the hop, chunks sent in one burst: drop_late answers the newest hop only
    with Running(create_app(Slow(recognizer, 0.3), ServerLimits())) as host:
        msgs = asyncio.run(session(host, "window_s=1&hop_s=0.25&drop_late=true", chunks + ["end"]))
        steps = [m for m in msgs if m["type"] == "step"]
        assert sum(s["skipped"] for s in steps) > 0 and steps[-1]["end_s"] == 3.0
        assert len(steps) < 11 and all(s["latency_ms"] is not None for s in steps)


def test_server_on_onnx_runtime(recognizer, tmp_path):
    pytest.importorskip("onnxruntime")
    from sier.inference.export import export_model
    from sier.inference.recognizer import Recognizer
    from sier.inference.server import create_app

    ckpt = recognizer.info["checkpoint"]
    onnx_rec = Recognizer.from_checkpoint(ckpt, "onnx", export_model(ckpt, tmp_path / "m.onnx", check=False).onnx_path)
    audio = speechlike(1.2)
    with Running(create_app(onnx_rec)) as host:
        assert httpx.get(f"http://{host}/health").json()["model"]["runtime"] == "onnx"
        body = _post(host, _wav_bytes(audio)).json()
    expected = recognizer.predict(audio)
    assert body["label"] == expected.label and body["confidence"] == pytest.approx(expected.confidence, abs=1e-4)

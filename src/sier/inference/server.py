"""HTTP server: POST /predict (an audio upload), WebSocket /stream (PCM chunks in, a JSON result
per step out), GET /health, the OpenAPI docs at /docs and /openapi.json, and at / a page to try
the model from a browser (live from the microphone over /stream, or a file over /predict;
static/index.html and static/live.js).

    app = create_app(Recognizer.from_checkpoint(ckpt), ServerLimits(max_concurrency=2))
    uvicorn.run(app, host="127.0.0.1", port=8000)        # or: sier serve --model ckpt

The model is loaded once, before the app is built. Limits protect the machine:
upload size (413), audio duration (422), concurrent predictions (503 with Retry-After when
all slots are busy), time per request (504). Bad audio is a 4xx with a message, never a 500.

WebSocket protocol (/stream?window_s=3&hop_s=1&smoothing=ema): the client sends binary
messages of 16-bit little-endian PCM, mono, 16 kHz (any length, an even number of bytes);
the server answers {"type": "step", ...} for every hop. With ``drop_late=true`` (a live
source sending at real time) every chunk already received is taken at once, so when steps
are slower than the hop the stale windows are skipped (``skipped`` counts them) and
``latency_ms`` (from the arrival of the window's last sample) stays bounded; without it every
hop is answered, however late (a file sent as fast as possible). The client sends the text "end" to
get the tail step and {"type": "end", "steps": n}; the server then closes. Errors come as
{"type": "error", "message": ...} followed by a close (code 1007 bad data, 1008 limits,
1013 too many streams).
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from fastapi import FastAPI, File, HTTPException, Query, UploadFile, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse, Response

from sier import __version__
from sier.audio import to_mono_16k, validate
from sier.constants import SAMPLE_RATE
from sier.errors import AudioError, InferenceError
from sier.inference.recognizer import Recognizer
from sier.inference.stream import SMOOTHINGS, StreamConfig, StreamingRecognizer

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"  # local only; pass --host 0.0.0.0 to listen on every interface
MULTIPART_OVERHEAD = 64 * 1024  # bytes of form framing allowed on top of max_upload_mb
STREAM_INBOX = 256  # WebSocket messages read ahead of the recogniser per stream


@dataclass(frozen=True)
class ServerLimits:
    """What one server accepts."""

    max_upload_mb: float = 20.0  # request body size of /predict (413 above)
    max_duration_s: float = 60.0  # audio length of one /predict upload (422 above)
    max_concurrency: int = 2  # predictions computed at once; more -> 503 (Retry-After: 1)
    timeout_s: float = 30.0  # time for one prediction; more -> 504
    max_streams: int = 4  # WebSocket streams open at once; more -> close 1013
    max_stream_s: float = 3600.0  # audio per WebSocket stream; more -> close 1008

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)


class _ContentLengthLimit:
    """ASGI middleware: 413 for a /predict body whose Content-Length is over the limit,
    before the multipart parser reads (and spools) any of it."""

    def __init__(self, app, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"] == "/predict":
            length = dict(scope.get("headers") or []).get(b"content-length")
            if length is not None and length.isdigit() and int(length) > self.limit:
                from starlette.responses import JSONResponse

                mb = self.limit / 1024 / 1024
                resp = JSONResponse({"detail": f"upload too large: {int(length)} bytes, limit about {mb:.1f} MB"},
                                    status_code=413)
                await resp(scope, receive, send)
                return
        await self.app(scope, receive, send)


def decode_upload(data: bytes, name: str, max_duration_s: float) -> np.ndarray:
    """Bytes of an audio file -> float32 mono 16 kHz; AudioError for bad or too long audio."""
    import soundfile as sf

    if not data:
        raise AudioError(f"{name}: empty upload.")
    try:
        info = sf.info(io.BytesIO(data))
        if info.samplerate and info.frames / info.samplerate > max_duration_s:
            raise _TooLong(f"{name}: audio is {info.frames / info.samplerate:.1f} s long; the limit is {max_duration_s:g} s.")
        samples, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (_TooLong, AudioError):
        raise
    except Exception as exc:  # soundfile raises several types on foreign bytes
        raise AudioError(f"{name}: cannot decode audio ({exc}); send WAV, FLAC or OGG.") from exc
    return validate(to_mono_16k(samples, rate), name)


class _TooLong(AudioError):
    """Audio longer than the server accepts."""


class _Service:
    """What the routes share: the loaded model, the limits, the worker threads and the counters."""

    def __init__(self, recognizer: Recognizer, limits: ServerLimits) -> None:
        self.recognizer, self.limits = recognizer, limits
        self.executor = ThreadPoolExecutor(max_workers=limits.max_concurrency + limits.max_streams,
                                           thread_name_prefix="sier-infer")
        self.slots = threading.BoundedSemaphore(limits.max_concurrency)
        self.lock = threading.Lock()
        self.busy = self.streams = self.served = 0

    def counters(self) -> dict[str, int]:
        return {"busy": self.busy, "streams": self.streams, "served": self.served}

    def predict(self, data: bytes, name: str) -> dict[str, Any]:
        """Decode and classify one upload (in a worker thread); frees the slot taken by the route."""
        with self.lock:
            self.busy += 1
        try:
            audio = decode_upload(data, name, self.limits.max_duration_s)
            return self.recognizer.predict(audio, source=name).to_dict()
        finally:
            with self.lock:
                self.busy -= 1
                self.served += 1
            self.slots.release()

    def open_stream(self) -> bool:
        """Count a new stream; False when max_streams are open already."""
        with self.lock:
            if self.streams >= self.limits.max_streams:
                return False
            self.streams += 1
            return True

    def close_stream(self) -> None:
        with self.lock:
            self.streams -= 1


def create_app(recognizer: Recognizer, limits: ServerLimits = ServerLimits()):
    """The FastAPI app serving `recognizer` (already loaded) under `limits`."""
    service = _Service(recognizer, limits)

    @asynccontextmanager
    async def lifespan(_app):
        yield
        service.executor.shutdown(wait=False, cancel_futures=True)

    task = ("Classes: " + ", ".join(recognizer.classes) if recognizer.classes else
            "Arousal, valence and dominance on 0..1 (a model of the dimensions only: no class).")
    app = FastAPI(title="sier", version=__version__, lifespan=lifespan, description="Speech emotion recognition. " + task)
    app.add_middleware(_ContentLengthLimit, limit=limits.max_upload_bytes + MULTIPART_OVERHEAD)
    app.state.recognizer, app.state.limits = recognizer, limits

    page = {name: resources.files("sier.inference").joinpath("static", name).read_text(encoding="utf-8")
            for name in ("index.html", "live.js")}

    @app.get("/", summary="a page to try the model: live from the microphone, or a file",
             response_class=HTMLResponse)
    def index() -> HTMLResponse:
        return HTMLResponse(page["index.html"])

    @app.get("/live.js", include_in_schema=False)
    def live_js() -> Response:
        return Response(page["live.js"], media_type="text/javascript")

    @app.get("/health", summary="liveness, model and limits")
    def health() -> dict[str, Any]:
        return {"status": "ok", "model": recognizer.describe(), "limits": asdict(limits), **service.counters()}

    @app.post("/predict", summary="classify an uploaded audio file (WAV, FLAC, OGG)")
    async def predict(file: UploadFile = File(..., description="audio file, any rate and channel count")):
        return await _predict_upload(service, file)

    @app.websocket("/stream")
    async def stream(websocket: WebSocket, window_s: float = Query(3.0), hop_s: float = Query(1.0),
                     smoothing: str = Query("ema"), drop_late: bool = Query(False)):
        await websocket.accept()
        if smoothing not in SMOOTHINGS:
            return await _fail(websocket, f"unknown smoothing {smoothing!r}; choose one of {', '.join(SMOOTHINGS)}.",
                               1008)
        try:
            cfg = StreamConfig(window_s=window_s, hop_s=hop_s, smoothing=smoothing, drop_late=drop_late)
        except InferenceError as exc:
            return await _fail(websocket, str(exc), 1008)
        if not service.open_stream():
            return await _fail(websocket, f"too many streams ({limits.max_streams}); retry later.", 1013)
        try:
            await _run_stream(websocket, service, cfg)
        finally:
            service.close_stream()

    return app


async def _predict_upload(service: _Service, file: UploadFile) -> dict[str, Any]:
    """POST /predict: the limits' 4xx answers around one prediction in a worker thread."""
    limits = service.limits
    data = await file.read(limits.max_upload_bytes + 1)
    name = file.filename or "upload"
    if len(data) > limits.max_upload_bytes:
        raise HTTPException(413, f"{name}: upload larger than {limits.max_upload_mb:g} MB.")
    if not service.slots.acquire(blocking=False):
        raise HTTPException(503, f"server busy: {limits.max_concurrency} predictions running; retry shortly.",
                            headers={"Retry-After": "1"})
    future = asyncio.get_running_loop().run_in_executor(service.executor, service.predict, data, name)
    try:  # shield: on timeout the worker finishes in the background and frees its slot
        result = await asyncio.wait_for(asyncio.shield(future), limits.timeout_s)
    except asyncio.TimeoutError:
        raise HTTPException(504, f"{name}: prediction took longer than {limits.timeout_s:g} s.") from None
    except _TooLong as exc:
        raise HTTPException(422, str(exc)) from None
    except AudioError as exc:
        raise HTTPException(400 if "cannot decode" in str(exc) or "empty upload" in str(exc) else 422,
                            str(exc)) from None
    except InferenceError as exc:
        raise HTTPException(422, str(exc)) from None
    return {"file": name, **result}


async def _fail(websocket: WebSocket, message: str, code: int) -> None:
    await websocket.send_text(json.dumps({"type": "error", "message": message}))
    await websocket.close(code=code)


async def _send_steps(websocket: WebSocket, steps: list) -> None:
    for step in steps:
        await websocket.send_text(json.dumps({"type": "step", **step.to_dict()}))


async def _read_into(websocket: WebSocket, inbox: asyncio.Queue) -> None:
    """Queue the socket's messages with their arrival time, so a slow step cannot hide a backlog."""
    try:
        while True:
            message = await websocket.receive()
            await inbox.put((message, time.perf_counter()))
            if message["type"] == "websocket.disconnect":
                return
    except Exception:  # the socket went away
        await inbox.put(({"type": "websocket.disconnect"}, time.perf_counter()))


def _take_waiting(inbox: asyncio.Queue, data: list[bytes], arrived: float) -> tuple[float, Any]:
    """drop_late: append every binary chunk already queued to `data` (module doc). Returns the
    arrival time of the last one taken and the first non-binary message met (held for the
    next turn), or None."""
    while not inbox.empty():
        message, when = inbox.get_nowait()
        if message.get("bytes") is None:
            return arrived, (message, when)
        data.append(message["bytes"])
        arrived = when
    return arrived, None


async def _run_stream(websocket: WebSocket, service: _Service, cfg: StreamConfig) -> None:
    """One accepted WebSocket stream, until "end", a disconnect or an error (protocol: module doc)."""
    limits, loop = service.limits, asyncio.get_running_loop()
    streamer = StreamingRecognizer(service.recognizer, cfg)
    inbox: asyncio.Queue = asyncio.Queue(maxsize=STREAM_INBOX)  # full: TCP back-pressure on the client
    reader = asyncio.create_task(_read_into(websocket, inbox))
    sent, held = 0, None
    try:
        while True:
            message, arrived = held or await inbox.get()
            held = None
            if message["type"] == "websocket.disconnect":
                return
            if message.get("bytes") is not None:
                chunks = [message["bytes"]]
                if cfg.drop_late:
                    arrived, held = _take_waiting(inbox, chunks, arrived)
                data = b"".join(chunks)
                if len(data) % 2:
                    return await _fail(websocket, "PCM chunks must hold 16-bit samples (an even number of bytes).",
                                       1007)
                if streamer.total + len(data) // 2 > limits.max_stream_s * SAMPLE_RATE:
                    return await _fail(websocket, f"stream longer than {limits.max_stream_s:g} s.", 1008)
                chunk = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
                steps = await loop.run_in_executor(service.executor, streamer.push, chunk,
                                                   arrived if cfg.drop_late else None)
            elif (message.get("text") or "").strip().lower() in ("end", '{"type": "end"}', '{"type":"end"}'):
                steps = await loop.run_in_executor(service.executor, streamer.flush)
                await _send_steps(websocket, steps)
                await websocket.send_text(json.dumps({"type": "end", "steps": sent + len(steps)}))
                return await websocket.close(code=1000)
            else:
                return await _fail(websocket, 'send binary PCM chunks, then the text "end".', 1003)
            await _send_steps(websocket, steps)
            sent += len(steps)
    except WebSocketDisconnect:
        return
    except (AudioError, InferenceError) as exc:
        return await _fail(websocket, str(exc), 1007)
    finally:
        reader.cancel()


def serve(recognizer: Recognizer, limits: ServerLimits = ServerLimits(), host: str = DEFAULT_HOST,
          port: int = 8000) -> None:
    """Run the app with uvicorn until interrupted (blocking)."""
    import uvicorn

    if host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("listening on %s: the server is reachable from other machines and has no authentication", host)
    shown = f"[{host}]" if ":" in host else host
    print(f"open http://{shown}:{port}/ to try the model (microphone or a file); API docs at /docs", flush=True)
    uvicorn.run(create_app(recognizer, limits), host=host, port=port, log_level="info")

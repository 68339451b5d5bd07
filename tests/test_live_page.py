"""The browser page of `sier serve`: served at / with its script, consistent with the HTML and
the server's messages, and its audio helpers (run under Node where Node is installed) turn
48 kHz microphone audio into the 16 kHz PCM that /stream answers."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path

import httpx
import numpy as np
import pytest

from inference_fixtures import make_checkpoint, speechlike
from sier.inference.stream import StreamStep
from test_server import Running, stream_session

websockets = pytest.importorskip("websockets")
STATIC = resources.files("sier.inference").joinpath("static")
NODE = shutil.which("node")


@pytest.fixture(scope="module")
def recognizer(tmp_path_factory):
    from sier.inference.recognizer import Recognizer

    return Recognizer.from_checkpoint(make_checkpoint(tmp_path_factory.mktemp("page") / "m.pth"))


class _Ids(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        self.ids.update(v for k, v in attrs if k == "id")


def test_the_page_and_its_script_agree_with_each_other_and_the_server(recognizer):
    from sier.inference.server import create_app

    with Running(create_app(recognizer)) as host:
        page = httpx.get(f"http://{host}/", timeout=10)
        script = httpx.get(f"http://{host}/live.js", timeout=10)
        health = httpx.get(f"http://{host}/health", timeout=10).json()
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<script src="/live.js"' in page.text
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    js = script.text
    ids = _Ids()
    ids.feed(page.text)
    used = set(re.findall(r'\$\("([\w-]+)"\)', js))
    assert used and used <= ids.ids, used - ids.ids  # every element the script touches exists
    step = StreamStep(0, 0.0, 3.0, "neu", {"neu": 1.0}, "neu", {"neu": 1.0}, 0.01).to_dict()
    read = set(re.findall(r"msg\.(\w+)", js)) - {"type", "message"}
    assert read <= set(step), read - set(step)  # every field the page shows is one the server sends
    assert {"classes", "upstream"} <= set(health["model"]) and "health.model.classes" in js
    options = set(re.findall(r"<option>(\w+)</option>", page.text))
    from sier.inference.stream import SMOOTHINGS

    assert options == set(SMOOTHINGS)


NODE_SCRIPT = r"""
const live = require(process.argv[1]);
const rate = 48000, n = rate;  // one second of a 440 Hz tone at the microphone's rate
const tone = Float32Array.from({length: n}, (_, i) => 0.5 * Math.sin(2 * Math.PI * 440 * i / rate));
const whole = new live.LinearResampler(rate).push(tone);
const r = new live.LinearResampler(rate);
const parts = [];
for (let i = 0, size = 1000; i < n; i += size, size = size === 1000 ? 4096 : 1000) parts.push(...r.push(tone.subarray(i, i + size)));
const pcm = live.floatTo16BitPCM(Float32Array.from(parts));
console.log(JSON.stringify({
  whole: Array.from(whole), chunked: parts, pcm: Array.from(pcm),
  clip: Array.from(live.floatTo16BitPCM(Float32Array.of(0, 0.5, -1, 1.5, -2))),
  url: live.streamUrl({protocol: "https:", host: "h:8000"}, {window_s: 3, drop_late: "true"}),
  bars: live.barsOf({label: "ang", probs: {neu: 0.1, ang: 0.9}}, ["neu", "ang", "sad"]),
  dims: live.dimensionsText({dimensions: {arousal: 0.625, valence: 0.4, dominance: 0.551}}),
  noDims: live.dimensionsText({label: "neu", probs: {neu: 1}}),
  dimsBars: live.barsOf({dimensions: {arousal: 0.6, valence: 0.4, dominance: 0.5}}, []),
}));
"""


@pytest.mark.skipif(NODE is None, reason="needs Node.js to run the page's script")
def test_the_script_resamples_to_16k_pcm_that_the_stream_answers(recognizer, tmp_path):
    from sier.inference.server import ServerLimits, create_app

    with resources.as_file(STATIC.joinpath("live.js")) as live_js:
        out = subprocess.run([NODE, "-e", NODE_SCRIPT, str(Path(live_js).resolve())], capture_output=True, text=True,
                             timeout=60, check=True).stdout
    got = json.loads(out)
    t = np.arange(16000) / 16000
    assert len(got["whole"]) == 16000 and got["chunked"] == pytest.approx(got["whole"], abs=1e-6)
    assert np.max(np.abs(np.array(got["whole"]) - 0.5 * np.sin(2 * np.pi * 440 * t))) < 1e-3
    assert got["clip"] == [0, 16384, -32768, 32767, -32768]
    assert got["url"] == "wss://h:8000/stream?window_s=3&drop_late=true"
    assert got["bars"] == [{"cls": "neu", "prob": 0.1, "top": False}, {"cls": "ang", "prob": 0.9, "top": True},
                           {"cls": "sad", "prob": 0, "top": False}]
    assert got["dims"] == "arousal 0.63 · valence 0.40 · dominance 0.55" and got["noDims"] == ""
    assert got["dimsBars"] == [{"cls": "arousal", "prob": 0.6, "top": False}, {"cls": "valence", "prob": 0.4,
                               "top": False}, {"cls": "dominance", "prob": 0.5, "top": False}]

    # the script's PCM of 3 s of speech-like audio, sent as the page sends it
    del got
    audio48 = np.interp(np.arange(3 * 48000) / 48000, np.arange(3 * 16000) / 16000, speechlike(3.0))
    (tmp_path / "audio.json").write_text(json.dumps(audio48.tolist()))
    script = ("const live = require(process.argv[1]); const a = require(process.argv[2]);"
              "process.stdout.write(Buffer.from(live.floatTo16BitPCM(new live.LinearResampler(48000)"
              ".push(Float32Array.from(a))).buffer));")
    with resources.as_file(STATIC.joinpath("live.js")) as live_js:
        pcm = subprocess.run([NODE, "-e", script, str(Path(live_js).resolve()), str(tmp_path / "audio.json")],
                             capture_output=True, timeout=60, check=True).stdout
    assert len(pcm) == 2 * 3 * 16000

    chunks = [pcm[i : i + 8192] for i in range(0, len(pcm), 8192)] + ["end"]
    with Running(create_app(recognizer, ServerLimits())) as host:
        messages = asyncio.run(stream_session(host, chunks, "window_s=1&hop_s=1"))
    steps = [m for m in messages if m["type"] == "step"]
    assert [s["end_s"] for s in steps][:3] == [1.0, 2.0, 3.0]
    assert all(abs(sum(s["probs"].values()) - 1) < 1e-3 for s in steps)
    assert messages[-1]["type"] == "end"

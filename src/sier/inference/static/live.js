// sier live page: microphone -> 16 kHz 16-bit PCM -> WebSocket /stream -> a label and bars per step.
// The pure helpers at the top are also loaded by the tests (under Node), which is why they
// touch neither the DOM nor the audio API.
"use strict";

const TARGET_RATE = 16000;

// Float samples in [-1, 1] -> 16-bit little-endian PCM (clipped), as /stream expects.
function floatTo16BitPCM(samples) {
  const out = new Int16Array(samples.length);
  for (let i = 0; i < samples.length; i++) {
    const s = Math.max(-1, Math.min(1, samples[i]));
    out[i] = s < 0 ? Math.round(s * 32768) : Math.round(s * 32767);
  }
  return out;
}

// Linear-interpolation resampler that keeps its place across chunks, so the audio of a
// stream comes out the same however the browser cuts it. Browsers capture at 44.1 or 48 kHz.
class LinearResampler {
  constructor(fromRate, toRate = TARGET_RATE) {
    if (!(fromRate > 0 && toRate > 0)) throw new Error(`bad sample rates ${fromRate} -> ${toRate}`);
    this.step = fromRate / toRate; // input samples per output sample
    this.pos = 0; // position of the next output sample, in input samples from the start of `prev`
    this.prev = null; // the last input sample of the previous chunk
  }

  push(chunk) {
    const input = this.prev === null ? Float32Array.from(chunk) : Float32Array.of(this.prev, ...chunk);
    const out = [];
    while (this.pos + 1 < input.length || (this.pos === input.length - 1 && Number.isInteger(this.pos))) {
      const i = Math.floor(this.pos);
      const frac = this.pos - i;
      out.push(frac === 0 ? input[i] : input[i] * (1 - frac) + input[i + 1] * frac);
      this.pos += this.step;
    }
    // keep the last sample: the next output may fall between it and the next chunk's first
    this.pos -= input.length - 1;
    this.prev = input[input.length - 1];
    return Float32Array.from(out);
  }
}

// The WebSocket URL of /stream on the page's own server.
function streamUrl(location, params) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const query = new URLSearchParams(params).toString();
  return `${scheme}//${location.host}/stream?${query}`;
}

// [{cls, prob, top}] of a step, in the model's class order, for the bars. A model of the
// dimensions only has no class: its bars are arousal, valence and dominance (0..1), none on top.
function barsOf(step, classes) {
  if (classes.length === 0) {
    return Object.entries(step.dimensions ?? {}).map(([cls, prob]) => ({ cls, prob, top: false }));
  }
  return classes.map((cls) => ({ cls, prob: step.probs[cls] ?? 0, top: cls === step.label }));
}

// "arousal 0.62 · valence 0.41 · dominance 0.55" of a step whose model predicts the
// dimensions (0..1 of the training corpus's scale); "" for one that does not.
function dimensionsText(step) {
  if (!step.dimensions) return "";
  return Object.entries(step.dimensions).map(([name, value]) => `${name} ${value.toFixed(2)}`).join(" · ");
}

if (typeof module !== "undefined") {
  module.exports = { floatTo16BitPCM, LinearResampler, streamUrl, barsOf, dimensionsText, TARGET_RATE };
}

// ---------------------------------------------------------------- the page (browser only)

if (typeof document !== "undefined") {
  const $ = (id) => document.getElementById(id);
  let classes = [];
  let live = null; // {ws, ctx, stream, node}

  function showBars(step) {
    const dimensionsOnly = classes.length === 0;
    $("label").textContent = dimensionsOnly ? "" : step.label;
    $("dimensions").textContent = dimensionsOnly ? "" : dimensionsText(step);
    $("bars").innerHTML = "";
    for (const bar of barsOf(step, classes)) {
      const row = document.createElement("div");
      row.className = "bar" + (bar.top ? " top" : "");
      row.innerHTML = `<span class="name"></span><span class="fill"></span><span class="pct"></span>`;
      row.querySelector(".name").textContent = bar.cls;
      row.querySelector(".fill").style.width = `${(100 * bar.prob).toFixed(1)}%`;
      row.querySelector(".pct").textContent = dimensionsOnly ? bar.prob.toFixed(2) : `${(100 * bar.prob).toFixed(1)} %`;
      $("bars").appendChild(row);
    }
  }

  async function start() {
    $("start").disabled = true;
    try {
      const stream = await navigator.mediaDevices.getUserMedia({
        audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
      });
      const ctx = new AudioContext();
      const source = ctx.createMediaStreamSource(stream);
      // ScriptProcessorNode is deprecated but needs no second file and works everywhere.
      const node = ctx.createScriptProcessor(4096, 1, 1);
      const resampler = new LinearResampler(ctx.sampleRate);
      const params = { window_s: $("window").value, hop_s: $("hop").value, smoothing: $("smoothing").value,
                       drop_late: "true" };
      const ws = new WebSocket(streamUrl(window.location, params));
      ws.binaryType = "arraybuffer";
      ws.onmessage = (event) => {
        const msg = JSON.parse(event.data);
        if (msg.type === "step") {
          showBars(msg);
          const latency = msg.latency_ms === null ? "" : `, latency ${Math.round(msg.latency_ms)} ms`;
          $("status").textContent = `step ${msg.index}: ${msg.start_s.toFixed(1)}-${msg.end_s.toFixed(1)} s` +
            latency + (msg.skipped ? `, ${msg.skipped} late steps skipped` : "");
        } else if (msg.type === "error") {
          $("status").textContent = `error: ${msg.message}`;
        }
      };
      ws.onclose = () => stop();
      node.onaudioprocess = (event) => {
        if (ws.readyState === WebSocket.OPEN) {
          ws.send(floatTo16BitPCM(resampler.push(event.inputBuffer.getChannelData(0))).buffer);
        }
      };
      source.connect(node);
      node.connect(ctx.destination);
      live = { ws, ctx, stream, node };
      $("stop").disabled = false;
      $("status").textContent = `listening (${ctx.sampleRate} Hz, sent as 16 kHz)...`;
    } catch (err) {
      $("status").textContent = `cannot record: ${err.message}`;
      $("start").disabled = false;
    }
  }

  function stop() {
    if (!live) return;
    const { ws, ctx, stream, node } = live;
    live = null;
    node.disconnect();
    stream.getTracks().forEach((t) => t.stop());
    ctx.close();
    if (ws.readyState === WebSocket.OPEN) ws.send("end");
    $("start").disabled = false;
    $("stop").disabled = true;
  }

  async function upload(event) {
    event.preventDefault();
    const file = $("file").files[0];
    if (!file) return;
    const form = new FormData();
    form.append("file", file);
    $("result").textContent = "...";
    const response = await fetch("/predict", { method: "POST", body: form });
    const body = await response.json();
    $("result").textContent = response.ok ? JSON.stringify(body, null, 2) : `${response.status}: ${body.detail}`;
  }

  window.addEventListener("DOMContentLoaded", async () => {
    const health = await (await fetch("/health")).json();
    classes = health.model.classes;
    const task = classes.length ? `classes ${classes.join(", ")}` : "arousal, valence, dominance (0..1; no class)";
    $("model").textContent = `${task}; upstream ${health.model.upstream}; ` +
      `runtime ${health.model.runtime ?? "torch"}`;
    $("start").onclick = start;
    $("stop").onclick = stop;
    $("upload").onsubmit = upload;
  });
}

"""Benchmark: streaming and whole-file inference with eager PyTorch, ONNX fp32 and ONNX int8.

For each front-end (a base-sized HuBERT: HubertConfig() defaults, 12 layers, 768 hidden,
random init saved with save_pretrained to a temp dir; the tiny test HuBERT; log-mel fbank)
it builds a sier checkpoint, exports it with `export_model(whole=True, quantize="int8")`
(fbank: the classifier graph, the log-mel stays in numpy/torch), and prints

- streaming: mean and max compute per step (= latency per step when audio arrives in real
  time) for a window_s window every hop_s, and the streaming real-time factor
  RTF = mean step compute / hop (below 1: keeps up);
- whole file: seconds to classify one `--seconds` long clip, as an RTF;
- int8 versus fp32 agreement on clips of four kinds of synthetic audio. A random head has
  near-tied logits, so the head here is trained first (Adam, a few hundred steps on the
  frozen pooled embeddings of other clips of the same four kinds); its logits are then
  decisive and the agreement means something. The upstream stays random.

No download; asserts nothing.

    HF_HUB_OFFLINE=1 python bench/bench_inference.py [--upstreams base,tiny,fbank] [--seconds 6]
        [--window_s 3 --hop_s 1] [--repeats 3] [--clips 24] [--base_layers 12] [--threads N]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from sier.constants import SAMPLE_RATE

# The decisive checkpoint and the four kinds of audio are the inference tests' own fixtures.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from inference_fixtures import make_decisive_checkpoint, signal_of_kind  # noqa: E402

# default model sizes (hidden 128, 2 GRU layers, 8 heads), no speaker head: what a user deploys
BENCH_MODEL = dict(hidden_size=128, num_gru_layers=2, num_heads=8, num_speakers=0)

RUNTIMES = ("torch", "onnx fp32", "onnx int8")


def save_upstream(kind: str, folder: Path, layers: int) -> tuple[str, int]:
    """A random HuBERT saved with save_pretrained: (folder, hidden size); ("fbank", 80) for fbank."""
    if kind == "fbank":
        return "fbank", 80
    from transformers import HubertConfig, HubertModel, Wav2Vec2FeatureExtractor

    no_dropout = dict(hidden_dropout=0.0, attention_dropout=0.0, activation_dropout=0.0, feat_proj_dropout=0.0,
                      layerdrop=0.0)
    if kind == "base":
        cfg = HubertConfig(num_hidden_layers=layers, **no_dropout)  # hubert-base: 768 hidden, 12 heads
    else:
        cfg = HubertConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
                           conv_dim=(32,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4,
                           **no_dropout)
    torch.manual_seed(0)
    HubertModel(cfg).eval().save_pretrained(folder)
    Wav2Vec2FeatureExtractor(do_normalize=False, return_attention_mask=False).save_pretrained(folder)
    return str(folder), cfg.hidden_size


def recognizers(ckpt: Path, out: Path) -> tuple[dict, dict, str, float]:
    """{runtime: Recognizer}, {ONNX runtime: graph path}, the exported graph kind, and the
    export + quantise time in s."""
    from sier.inference.export import export_model
    from sier.inference.recognizer import Recognizer

    start = time.perf_counter()
    result = export_model(ckpt, out, whole=True, quantize="int8", check=False)
    export_s = time.perf_counter() - start
    paths = {"onnx fp32": Path(result.onnx_path), "onnx int8": Path(result.int8_path)}
    recs = {"torch": Recognizer.from_checkpoint(ckpt)}
    for name, path in paths.items():
        recs[name] = Recognizer.from_checkpoint(ckpt, "onnx", path)
    return recs, paths, result.kind, export_s


def stream_figures(rec, audio: np.ndarray, window_s: float, hop_s: float) -> dict[str, float]:
    """Steps of a stream run as fast as possible; compute per step = latency at real time."""
    from sier.inference.stream import StreamConfig, stream_waveform

    cfg = StreamConfig(window_s=window_s, hop_s=hop_s, smoothing="none")
    steps = [s for s in stream_waveform(rec, audio, cfg) if s.end_s - s.start_s >= window_s - 1e-6]
    compute = np.array([s.compute_s for s in steps])
    return {"steps": len(steps), "mean_ms": 1000 * compute.mean(), "max_ms": 1000 * compute.max(),
            "rtf": compute.mean() / hop_s}


def file_rtf(rec, audio: np.ndarray) -> float:
    start = time.perf_counter()
    rec.predict(audio)
    return (time.perf_counter() - start) / (audio.size / SAMPLE_RATE)


def speed_figures(recs: dict, audio: np.ndarray, window_s: float, hop_s: float, repeats: int) -> dict[str, dict]:
    """Per runtime, the stream figures and file RTF of its best of `repeats` rounds. The
    runtimes take turns within each round, so a busy spell on a shared machine hits all of
    them rather than one (the speed-up ratios below compare figures of the same run)."""
    for rec in recs.values():  # warm-up
        rec.predict(audio[: int(window_s * SAMPLE_RATE)])
    rows: dict[str, dict] = {}
    for _ in range(repeats):
        for name, rec in recs.items():
            stream, rtf = stream_figures(rec, audio, window_s, hop_s), file_rtf(rec, audio)
            best = rows.get(name)
            if best is None or stream["mean_ms"] < best["mean_ms"]:
                rows[name] = {**stream, "file_rtf": min(rtf, best["file_rtf"]) if best else rtf}
            else:
                best["file_rtf"] = min(best["file_rtf"], rtf)
    return rows


def agreement(recs: dict, clips: int) -> tuple[dict, float]:
    """int8 and fp32 against torch on `clips` unseen clips (all four kinds, 1-2.5 s)."""
    from sier.inference.export import compare_logits

    audio = [signal_of_kind(i % 4, 1.0 + 1.5 * ((i * 7) % 11) / 10, seed=5000 + i) for i in range(clips)]
    logits = {name: np.stack([rec.logits(a) for a in audio]) for name, rec in recs.items()}
    ref = logits["torch"]
    top2 = np.sort(ref, axis=1)[:, -2:]
    margin = float(np.median(top2[:, 1] - top2[:, 0]))
    return {name: compare_logits(ref, logits[name]) for name in ("onnx fp32", "onnx int8")}, margin


def op_times(path: Path, audio: np.ndarray, threads: int, runs: int = 3) -> dict[str, float]:
    """Milliseconds per run by ONNX op type (onnxruntime's profiler) over `runs` runs of one
    window, after a warm-up run whose events are left out."""
    import collections
    import json

    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.log_severity_level = 3
    opts.enable_profiling = True
    opts.profile_file_prefix = str(path.with_suffix(""))
    session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: audio[None].astype(np.float32)}
    for _ in range(1 + runs):
        session.run(None, feed)
    events = json.loads(Path(session.end_profiling()).read_text())
    starts = sorted(e["ts"] for e in events if e.get("name") == "model_run")
    totals: collections.Counter = collections.Counter()
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time") and event["ts"] >= starts[1]:
            totals[event["args"]["op_name"]] += event["dur"] / 1000
    return {op: ms / runs for op, ms in totals.items()}


def int8_breakdown(paths: dict[str, Path], audio: np.ndarray, threads: int, rounds: int = 3) -> None:
    """Where int8 gains and where it cannot: the matrix products against the convolutions,
    which stay fp32 (quantising them cost agreement, see docs/inference.md). The two graphs
    take turns for `rounds` rounds of 3 runs; per graph the round with the least total counts."""
    best: dict[str, dict[str, float]] = {}
    for _ in range(rounds):
        for name, path in paths.items():
            times = op_times(path, audio, threads)
            if name not in best or sum(times.values()) < sum(best[name].values()):
                best[name] = times
    fp32, int8 = best["onnx fp32"], best["onnx int8"]
    products = ("MatMul", "FusedMatMul", "DynamicQuantizeMatMul", "MatMulIntegerToFloat", "MatMulInteger",
                "DynamicQuantizeLinear", "Gemm")
    mm32, mm8 = (sum(t.get(op, 0.0) for op in products) for t in (fp32, int8))
    conv32, conv8 = fp32.get("Conv", 0.0), int8.get("Conv", 0.0)
    total32, total8 = sum(fp32.values()), sum(int8.values())
    print(f"onnxruntime profile of one {audio.size / SAMPLE_RATE:g} s window (ms per run): fp32 {total32:.0f} "
          f"(matrix products {mm32:.0f}, Conv {conv32:.0f}), int8 {total8:.0f} (products {mm8:.0f}, Conv {conv8:.0f}); "
          f"products int8 / fp32 {mm32 / max(mm8, 1e-9):.2f}x; whole graph {total32 / total8:.2f}x, "
          f"and {(total32 - conv32) / max(total8 - conv8, 1e-9):.2f}x if the fp32 convolutions took no time")


def bench_upstream(kind: str, args, tmp: Path) -> None:
    upstream, dim = save_upstream(kind, tmp / f"{kind}-upstream", args.base_layers)
    start = time.perf_counter()
    ckpt = make_decisive_checkpoint(tmp / f"{kind}.pth", upstream, dim, per_kind=args.train_clips, model=BENCH_MODEL)
    recs, paths, graph, export_s = recognizers(ckpt, tmp / f"{kind}.onnx")
    params = sum(p.numel() for p in recs["torch"].frontend.parameters()) / 1e6
    print(f"\n== {kind} front-end ({params:.1f} M upstream params; {graph} graph exported; "
          f"checkpoint {time.perf_counter() - start - export_s:.0f} s, export + int8 {export_s:.0f} s)")
    audio = np.concatenate([signal_of_kind(i % 4, 2.0, seed=900 + i) for i in range(int(np.ceil(args.seconds / 2)))])
    audio = audio[: int(args.seconds * SAMPLE_RATE)]
    rows = speed_figures(recs, audio, args.window_s, args.hop_s, args.repeats)
    print(f"{'runtime':<10} {'stream ms/step (mean / max)':>28} {'stream RTF':>11} {f'{args.seconds:g} s file RTF':>14}")
    for name, r in rows.items():
        print(f"{name:<10} {r['mean_ms']:>17.1f} / {r['max_ms']:>7.1f} {r['rtf']:>11.3f} {r['file_rtf']:>14.4f}")
    t, f, q = (rows[n] for n in RUNTIMES)
    print(f"speed-up per stream step: onnx fp32 / torch {t['mean_ms'] / f['mean_ms']:.2f}x, "
          f"int8 / onnx fp32 {f['mean_ms'] / q['mean_ms']:.2f}x, int8 / torch {t['mean_ms'] / q['mean_ms']:.2f}x; "
          f"whole file: int8 / onnx fp32 {f['file_rtf'] / q['file_rtf']:.2f}x")
    if graph == "whole":
        int8_breakdown(paths, audio[: int(args.window_s * SAMPLE_RATE)], torch.get_num_threads())
    parity, margin = agreement(recs, args.clips)
    for name, p in parity.items():
        print(f"{name} vs torch on {args.clips} clips (median top-2 logit margin {margin:.1f}): {p.summary()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--upstreams", default="base,tiny,fbank", help="comma list of base, tiny, fbank")
    parser.add_argument("--seconds", type=float, default=6.0, help="audio streamed and classified whole")
    parser.add_argument("--window_s", type=float, default=3.0)
    parser.add_argument("--hop_s", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=3, help="rounds of timing; the best round of each runtime counts")
    parser.add_argument("--clips", type=int, default=24, help="clips for the int8 agreement")
    parser.add_argument("--train_clips", type=int, default=4, help="clips per kind to train the head on")
    parser.add_argument("--base_layers", type=int, default=12, help="transformer layers of the base upstream")
    parser.add_argument("--threads", type=int, default=None, help="torch and onnxruntime threads (default: torch's)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    if args.threads:
        torch.set_num_threads(args.threads)
    import onnxruntime

    print(f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, {torch.get_num_threads()} threads; "
          f"window {args.window_s:g} s, hop {args.hop_s:g} s")
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.upstreams.split(","):
            bench_upstream(kind.strip(), args, Path(tmp))


if __name__ == "__main__":
    main()

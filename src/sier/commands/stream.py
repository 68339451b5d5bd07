import argparse

HELP = "stream a file (or the microphone) through a model: one line per hop over a sliding window"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("audio", nargs="?", default=None, help="audio file to stream; omit with --microphone")
    p.add_argument("--model", required=True,
                   help="sier checkpoint (.pth), or an experiment directory: the mean of its fold models")
    p.add_argument("--window_s", type=float, default=3.0, help="seconds classified at each step")
    p.add_argument("--hop_s", type=float, default=1.0, help="seconds between steps")
    p.add_argument("--smoothing", default="ema", choices=["ema", "majority", "none"], help="smoothing over steps")
    p.add_argument("--ema_alpha", type=float, default=0.5, help="weight of the newest step in the EMA")
    p.add_argument("--majority_k", type=int, default=3, help="steps voted over by majority smoothing")
    p.add_argument("--realtime", action="store_true", help="play the file at real time (default: as fast as possible)")
    p.add_argument("--microphone", action="store_true", help="stream the default microphone (needs sounddevice)")
    p.add_argument("--max_s", type=float, default=None, help="stop the microphone after this many seconds")
    p.add_argument("--json", action="store_true", help="print one JSON object per step")
    p.add_argument("--runtime", default="torch", choices=["torch", "onnx"], help="torch or onnxruntime")
    p.add_argument("--onnx", default=None, help="ONNX file from `sier export` (with --runtime onnx)")
    p.add_argument("--speaker_stats", default=None, metavar="FILE",
                   help="the speaker's feature statistics from `sier enroll`, for a model trained with --speaker_norm")


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from sier.errors import InferenceError
    from sier.inference.recognizer import load_recognizer
    from sier.inference.stream import StreamConfig, stream_file, stream_microphone, summarize

    cfg = StreamConfig(window_s=args.window_s, hop_s=args.hop_s, smoothing=args.smoothing,
                       ema_alpha=args.ema_alpha, majority_k=args.majority_k)
    if (args.audio is None) == (not args.microphone):
        raise InferenceError("pass either an audio file or --microphone.")
    recognizer = load_recognizer(args.model, args.runtime, args.onnx, args.speaker_stats)
    steps_iter = (stream_microphone(recognizer, cfg, max_s=args.max_s) if args.microphone
                  else stream_file(recognizer, args.audio, cfg, realtime=args.realtime))
    steps = []
    for step in steps_iter:
        steps.append(step)
        print(json.dumps(step.to_dict()) if args.json else step.line(), flush=True)
    s = summarize(steps)
    if steps:
        print(f"{s['steps']} steps, compute mean {s['mean_compute_ms']:.1f} ms, max {s['max_compute_ms']:.1f} ms"
              + (f", {s['skipped']} skipped to keep up" if s["skipped"] else ""), file=sys.stderr)
    return 0

import argparse

HELP = "serve a model over HTTP: a live page at /, POST /predict, WebSocket /stream, GET /health, docs at /docs"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True,
                   help="sier checkpoint (.pth), or an experiment directory: the mean of its fold models")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default local only)")
    p.add_argument("--port", type=int, default=8000, help="TCP port")
    p.add_argument("--max_upload_mb", type=float, default=20.0, help="largest /predict upload (413 above)")
    p.add_argument("--max_duration_s", type=float, default=60.0, help="longest audio per /predict (422 above)")
    p.add_argument("--max_concurrency", type=int, default=2, help="predictions at once (503 above)")
    p.add_argument("--timeout_s", type=float, default=30.0, help="time per prediction (504 above)")
    p.add_argument("--max_streams", type=int, default=4, help="WebSocket streams at once (close 1013 above)")
    p.add_argument("--max_stream_s", type=float, default=3600.0, help="audio per WebSocket stream (close 1008 above)")
    p.add_argument("--runtime", default="torch", choices=["torch", "onnx"], help="torch or onnxruntime")
    p.add_argument("--onnx", default=None, help="ONNX file from `sier export` (with --runtime onnx)")
    p.add_argument("--speaker_stats", default=None, metavar="FILE",
                   help="the speaker's feature statistics from `sier enroll`, for a model trained with --speaker_norm")


def run(args: argparse.Namespace) -> int:
    from sier.errors import InferenceError
    from sier.inference.recognizer import load_recognizer

    try:
        from sier.inference.server import ServerLimits, serve
    except ImportError as exc:
        raise InferenceError(f"serving needs the serve extra ({exc}): pip install 'sier[serve]'.") from exc
    limits = ServerLimits(max_upload_mb=args.max_upload_mb, max_duration_s=args.max_duration_s,
                          max_concurrency=args.max_concurrency, timeout_s=args.timeout_s,
                          max_streams=args.max_streams, max_stream_s=args.max_stream_s)
    serve(load_recognizer(args.model, args.runtime, args.onnx, args.speaker_stats), limits, args.host, args.port)
    return 0

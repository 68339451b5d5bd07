import argparse

HELP = "predict the emotion of audio files or folders (long recordings are cut into speech segments)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("audio", nargs="+", help="audio files and/or folders (searched recursively)")
    p.add_argument("--model", required=True,
                   help="sier checkpoint (.pth), or an experiment directory: the mean of its fold models")
    p.add_argument("--format", default="table", choices=["table", "json", "csv"], help="output format")
    p.add_argument("--out", default=None, help="write the output here instead of stdout")
    p.add_argument("--runtime", default="torch", choices=["torch", "onnx"], help="run the network with torch or onnxruntime")
    p.add_argument("--onnx", default=None, help="ONNX file from `sier export` (with --runtime onnx)")
    p.add_argument("--speaker_stats", default=None, metavar="FILE",
                   help="the speaker's feature statistics from `sier enroll`, for a model trained with --speaker_norm")
    p.add_argument("--vad", default="silero", choices=["silero", "energy", "none"],
                   help="how long recordings are cut (silero falls back to energy when not installed)")
    p.add_argument("--min_segment_s", type=float, default=0.5, help="drop speech segments shorter than this")
    p.add_argument("--max_segment_s", type=float, default=15.0,
                   help="files up to this long are classified whole; longer segments are split")
    p.add_argument("--min_silence_s", type=float, default=0.3, help="pauses shorter than this do not end a segment")
    p.add_argument("--pad_s", type=float, default=0.05, help="seconds of context added on both sides of a segment")
    p.add_argument("--vad_threshold", type=float, default=0.5, help="silero speech probability threshold")


def run(args: argparse.Namespace) -> int:
    import sys

    from sier.fileio import write_text
    from sier.inference.predict import format_report, predict_paths
    from sier.inference.recognizer import load_recognizer
    from sier.inference.vad import VadConfig

    recognizer = load_recognizer(args.model, args.runtime, args.onnx, args.speaker_stats)
    vad = VadConfig(method=args.vad, min_segment_s=args.min_segment_s, max_segment_s=args.max_segment_s,
                    min_silence_s=args.min_silence_s, pad_s=args.pad_s, threshold=args.vad_threshold)
    report = predict_paths(recognizer, args.audio, vad)
    text = format_report(report, args.format).rstrip("\n")
    if args.out:
        write_text(args.out, text + "\n")
    else:
        print(text)
    for path, reason in report.skipped:
        print(f"skipped: {reason}", file=sys.stderr)
    for note in report.notes:
        print(f"note: {note}", file=sys.stderr)
    segmented = sorted(report.vad_methods - {"whole"})
    if segmented:
        print(f"long recordings were segmented with the {', '.join(segmented)} VAD", file=sys.stderr)
    return 0 if report.rows else 1

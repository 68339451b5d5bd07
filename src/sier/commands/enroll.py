import argparse

HELP = "compute a speaker's feature statistics from some of their speech (for models trained with --speaker_norm)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("audio", nargs="+", help="the speaker's audio files and/or folders (searched recursively)")
    p.add_argument("--model", required=True, help="sier checkpoint (.pth) trained with --speaker_norm")
    p.add_argument("--out", required=True, help="statistics file to write (JSON); pass it to --speaker_stats")


def run(args: argparse.Namespace) -> int:
    from sier.inference.enroll import enroll

    stats = enroll(args.model, args.audio)
    stats.save(args.out)
    print(f"{stats.files} file(s), {stats.frames} feature frames -> {args.out}")
    return 0

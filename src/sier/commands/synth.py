import argparse

HELP = "write a synthetic corpus in the IEMOCAP_full_release (or EmoDB) layout (for demos and tests)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="data/synth", help="folder to write IEMOCAP_full_release/ (or emodb/) into")
    p.add_argument("--layout", choices=["iemocap", "emodb"], default="iemocap",
                   help="iemocap (default): 10 speakers in 5 sessions; emodb: 10 other speakers in EmoDB's "
                        "layout and 4 emotions, to test models of the first on new voices (cross-corpus)")
    p.add_argument("--seed", type=int, default=0, help="the output is a function of the seed and the sizes")
    p.add_argument("--per_speaker", type=int, default=40,
                   help="iemocap: utterances per speaker (10 speakers), including fru/sur/xxx that iemocap-4 drops")
    p.add_argument("--per_emotion", type=int, default=5, help="emodb: utterances per speaker and emotion")
    p.add_argument("--min_duration", type=float, default=1.0, help="shortest spoken length, seconds")
    p.add_argument("--max_duration", type=float, default=3.0, help="longest spoken length, seconds")


def run(args: argparse.Namespace) -> int:
    from sier.corpora.synth import read_info, synthesize_corpus
    from sier.corpora.synth_emodb import synthesize_emodb

    durations = (args.min_duration, args.max_duration)
    if args.layout == "emodb":
        root = synthesize_emodb(args.out, seed=args.seed, per_emotion=args.per_emotion, duration_s=durations)
    else:
        root = synthesize_corpus(args.out, seed=args.seed, per_speaker=args.per_speaker, duration_s=durations)
    info = read_info(root)
    hours = info["total_duration_s"] / 3600
    print(f"{info['utterances']} utterances, {hours:.2f} h (seed {args.seed}) -> {root}")
    corpus = " --corpus emodb" if args.layout == "emodb" else ""
    print(f"next: sier prepare{corpus} --root {root}")
    return 0

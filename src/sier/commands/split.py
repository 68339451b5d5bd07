import argparse

HELP = "make speaker-disjoint folds (train/val/test) from a manifest and print them"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from sier.splits import PROTOCOLS

    p.add_argument("--manifest", nargs="+", default=["data/manifest.csv"],
                   help="manifest(s) written by `sier prepare`; several are pooled")
    p.add_argument("--protocol", default="session", choices=list(PROTOCOLS),
                   help="session: leave one session (EmoDB, RAVDESS, ...: speaker group) out, 5 folds on IEMOCAP and "
                        "EmoDB, 6 on RAVDESS; speaker: leave one speaker out (10, 10, 24 folds); corpus: leave one "
                        "corpus out (manifests of 3+ corpora); official: MSP-Podcast's own partitions (train Train, "
                        "validate Development, test Test1 and Test2)")
    p.add_argument("--out", default="experiments/split", help="directory to write folds.json into")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from sier.corpora.coverage import class_gaps
    from sier.corpora.records import read_manifests
    from sier.splits import folds_table, make_folds, save_folds

    utterances = read_manifests(args.manifest)
    folds = make_folds(utterances, args.protocol)
    out = Path(args.out) / "folds.json"
    save_folds(out, folds, args.protocol)
    print(folds_table(folds))
    print(f"\n{len(folds)} folds ({args.protocol} protocol) -> {out}")
    for gap in class_gaps(folds, utterances, sorted({u.label for u in utterances})):
        print(f"warning: {gap}: that part cannot learn or score the class")
    return 0

import argparse

HELP = "read a corpus tree into a manifest (CSV) and print counts per class x speaker"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from sier.corpora.labels import DEFAULT_LABEL_MAPS, LABEL_MAPS
    from sier.corpora.registry import ROOTS, corpus_help

    maps = "; ".join(f"{c}: " + ", ".join(n for n, m in LABEL_MAPS.items() if m.corpus == c) for c in DEFAULT_LABEL_MAPS)
    p.add_argument("--corpus", default="iemocap", choices=list(DEFAULT_LABEL_MAPS),
                   help=f"corpus layout to read (default: iemocap): {corpus_help()}")
    p.add_argument("--root", required=True, help="; ".join(f"{c}: {r}" for c, r in ROOTS.items()))
    p.add_argument("--label_map", default=None,
                   help=f"default: the corpus's 4 classes (neu, hap, ang, sad); all: {maps}")
    p.add_argument("--subset", default="all", metavar="NAME[,NAME]",
                   help="keep some recordings only: iemocap and thaiser improvised or scripted; mspimprov read, "
                        "improvised, natural (default: all)")
    p.add_argument("--all_rated", action="store_true",
                   help="also keep the utterances rated for arousal, valence or dominance whose label is not a class "
                        "of the map (IEMOCAP: all 10039), with the corpus's own label: for `sier train --all_rated`, "
                        "which learns the dimensions on them and leaves them out of the class metrics")
    p.add_argument("--out", default="data/manifest.csv", help="manifest to write (CSV)")


def run(args: argparse.Namespace) -> int:
    from sier.corpora.labels import get_label_map
    from sier.corpora.records import count_table, write_manifest
    from sier.corpora.registry import default_label_map, read_corpus
    from sier.errors import CorpusError

    label_map = args.label_map or default_label_map(args.corpus)
    result = read_corpus(args.corpus, args.root, label_map, args.subset, all_rated=args.all_rated)
    if not result.utterances:
        raise CorpusError(f"{args.root}: no labelled utterance with a wav was found under {label_map}.")
    write_manifest(args.out, result.utterances)
    classes = get_label_map(label_map).classes
    others = sorted({u.label for u in result.utterances} - set(classes))  # with --all_rated
    print(count_table(result.utterances, [*classes, *others]))
    hours = sum(u.duration_s for u in result.utterances) / 3600
    print(f"\n{len(result.utterances)} utterances, {hours:.2f} h -> {args.out}")
    for note in result.notes:
        print(note)
    for warning in result.warnings:
        print(f"warning: {warning}")
    return 0

import argparse

HELP = "read a corpus tree into a manifest (CSV) and print counts per class x speaker"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--corpus", default="iemocap", choices=["iemocap"], help="corpus layout to read")
    p.add_argument("--root", required=True, help="path of IEMOCAP_full_release (or its parent)")
    p.add_argument("--label_map", default="iemocap-4", help="iemocap-4 (default), iemocap-6 or iemocap-all")
    p.add_argument("--out", default="data/manifest.csv", help="manifest to write (CSV)")


def run(args: argparse.Namespace) -> int:
    from sier.corpora.iemocap import read_iemocap
    from sier.corpora.labels import get_label_map
    from sier.corpora.records import count_table, write_manifest
    from sier.errors import CorpusError

    result = read_iemocap(args.root, args.label_map)
    if not result.utterances:
        raise CorpusError(f"{args.root}: no labelled utterance with a wav was found under {args.label_map}.")
    write_manifest(args.out, result.utterances)
    print(count_table(result.utterances, get_label_map(args.label_map).classes))
    hours = sum(u.duration_s for u in result.utterances) / 3600
    print(f"\n{len(result.utterances)} utterances, {hours:.2f} h -> {args.out}")
    for warning in result.warnings:
        print(f"warning: {warning}")
    return 0

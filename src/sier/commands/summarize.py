"""`sier summarize`: one table over many experiments (ablations, baselines, seeds)."""

import argparse

HELP = "tabulate finished training runs side by side: what differs between them and how they score"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("experiments", nargs="+",
                   help="experiment directories written by `sier train`, or folders holding them")
    p.add_argument("--out", default=None,
                   help="also write the table to OUT.md and OUT.csv (e.g. experiments/ablation)")


def run(args: argparse.Namespace) -> int:
    import csv
    import io
    from pathlib import Path

    from sier.evaluation.experiments_table import experiment_table, table_markdown, table_rows_csv
    from sier.fileio import write_text

    table = experiment_table(args.experiments)
    text = table_markdown(table)
    print(text)
    if args.out:
        out = Path(args.out)
        write_text(out.with_name(out.name + ".md"), text + "\n")
        header, rows = table_rows_csv(table)
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        write_text(out.with_name(out.name + ".csv"), buf.getvalue())
        print(f"\ntable: {out.with_name(out.name + '.md')}, {out.with_name(out.name + '.csv')}")
    return 0

"""The `sier` command: one subcommand per stage, each a thin shell over a public function.

Subcommand modules (sier.commands.*) import only argparse at module level, so that
`sier prepare` does not pay for torch or Lightning; heavy imports happen inside `run`.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import Sequence

from sier import __version__
from sier.errors import SierError

# Order shown in `sier --help`.
COMMANDS = (
    "demo", "synth", "prepare", "split", "features", "train", "evaluate", "summarize", "predict", "stream", "serve",
    "export", "enroll",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sier", description="Speaker-independent speech emotion recognition."
    )
    parser.add_argument("--version", action="version", version=f"sier {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"sier.commands.{name}")
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 1 sier error, 2 usage error)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return int(args._run(args) or 0)
    except SierError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; finished work is saved, re-run to resume.", file=sys.stderr)
        return 130

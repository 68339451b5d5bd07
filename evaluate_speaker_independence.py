"""Evaluate fold checkpoints on unseen speakers and write a report; same as `sier evaluate`."""

import sys

from sier.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["evaluate", *sys.argv[1:]]))

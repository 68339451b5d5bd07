"""Train the emotion model with cross-validation: same as `sier train` (see docs/training.md)."""

import sys

from sier.cli import main

raise SystemExit(main(["train", *sys.argv[1:]]))

"""`sier demo` (and `make demo`): the main job end to end on the embedded synthetic corpus."""

import argparse

HELP = "synthesise a corpus, train the original and the enhanced model on every fold, evaluate"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workdir", default="experiments/demo",
                   help="where the corpus, cache, experiments and report go (default: experiments/demo)")
    p.add_argument("--seed", type=int, default=0, help="seeds the corpus and the training (default: 0)")
    p.add_argument("--per_speaker", type=int, default=40, help="synthetic utterances per speaker (default: 40)")
    p.add_argument("--epochs", type=int, default=None, help="maximum epochs per fold (default: the demo's 12)")
    p.add_argument("--fresh", action="store_true", help="start over instead of resuming an earlier demo here")
    p.add_argument("--no_progress", dest="progress", action="store_false", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from sier.demo import run_demo

    run_demo(args.workdir, seed=args.seed, per_speaker=args.per_speaker, epochs=args.epochs, fresh=args.fresh,
             progress=args.progress)
    return 0

"""The experiment directory of a cross-validated run: where each file lies, and what a run works on.

    <output_dir>/<name>_<YYYYmmdd-HHMMSS>/
        config.yaml  environment.json  manifest.csv  folds.json     (written before training)
        models/best_model_fold_<k>.pth        sier checkpoint of the best validation epoch
        checkpoints/fold_<k>/last.ckpt        Lightning checkpoint of the last epoch (resume)
        metrics/fold_<k>.csv                  per epoch: epoch, lr, alpha, train_loss, val_*
        predictions/fold_<k>.csv              every test utterance, from the best model
        plots/fold_<k>_curves.png             loss, accuracy, F1 and learning rate
        summary.json  summary.csv             per fold, mean +- std, pooled (after all folds)

A fold is finished when its predictions file exists; `resume` skips finished folds and
continues an interrupted one from its last.ckpt.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sier.corpora.records import Utterance
from sier.splits import Fold
from sier.training.config import TrainConfig


def best_model_path(exp: Path, k: int) -> Path:
    return exp / "models" / f"best_model_fold_{k}.pth"


def last_ckpt_path(exp: Path, k: int) -> Path:
    return exp / "checkpoints" / f"fold_{k}" / "last.ckpt"


def metrics_path(exp: Path, k: int) -> Path:
    return exp / "metrics" / f"fold_{k}.csv"


def predictions_path(exp: Path, k: int) -> Path:
    return exp / "predictions" / f"fold_{k}.csv"


def curves_path(exp: Path, k: int) -> Path:
    return exp / "plots" / f"fold_{k}_curves.png"


@dataclass
class Experiment:
    """What a run works on: its directory, resolved config, utterances, folds and classes."""

    directory: Path
    config: TrainConfig
    utterances: list[Utterance]
    folds: list[Fold]
    protocol: str
    classes: tuple[str, ...]

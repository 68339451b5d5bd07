"""Knowledge distillation (model compression): a small student learns from a trained teacher.

The teacher is another experiment (say the enhanced model on HuBERT features); the student
is any model of this run (say the baseline GRU on fbank, which needs no upstream at all).
For each fold, the teacher's model *of the same fold* gives its logits for the student's
training utterances, and the student's loss becomes

    (1 - w) CE(student, labels) + w T^2 KL(softmax(teacher / T) || softmax(student / T))

(Hinton et al.; w = distill_weight, T = distill_temperature). The teacher of fold k never
trained on fold k's validation or test speakers, and its best epoch was chosen on the same
validation speakers, so the student learns nothing about the speakers it is scored on; a
teacher whose folds hold other speakers is refused.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from sier.corpora.records import Utterance
from sier.errors import TrainingError
from sier.splits import Fold, load_folds
from sier.training.layout import best_model_path

log = logging.getLogger(__name__)


def distill_loss(student: Tensor, teacher: Tensor, temperature: float) -> Tensor:
    """T^2 KL(softmax(teacher / T) || softmax(student / T)), averaged over the batch; the T^2 keeps
    its gradients on the scale of a cross-entropy as T changes."""
    t = temperature
    return F.kl_div(F.log_softmax(student.float() / t, -1), F.log_softmax(teacher.float() / t, -1),
                    reduction="batchmean", log_target=True) * t * t


def teacher_fold(teacher_dir: Path, fold: Fold) -> Fold:
    """The teacher's fold that tests and validates on the same speakers as `fold`."""
    if not (teacher_dir / "folds.json").is_file():
        raise TrainingError(f"{teacher_dir}: not a sier experiment directory (folds.json missing); pass --teacher "
                            "an experiment written by `sier train`.")
    for candidate in load_folds(teacher_dir / "folds.json"):
        if set(candidate.test_speakers) == set(fold.test_speakers) and \
                set(candidate.val_speakers) == set(fold.val_speakers):
            return candidate
    raise TrainingError(
        f"{teacher_dir}: no fold tests on {', '.join(fold.test_speakers)} and validates on "
        f"{', '.join(fold.val_speakers)}, as fold {fold.index} of this run does; a teacher trained on other folds "
        "has heard this fold's speakers. Train the teacher on the same data and --protocol.")


def teacher_checkpoint(teacher_dir: Path, fold: Fold) -> Path:
    """The teacher's model of the fold that matches `fold`; TrainingError when it has none."""
    k = teacher_fold(teacher_dir, fold).index
    path = best_model_path(teacher_dir, k)
    if not path.is_file():
        raise TrainingError(f"{path}: the teacher has no model of its fold {k} (test speakers "
                            f"{', '.join(fold.test_speakers)}); finish that fold with `sier train --resume {teacher_dir}`.")
    return path


def teacher_logits(teacher_dir: str | Path, fold: Fold, utterances: Sequence[Utterance], classes: Sequence[str],
                   cache_dir: str, batch_size: int = 16, progress: bool = False, device: str = "cpu") -> Tensor:
    """Logits [N, C] of the teacher's model of `fold` for `utterances` (the fold's training
    utterances), each from its own features; TrainingError naming the problem when the teacher
    does not fit (other folds, other classes, a fold it did not train)."""
    from sier.features import FeatureConfig, extract_features
    from sier.features.speaker_norm import normalize_if
    from sier.models.pipeline import load_ser_model
    from sier.training.data import UtteranceDataset, run_model

    path = teacher_checkpoint(Path(teacher_dir), fold)
    model, ckpt = load_ser_model(path)
    if list(ckpt.meta["classes"]) != list(classes):
        raise TrainingError(f"{path}: the teacher's classes {ckpt.meta['classes']} are not this run's {list(classes)}; "
                            "distil with the same label map.")
    meta_cache = ckpt.meta.get("cache_dir")
    cache = meta_cache if meta_cache and Path(meta_cache).is_dir() else cache_dir
    store = normalize_if(ckpt.meta.get("speaker_norm", False), extract_features(
        utterances, FeatureConfig.from_dict(ckpt.meta["feature_config"]), cache, progress), utterances)
    missing = [u.id for u in utterances if not store.has(u.id)]
    if missing:
        raise TrainingError(f"{path}: no teacher features for {len(missing)} training utterance(s), e.g. {missing[0]}.")
    model.eval().to(device)
    logits = [out["emotion_logits"].float().cpu() for _, out in
              run_model(model, UtteranceDataset(utterances, store, classes), batch_size, device)]
    log.info("fold %d: teacher %s gave logits for %d utterances", fold.index, path, len(utterances))
    return torch.cat(logits) if logits else torch.zeros(0, len(classes))

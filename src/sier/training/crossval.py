"""Cross-validation: every fold of a speaker-independent protocol, in one experiment directory
(its layout: sier.training.layout).

A fold is finished when its predictions file exists; `resume` skips finished folds and
continues an interrupted one from its last.ckpt.
"""

from __future__ import annotations

import copy
import logging
import os
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Sequence

from sier import __version__
from sier.corpora.dimensions import DIMENSIONS
from sier.errors import TrainingError
from sier.splits import Fold
from sier.training.config import TrainConfig, feature_config
from sier.training.experiment import create_experiment, open_experiment, read_utterances
from sier.training.layout import (
    Experiment,
    best_model_path,
    curves_path,
    last_ckpt_path,
    metrics_path,
    predictions_path,
)
from sier.training.outputs import inference_device, plot_curves, summarize, summary_table, write_predictions

log = logging.getLogger(__name__)

EXPERIMENT_ENV = "SIER_EXPERIMENT_DIR"  # set for DDP worker processes, which re-run the command
# Lightning's hint to add DataLoader workers; features come from a cache and 0 workers is fine.
_WORKER_HINT = ".*does not have many workers.*"


def _distributed_rank() -> int:
    return int(os.environ.get("NODE_RANK", 0)) * 1000 + int(os.environ.get("LOCAL_RANK", 0))


# ------------------------------------------------------------------ the run


def run_crossval(
    config: TrainConfig,
    argv: Sequence[str] | None = None,
    resume: str | os.PathLike | None = None,
    overrides: dict[str, Any] | None = None,
    extra_callbacks: Sequence[Any] = (),
) -> Path:
    """Train and test every selected fold; returns the experiment directory.

    resume: an experiment directory to continue (its config is used; `overrides` may only
    change runtime fields). extra_callbacks: Lightning callbacks added to every fold's
    Trainer (tests use one to simulate a crash).
    """
    from sier.features import extract_features

    worker_dir = os.environ.get(EXPERIMENT_ENV) if _distributed_rank() > 0 else None
    if resume or worker_dir:
        exp = open_experiment(resume or worker_dir, overrides)
        config = exp.config
    else:
        utterances = read_utterances(config)
        if config.teacher:  # the run may be resumed from another directory
            config = config.override(teacher=str(Path(config.teacher).resolve()))
    fcfg = feature_config(config)
    top = _upstream_top(fcfg, config.upstream_dropout)
    if config.speaker_norm and top is not None:
        raise TrainingError("speaker_norm standardises the cached features, which here feed the trainable upstream "
                            "layers; use it with a frozen upstream (no --freeze_layers) or fbank.")
    store = extract_features(exp.utterances if (resume or worker_dir) else utterances, fcfg,
                             config.cache_dir, progress=config.progress)
    if not (resume or worker_dir):
        kept = [u for u in utterances if store.has(u.id)]
        if len(kept) < len(utterances):
            log.warning("%d utterance(s) without features left out (unreadable audio)", len(utterances) - len(kept))
        exp = create_experiment(config, kept, argv)
        if config.strategy.startswith("ddp"):
            os.environ[EXPERIMENT_ENV] = str(exp.directory.resolve())
    print(f"experiment: {exp.directory}")
    store, variants = _speaker_normalized(exp, store, _variant_stores(exp, fcfg))
    selected = _selected_folds(exp, config)
    if config.teacher:  # a teacher of other folds has heard this run's test speakers: stop before training
        from sier.training.distill import teacher_checkpoint

        for fold in selected:
            teacher_checkpoint(Path(config.teacher), fold)
    started = time.monotonic()
    for n, fold in enumerate(selected):
        if predictions_path(exp.directory, fold.index).is_file():
            print(f"[fold {n + 1}/{len(selected)}] fold {fold.index}: finished earlier, skipped")
            continue
        print(f"[fold {n + 1}/{len(selected)}] fold {fold.index}: test {','.join(fold.test_speakers)}, "
              f"val {','.join(fold.val_speakers)}, {len(fold.train)} train / {len(fold.val)} val / "
              f"{len(fold.test)} test utterances")
        train_fold(exp, fold, store, fcfg, top, extra_callbacks, variants)
        elapsed = time.monotonic() - started
        print(f"[fold {n + 1}/{len(selected)}] done; {elapsed / 60:.1f} min elapsed")
    if _distributed_rank() == 0:
        summary = summarize(exp, [f.index for f in selected])
        print(summary_table(summary))
    return exp.directory


def _variant_stores(exp: Experiment, fcfg: Any) -> list[Any]:
    """Feature stores of the waveform-augmented copies (`wave_augment`), extracted when missing."""
    from sier.features import extract_features
    from sier.features.augment import parse_augments

    config = exp.config
    return [extract_features(exp.utterances, fcfg, config.cache_dir, progress=config.progress, augment=aug)
            for aug in parse_augments(config.wave_augment)]


def _speaker_normalized(exp: Experiment, store: Any, variants: list[Any]) -> tuple[Any, list[Any]]:
    """The stores, each standardised by its own per-speaker statistics when the run asks for it."""
    config = exp.config
    if not config.speaker_norm:
        return store, variants
    from sier.features.speaker_norm import SpeakerNormalizedStore

    if config.model == "enhanced" and config.adain and not config.adain_style_rank:
        log.warning("speaker_norm changes nothing with AdaIN: its per-utterance standardisation undoes any "
                    "per-channel affine map; compare it on the baseline or with --no_adain")
    return (SpeakerNormalizedStore(store, exp.utterances),
            [SpeakerNormalizedStore(v, exp.utterances) for v in variants])


def _selected_folds(exp: Experiment, config: TrainConfig) -> list[Fold]:
    if config.folds is None:
        return list(exp.folds)
    known = {f.index: f for f in exp.folds}
    bad = sorted(set(config.folds) - set(known))
    if bad:
        raise TrainingError(f"folds {bad} do not exist; the {exp.protocol} protocol has folds 0..{len(known) - 1}.")
    return [known[k] for k in sorted(set(config.folds))]


def _upstream_top(fcfg, dropouts: str) -> Any:
    """A TrainableTop initialised from the upstream when freeze_layers < L, else None."""
    if fcfg.is_fbank or fcfg.freeze_layers is None:
        return None
    from sier.features import load_upstream, split_upstream

    model, _ = load_upstream(fcfg.upstream, fcfg.revision)
    _, top = split_upstream(model, fcfg, top_dropouts=dropouts)
    return top


# ------------------------------------------------------------------ one fold


def train_fold(exp: Experiment, fold: Fold, store: Any, fcfg: Any, top_template: Any,
               extra_callbacks: Sequence[Any] = (), variants: Sequence[Any] = ()) -> None:
    """Fit one fold (resuming from its last.ckpt if present), then write predictions and plots.
    variants: stores of waveform-augmented features, drawn for training items only."""
    import lightning as L
    from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

    from sier.models import build_model
    from sier.models.pipeline import SERModel
    from sier.training.data import class_weights
    from sier.training.module import BestModelSaver, EpochRecorder, RngState, SERModule

    config, k = exp.config, fold.index
    L.seed_everything(config.seed + k, workers=True, verbose=False)
    model_cfg = _model_config(config, store, exp.classes, fold)
    top = copy.deepcopy(top_template) if top_template is not None else None
    meta = _meta(exp, fold, fcfg, top)

    def save_best(pl_module: SERModule, best: dict) -> None:
        from sier.models import save_checkpoint

        m = pl_module.model
        save_checkpoint(best_model_path(exp.directory, k), m.head, model_cfg, {**meta, "best": best},
                        upstream_top=m.upstream_top)

    mode = "min" if config.monitor == "val_loss" else "max"
    rng_state = RngState()  # given the loaders' generators below
    callbacks = [
        EpochRecorder(metrics_path(exp.directory, k)),
        BestModelSaver(save_best, config.monitor, mode),
        ModelCheckpoint(dirpath=last_ckpt_path(exp.directory, k).parent, filename="last", monitor=None,
                        save_top_k=1, enable_version_counter=False),
        rng_state,
        *extra_callbacks,
    ]
    if config.early_stopping_patience > 0:
        callbacks.insert(2, EarlyStopping(monitor=config.monitor, mode=mode, patience=config.early_stopping_patience))
    with _quiet_lightning():
        trainer = _trainer(config, callbacks, last_ckpt_path(exp.directory, k).parent)
    # Under DDP, Lightning puts a distributed sampler into the loaders, which a batch
    # sampler of ours would not keep: there the batches stay plain shuffled ones.
    loaders, train_set, generators = _loaders(exp, fold, store, fcfg, variants,
                                              by_length=config.length_buckets and trainer.world_size == 1,
                                              teacher=_teacher_logits(exp, fold))
    rng_state.track(*generators)
    if top is not None:
        top.train()
    model = SERModel(build_model(model_cfg), top)
    weight = class_weights(train_set.class_counts()) if config.balance == "weights" else None
    module = SERModule(model, config, len(exp.classes), weight)
    ckpt = last_ckpt_path(exp.directory, k)
    if ckpt.is_file():
        print(f"  resuming fold {k} from {ckpt}")
    with warnings.catch_warnings(), _quiet_lightning():
        warnings.filterwarnings("ignore", message=_WORKER_HINT)
        warnings.filterwarnings("ignore", message=".*LeafSpec.*", category=FutureWarning)  # STACK-NOTES
        warnings.filterwarnings("ignore", message=".*exists and is not empty.*")  # our last.ckpt, when resuming
        trainer.fit(module, loaders["train"], loaders["val"], ckpt_path=str(ckpt) if ckpt.is_file() else None)
    if trainer.is_global_zero:
        _finish_fold(exp, fold, store, loaders)


def _finish_fold(exp: Experiment, fold: Fold, store: Any, loaders: dict[str, Any]) -> None:
    """After training: the temperature fitted on the validation speakers (with `calibrate`), the
    test predictions of the best model, the training curves."""
    config, k = exp.config, fold.index
    if config.calibrate:
        from sier.training.calibrate import calibrate_checkpoint

        calibrate_checkpoint(best_model_path(exp.directory, k), loaders["val"].dataset, config.batch_size,
                             inference_device(config))
    write_predictions(exp, fold, store, loaders["test"].dataset, config)
    plot_curves(metrics_path(exp.directory, k), curves_path(exp.directory, k), title=f"fold {k}")


def _teacher_logits(exp: Experiment, fold: Fold) -> Any:
    """The teacher's logits of the fold's training utterances (distillation), or None."""
    config = exp.config
    if not config.teacher:
        return None
    from sier.training.distill import teacher_logits

    by_id = {u.id: u for u in exp.utterances}
    return teacher_logits(config.teacher, fold, [by_id[i] for i in fold.train], exp.classes, config.cache_dir,
                          config.batch_size, config.progress, inference_device(config))


def _trainer(config: TrainConfig, callbacks: list, root: Path):
    import lightning as L

    return L.Trainer(
        max_epochs=config.epochs, accelerator=config.accelerator, devices=_devices(config.devices),
        strategy=config.strategy, num_nodes=config.num_nodes, precision=config.precision,
        gradient_clip_val=config.grad_clip or None, deterministic="warn" if config.deterministic else None,
        logger=False, enable_progress_bar=config.progress, enable_model_summary=False,
        num_sanity_val_steps=0, log_every_n_steps=config.log_interval, default_root_dir=str(root),
        callbacks=callbacks,
    )


@contextmanager
def _quiet_lightning():
    """Lightning's start-up notices (GPU/TPU available, tips) at WARNING level while inside."""
    logger = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _devices(devices: str) -> Any:
    """'auto' | '2' | '0,1' -> what Lightning's Trainer takes."""
    if devices == "auto":
        return "auto"
    if "," in devices:
        return [int(d) for d in devices.split(",") if d]
    try:
        return int(devices)
    except ValueError:
        return devices


def _model_config(config: TrainConfig, store: Any, classes: Sequence[str], fold: Fold):
    from sier.models import ModelConfig

    return ModelConfig(
        kind=config.model, input_dim=int(store.dim), input_layers=int(store.num_layers), num_classes=len(classes),
        hidden_size=config.hidden_size, num_gru_layers=config.num_gru_layers, dropout=config.dropout,
        attention_dropout=config.attention_dropout,
        adain=config.adain, adain_style_rank=config.adain_style_rank, attention=config.attention,
        num_heads=config.num_heads, residual=config.residual,
        pooling=config.pooling, num_speakers=len(fold.train_speakers) if config.speaker_adversarial else 0,
        speaker_hidden=config.speaker_hidden, num_dimensions=len(DIMENSIONS) if config.dimension_weight else 0,
    )


def _meta(exp: Experiment, fold: Fold, fcfg: Any, top: Any) -> dict[str, Any]:
    return {
        "feature_config": fcfg.to_dict(),
        "classes": list(exp.classes),
        "label_map": exp.config.label_map,
        "task": exp.config.task,
        "speakers": list(fold.train_speakers),
        "fold": fold.index,
        "upstream_top": top.spec() if top is not None else None,
        "cache_dir": exp.config.cache_dir,
        "speaker_norm": exp.config.speaker_norm,
        "sier_version": __version__,
    }


def _loaders(exp: Experiment, fold: Fold, store: Any, fcfg: Any, variants: Sequence[Any] = (),
             by_length: bool = False, teacher: Any = None) -> tuple[dict[str, Any], Any, list[Any]]:
    """DataLoaders of train (augmented, shuffled or balanced), val and test, the training
    set, and the generators that draw the training batches (for RngState).
    by_length: training batches of similar length (LengthBatchSampler), validation batches
    in order of length. teacher: a teacher's logits [N, C] of the training utterances."""
    import torch
    from torch.utils.data import DataLoader, RandomSampler

    from sier.features import frames_per_second
    from sier.training.batching import LengthBatchSampler, length_sorted_batches
    from sier.training.data import FeatureAugment, UtteranceDataset, balanced_sampler, collate

    config = exp.config
    by_id = {u.id: u for u in exp.utterances}
    fps = frames_per_second(fcfg)
    augment = FeatureAugment(
        time_masks=config.time_masks, time_mask_frames=round(config.time_mask_s * fps),
        channel_masks=config.channel_masks, channel_mask_width=round(config.channel_mask_frac * store.dim),
        max_frames=round(config.max_train_s * fps),
    )
    training = dict(augment=augment, variants=variants, variant_prob=config.wave_augment_prob, teacher_logits=teacher)
    parts = {
        name: UtteranceDataset([by_id[i] for i in ids], store, exp.classes, fold.train_speakers,
                               **(training if name == "train" else {}))
        for name, ids in (("train", fold.train), ("val", fold.val), ("test", fold.test))
    }
    outside = sorted({u.label for part in parts.values() for u in part.utterances} - set(exp.classes))
    if outside and not config.all_rated:  # the data was read under the map; only all_rated keeps others
        raise TrainingError(f"{exp.directory / 'manifest.csv'}: labels {outside} are not classes {list(exp.classes)}; "
                            "only --all_rated (with --dimension_weight) trains on utterances of no class.")
    train = parts["train"]
    shuffle = torch.Generator().manual_seed(config.seed + fold.index)
    sampler = balanced_sampler(train.labels, len(exp.classes), config.seed + fold.index) \
        if config.balance == "sampler" else None
    common = dict(collate_fn=collate, num_workers=config.num_workers, persistent_workers=config.num_workers > 0)
    if by_length:
        crop = config.max_train_s or float("inf")
        lengths = [min(u.duration_s, crop) for u in train.utterances]
        batches = LengthBatchSampler(sampler or RandomSampler(train, generator=shuffle), lengths,
                                     config.batch_size, shuffle)
        train_loader = DataLoader(train, batch_sampler=batches, generator=shuffle, **common)
        val_batches = length_sorted_batches([u.duration_s for u in parts["val"].utterances], config.batch_size)
        val_loader = DataLoader(parts["val"], batch_sampler=val_batches, **common)
    else:
        train_loader = DataLoader(train, batch_size=config.batch_size, shuffle=sampler is None, sampler=sampler,
                                  generator=shuffle, **common)
        val_loader = DataLoader(parts["val"], batch_size=config.batch_size, **common)
    loaders = {
        "train": train_loader,
        "val": val_loader,
        "test": DataLoader(parts["test"], batch_size=config.batch_size, **common),
    }
    return loaders, train, [shuffle, sampler.generator if sampler is not None else None]

"""Cross-validation: every fold of a speaker-independent protocol, in one experiment directory.

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

import copy
import csv
import io
import logging
import os
import platform
import sys
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

from sier import __version__
from sier.corpora.dimensions import DIMENSIONS
from sier.corpora.records import Utterance, read_manifest, read_manifests, write_manifest
from sier.errors import TrainingError
from sier.fileio import read_json, write_json, write_text
from sier.splits import Fold, load_folds, make_folds, save_folds
from sier.training.config import RUNTIME_FIELDS, TrainConfig, feature_config, load_config_yaml, save_config_yaml

log = logging.getLogger(__name__)

EXPERIMENT_ENV = "SIER_EXPERIMENT_DIR"  # set for DDP worker processes, which re-run the command
# Lightning's hint to add DataLoader workers; features come from a cache and 0 workers is fine.
_WORKER_HINT = ".*does not have many workers.*"


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


# ------------------------------------------------------------------ set-up


def read_utterances(config: TrainConfig) -> list[Utterance]:
    """The manifests' utterances (pooled), or those read from corpus_root under the label map;
    with dimension_weight > 0, TrainingError unless some of them are rated for the dimensions."""
    utterances = _read_utterances(config)
    if config.dimension_weight:
        from sier.corpora.dimensions import SCALES, rated

        if not rated(utterances):
            corpora = ", ".join(sorted({u.corpus for u in utterances}))
            raise TrainingError(
                f"dimension_weight {config.dimension_weight}: no utterance of {corpora} is rated for arousal, valence "
                f"or dominance (sier reads them for {', '.join(SCALES)}; a manifest from before they were read "
                "lacks them: re-run `sier prepare`); pass --dimension_weight 0.")
        log.info("dimensions: %d of %d utterances rated", rated(utterances), len(utterances))
    return utterances


def _read_utterances(config: TrainConfig) -> list[Utterance]:
    if config.manifest:
        from sier.corpora.labels import get_label_map
        from sier.corpora.subsets import select_subset

        utterances = select_subset(read_manifests(config.manifest), config.subset)
        classes = get_label_map(config.label_map).classes
        unknown = sorted({u.label for u in utterances} - set(classes))
        if unknown:  # before features are extracted, not when the first fold starts
            raise TrainingError(
                f"{', '.join(config.manifest)}: labels {unknown} are not classes of the label map {config.label_map} "
                f"{list(classes)}; pass the --label_map the manifest was prepared with.")
        return utterances
    if not config.corpus_root:
        raise TrainingError(
            "no data given: pass --corpus_root PATH (IEMOCAP_full_release or its parent; with --corpus "
            "emodb or ravdess, their trees) or --manifest CSV (written by `sier prepare`)."
        )
    from sier.corpora.registry import read_corpus

    result = read_corpus(config.corpus, config.corpus_root, config.label_map, config.subset)
    for warning in result.warnings:
        log.warning("%s", warning)
    for note in result.notes:
        log.info("%s", note)
    if not result.utterances:
        raise TrainingError(f"{config.corpus_root}: no labelled utterance with a wav was found.")
    return result.utterances


def environment_info(config: TrainConfig, argv: Sequence[str] | None) -> dict[str, Any]:
    import lightning
    import torch
    import torchmetrics
    import transformers

    cuda = torch.cuda.is_available()
    return {
        "sier": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "lightning": lightning.__version__,
        "torchmetrics": torchmetrics.__version__,
        "seed": config.seed,
        "argv": list(argv) if argv is not None else sys.argv[1:],
        "cuda": {
            "available": cuda,
            "version": torch.version.cuda,
            "devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if cuda else [],
        },
        "created": datetime.now().isoformat(timespec="seconds"),
    }


def new_experiment_dir(config: TrainConfig) -> Path:
    """<output_dir>/<name>_<YYYYmmdd-HHMMSS>; a -2, -3, ... suffix if that exists already."""
    base = Path(config.output_dir) / f"{config.name}_{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    path.mkdir(parents=True)
    return path


def create_experiment(config: TrainConfig, utterances: list[Utterance], argv: Sequence[str] | None) -> Experiment:
    """Make the folds and the directory; write config.yaml, environment.json, manifest.csv, folds.json."""
    from sier.corpora.labels import get_label_map

    classes = get_label_map(config.label_map).classes
    folds = make_folds(utterances, config.protocol)
    exp = new_experiment_dir(config)
    save_config_yaml(exp / "config.yaml", config)
    write_json(exp / "environment.json", environment_info(config, argv))
    write_manifest(exp / "manifest.csv", utterances)
    save_folds(exp / "folds.json", folds, config.protocol)
    return Experiment(exp, config, utterances, folds, config.protocol, classes)


def open_experiment(directory: str | os.PathLike, overrides: dict[str, Any] | None = None) -> Experiment:
    """Reopen an experiment directory to resume it; only runtime fields may be overridden."""
    from sier.corpora.labels import get_label_map

    exp = Path(directory)
    if not (exp / "config.yaml").is_file() or not (exp / "folds.json").is_file():
        raise TrainingError(f"{exp}: not a sier experiment directory (config.yaml / folds.json missing).")
    config = TrainConfig.from_dict(load_config_yaml(exp / "config.yaml"))
    overrides = dict(overrides or {})
    changed = sorted(k for k, v in overrides.items() if k not in RUNTIME_FIELDS and getattr(config, k) != v)
    if changed:
        raise TrainingError(
            f"cannot change {changed} when resuming {exp}; start a new experiment instead "
            f"(only {', '.join(RUNTIME_FIELDS)} may differ)."
        )
    config = config.override(**{k: v for k, v in overrides.items() if k in RUNTIME_FIELDS})
    protocol = read_json(exp / "folds.json").get("protocol", config.protocol)
    utterances = read_manifest(exp / "manifest.csv")
    return Experiment(exp, config, utterances, load_folds(exp / "folds.json"), protocol,
                      get_label_map(config.label_map).classes)


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
    fcfg = feature_config(config)
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
    variants = _variant_stores(exp, fcfg)
    selected = _selected_folds(exp, config)
    top = _upstream_top(fcfg, config.upstream_dropout)
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
                                              by_length=config.length_buckets and trainer.world_size == 1)
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
        write_predictions(exp, fold, store, loaders["test"].dataset, config)
        plot_curves(metrics_path(exp.directory, k), curves_path(exp.directory, k), title=f"fold {k}")


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
        "speakers": list(fold.train_speakers),
        "fold": fold.index,
        "upstream_top": top.spec() if top is not None else None,
        "cache_dir": exp.config.cache_dir,
        "sier_version": __version__,
    }


def _loaders(exp: Experiment, fold: Fold, store: Any, fcfg: Any, variants: Sequence[Any] = (),
             by_length: bool = False) -> tuple[dict[str, Any], Any, list[Any]]:
    """DataLoaders of train (augmented, shuffled or balanced), val and test, the training
    set, and the generators that draw the training batches (for RngState).
    by_length: training batches of similar length (LengthBatchSampler), validation batches
    in order of length."""
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
    training = dict(augment=augment, variants=variants, variant_prob=config.wave_augment_prob)
    parts = {
        name: UtteranceDataset([by_id[i] for i in ids], store, exp.classes, fold.train_speakers,
                               **(training if name == "train" else {}))
        for name, ids in (("train", fold.train), ("val", fold.val), ("test", fold.test))
    }
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


# ------------------------------------------------------------------ outputs


def write_predictions(exp: Experiment, fold: Fold, store: Any, test_set: Any, config: TrainConfig) -> None:
    """predictions/fold_<k>.csv from the best checkpoint: id, speaker, session, gender, label, pred, prob_*
    (and pred_/rated_<dimension> for a model with dimensions)."""
    import torch

    from sier.corpora.dimensions import normalized
    from sier.evaluation.predictions import PRED_DIMENSIONS, RATED_DIMENSIONS, dimension_cells
    from sier.models.pipeline import load_ser_model
    from sier.training.data import run_model

    model, ckpt = load_ser_model(best_model_path(exp.directory, fold.index))
    classes = ckpt.meta["classes"]
    device = torch.device("cuda" if torch.cuda.is_available() and config.accelerator in ("auto", "gpu", "cuda")
                          else "cpu")
    model.to(device)
    outs = [out for _, out in run_model(model, test_set, config.batch_size, device)]
    probs_t = torch.cat([o["emotion_logits"].float().softmax(-1).cpu() for o in outs]) if outs \
        else torch.zeros(0, len(classes))
    with_dims = bool(outs) and "dimensions" in outs[0]
    dims = torch.cat([o["dimensions"].float().cpu() for o in outs]).tolist() if with_dims else []
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["id", "speaker", "session", "gender", "label", "pred", *[f"prob_{c}" for c in classes],
                     *((*PRED_DIMENSIONS, *RATED_DIMENSIONS) if with_dims else ())])
    for i, (utt, p) in enumerate(zip(test_set.utterances, probs_t.tolist())):
        pred = classes[max(range(len(p)), key=p.__getitem__)]
        writer.writerow([utt.id, utt.speaker, utt.session, utt.gender, utt.label, pred, *[f"{x:.6f}" for x in p],
                         *(dimension_cells(dims[i], normalized(utt)) if with_dims else ())])
    write_text(predictions_path(exp.directory, fold.index), buf.getvalue())


def read_metrics(path: Path) -> list[dict[str, float]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(fh)]


def plot_curves(metrics_csv: Path, out: Path, title: str = "") -> None:
    """Four panels over epochs: train/val loss, val WA/UA, val macro-F1, learning rate."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = read_metrics(metrics_csv) if metrics_csv.is_file() else []
    epochs = [r["epoch"] for r in rows]
    fig = Figure(figsize=(10, 7), constrained_layout=True)
    FigureCanvasAgg(fig)
    panels = [
        ("loss", [("train_loss", "train"), ("val_loss", "val")]),
        ("accuracy", [("val_wa", "val WA"), ("val_ua", "val UA")]),
        ("macro F1", [("val_f1", "val F1")]),
        ("learning rate (body)", [("lr", "lr")]),
    ]
    for i, (name, series) in enumerate(panels):
        ax = fig.add_subplot(2, 2, i + 1)
        for key, label in series:
            ax.plot(epochs, [r[key] for r in rows], marker="o", markersize=3, label=label)
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.legend(loc="best", fontsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    out.parent.mkdir(parents=True, exist_ok=True)
    from sier.fileio import atomic_path

    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=100)


def read_predictions(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def summarize(exp: Experiment, fold_indices: Sequence[int]) -> dict[str, Any]:
    """summary.json and summary.csv over the folds with predictions: per fold, mean, std (ddof=0), pooled."""
    import numpy as np

    from sier.training.metrics import classification_scores

    index = {c: i for i, c in enumerate(exp.classes)}
    folds_by_index = {f.index: f for f in exp.folds}
    per_fold, all_labels, all_preds = [], [], []
    for k in fold_indices:
        path = predictions_path(exp.directory, k)
        if not path.is_file():
            continue
        rows = read_predictions(path)
        labels, preds = [index[r["label"]] for r in rows], [index[r["pred"]] for r in rows]
        all_labels += labels
        all_preds += preds
        best = _best_of(exp.directory, k)
        per_fold.append({"fold": k, "test_speakers": list(folds_by_index[k].test_speakers),
                         **classification_scores(labels, preds), "best_epoch": best.get("epoch"),
                         "val_ua": best.get("val_ua")})
    keys = ("wa", "ua", "f1")
    summary = {
        "protocol": exp.protocol,
        "classes": list(exp.classes),
        "folds": per_fold,
        "mean": {m: float(np.mean([f[m] for f in per_fold])) if per_fold else None for m in keys},
        "std": {m: float(np.std([f[m] for f in per_fold])) if per_fold else None for m in keys},
        "pooled": classification_scores(all_labels, all_preds),
    }
    write_json(exp.directory / "summary.json", summary)
    write_text(exp.directory / "summary.csv", _summary_csv(summary))
    return summary


def _best_of(exp_dir: Path, k: int) -> dict[str, Any]:
    from sier.models import load_checkpoint

    path = best_model_path(exp_dir, k)
    return dict(load_checkpoint(path).meta.get("best") or {}) if path.is_file() else {}


def _summary_csv(summary: dict[str, Any]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["fold", "test_speakers", "n", "wa", "ua", "f1"])
    for f in summary["folds"]:
        writer.writerow([f["fold"], " ".join(f["test_speakers"]), f["n"], *(f"{f[m]:.4f}" for m in ("wa", "ua", "f1"))])
    if summary["folds"]:
        for name in ("mean", "std"):
            writer.writerow([name, "", "", *(f"{summary[name][m]:.4f}" for m in ("wa", "ua", "f1"))])
        p = summary["pooled"]
        writer.writerow(["pooled", "", p["n"], *(f"{p[m]:.4f}" for m in ("wa", "ua", "f1"))])
    return buf.getvalue()


def summary_table(summary: dict[str, Any]) -> str:
    """The printed table: one row per fold, mean +- std, pooled; figures in percent."""
    lines = [f"{'fold':>6}  {'test speakers':<16} {'n':>5} {'WA %':>7} {'UA %':>7} {'F1 %':>7}"]
    for f in summary["folds"]:
        lines.append(f"{f['fold']:>6}  {','.join(f['test_speakers']):<16} {f['n']:>5} "
                     f"{100 * f['wa']:>7.2f} {100 * f['ua']:>7.2f} {100 * f['f1']:>7.2f}")
    if summary["folds"]:
        mean, std, p = summary["mean"], summary["std"], summary["pooled"]
        lines.append(f"{'mean':>6}  {'+- std over folds':<16} {'':>5} "
                     + " ".join(f"{100 * mean[m]:>5.2f}+-{100 * std[m]:.2f}" for m in ("wa", "ua", "f1")))
        lines.append(f"{'pooled':>6}  {'all test utts':<16} {p['n']:>5} "
                     f"{100 * p['wa']:>7.2f} {100 * p['ua']:>7.2f} {100 * p['f1']:>7.2f}")
    return "\n".join(lines)

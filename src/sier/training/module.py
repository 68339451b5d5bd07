"""The LightningModule of one fold, and the callbacks that write its per-epoch files.

Loss per training batch: emotion cross-entropy (class-weighted with balance="weights")
plus `adversarial_weight` x speaker cross-entropy on the utterances of training speakers.
The speaker head sits behind a gradient-reversal layer whose strength is alpha(p)
(`schedules.adversary_alpha`), so the encoder receives -alpha(p) x adversarial_weight x
the speaker loss's gradient while the speaker head itself learns at full weight.
With `dimension_weight` > 0 the loss adds that weight x (1 - CCC), the concordance of the
predicted and rated arousal, valence and dominance over the batch's rated utterances,
averaged over the dimensions: an auxiliary task for the emotion classes (its scores are
logged as val_ccc and val_ccc_<dimension>). With task "dimensions" it is the only task: no
class loss, and the class metrics are NaN.
With a `teacher` (sier.training.distill) the emotion term becomes (1 - w) CE + w T^2 KL
from the teacher's softened distribution to the student's.
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any, Callable, Sequence

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torchmetrics import CatMetric, MeanMetric
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from sier.corpora.dimensions import DIMENSIONS
from sier.models.pipeline import SERModel
from sier.training.config import TrainConfig
from sier.training.data import NO_CLASS
from sier.training.distill import distill_loss
from sier.training.metrics import concordance
from sier.training.schedules import WarmupCosineRestarts, adversary_alpha

METRICS_COLUMNS = ("epoch", "lr", "alpha", "train_loss", "val_loss", "val_wa", "val_ua", "val_f1")
DIMENSION_COLUMNS = ("val_ccc", *(f"val_ccc_{d}" for d in DIMENSIONS))  # with dimension_weight > 0


def dimension_loss(pred: Tensor, target: Tensor) -> Tensor | None:
    """1 - CCC averaged over the dimensions with at least 2 rated utterances in the batch
    (targets NaN where unrated); None when no dimension has them."""
    losses = []
    for d in range(target.shape[1]):
        known = ~torch.isnan(target[:, d])
        if int(known.sum()) >= 2:
            ccc = concordance(pred[known, d], target[known, d])
            if torch.isfinite(ccc):
                losses.append(1 - ccc)
    return torch.stack(losses).mean() if losses else None


def optimizer_groups(model: SERModel, config: TrainConfig) -> list[dict[str, Any]]:
    """AdamW parameter groups: upstream top lr x upstream_lr_scale, body lr, heads lr x head_lr_scale.

    Only trainable parameters; each appears once (ValueError otherwise)."""
    groups = model.param_groups()
    scale = {"upstream": config.upstream_lr_scale, "body": 1.0, "heads": config.head_lr_scale}
    out, seen = [], set()
    for name in ("upstream", "body", "heads"):
        params = [p for p in groups[name] if p.requires_grad]
        for p in params:
            if id(p) in seen:
                raise ValueError(f"parameter in two groups (second: {name})")
            seen.add(id(p))
        if params:
            out.append({"name": name, "params": params, "lr": config.lr * scale[name]})
    missing = [n for n, p in model.named_parameters() if p.requires_grad and id(p) not in seen]
    if missing:
        raise ValueError(f"trainable parameters in no group: {missing[:5]}")
    return out


class SERModule(L.LightningModule):
    """Trains an SERModel on one fold; logs val_wa / val_ua / val_f1 / val_loss each epoch."""

    def __init__(self, model: SERModel, config: TrainConfig, num_classes: int, class_weight: Tensor | None = None):
        super().__init__()
        self.model = model
        self.config = config
        self.register_buffer("class_weight", class_weight if class_weight is not None else torch.ones(num_classes))
        self.val_wa = MulticlassAccuracy(num_classes, average="micro")
        self.val_ua = MulticlassAccuracy(num_classes, average="macro")
        self.val_f1 = MulticlassF1Score(num_classes, average="macro")
        self.val_loss = MeanMetric()
        self.train_loss = MeanMetric()
        # per-utterance values, gathered over devices: the CCC is not a mean of batch CCCs
        self.val_dim_pred = CatMetric(nan_strategy="disable")
        self.val_dim_true = CatMetric(nan_strategy="disable")
        self.epoch_row: dict[str, float] | None = None  # filled after each validation, read by callbacks

    def forward(self, features: Tensor, lengths: Tensor, alpha: float = 0.0) -> dict[str, Tensor]:
        return self.model(features, lengths, alpha=alpha)

    def progress(self) -> float:
        """Fraction of the maximum training steps done, in [0, 1]."""
        total = self.trainer.estimated_stepping_batches if self._trainer is not None else 0
        return min(self.global_step / total, 1.0) if total and math.isfinite(total) else 0.0

    def alpha(self) -> float:
        return adversary_alpha(self.progress(), self.config.adversarial_gamma)

    def training_step(self, batch: dict, batch_idx: int) -> Tensor:
        alpha = self.alpha()
        out = self.model(batch["features"], batch["lengths"], alpha=alpha)
        loss = self._class_loss(out["emotion_logits"], batch["labels"])
        if loss is None:  # a batch of utterances of no class (all_rated): the other terms train it
            loss = out["emotion_logits"].sum() * 0.0
        else:
            self.log("emotion_loss", loss, on_step=True, on_epoch=False, batch_size=len(batch["labels"]))
        if "teacher_logits" in batch:
            kd = distill_loss(out["emotion_logits"], batch["teacher_logits"], self.config.distill_temperature)
            loss = (1 - self.config.distill_weight) * loss + self.config.distill_weight * kd
            self.log("distill_loss", kd, on_step=True, on_epoch=False, batch_size=len(batch["labels"]))
        if "speaker_logits" in out:
            known = batch["speakers"] >= 0  # every training utterance, unless a caller mixes parts
            if known.any():
                speaker_loss = F.cross_entropy(out["speaker_logits"][known], batch["speakers"][known])
                loss = loss + self.config.adversarial_weight * speaker_loss
                self.log("speaker_loss", speaker_loss, on_step=True, on_epoch=False, batch_size=int(known.sum()))
        if "dimensions" in out:
            dim_loss = dimension_loss(out["dimensions"], batch["dimensions"])
            if dim_loss is not None:
                loss = loss + self.config.dimension_weight * dim_loss
                self.log("dimension_loss", dim_loss, on_step=True, on_epoch=False, batch_size=len(batch["labels"]))
        self.train_loss.update(loss.detach(), weight=len(batch["labels"]))
        self.log("alpha", alpha, on_step=True, on_epoch=False, batch_size=len(batch["labels"]))
        return loss

    def _learns_classes(self) -> bool:
        return self.config.task != "dimensions"

    def _class_loss(self, logits: Tensor, labels: Tensor) -> Tensor | None:
        """Class-weighted cross-entropy over the utterances of a class; None if the batch has none
        (or the task is the dimensions only)."""
        known = labels != NO_CLASS
        if not self._learns_classes() or not known.any():
            return None
        return F.cross_entropy(logits[known], labels[known], weight=self.class_weight)

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        out = self.model(batch["features"], batch["lengths"], alpha=0.0)
        known = batch["labels"] != NO_CLASS
        if self._learns_classes() and known.any():
            logits, labels = out["emotion_logits"][known], batch["labels"][known]
            self.val_loss.update(F.cross_entropy(logits, labels, weight=self.class_weight), weight=len(labels))
            for metric in (self.val_wa, self.val_ua, self.val_f1):
                metric.update(logits.argmax(dim=-1), labels)
        if "dimensions" in out:
            self.val_dim_pred.update(out["dimensions"].float())
            self.val_dim_true.update(batch["dimensions"])

    def on_train_epoch_start(self) -> None:
        self.train_loss.reset()

    def _val_metrics(self) -> tuple:
        return self.val_wa, self.val_ua, self.val_f1, self.val_loss, self.val_dim_pred, self.val_dim_true

    def _class_scores(self) -> dict[str, Tensor]:
        """val_loss, val_wa, val_ua, val_f1 over the validation utterances of a class; NaN where
        none was scored (task "dimensions")."""
        names = ("val_loss", "val_wa", "val_ua", "val_f1")
        metrics = (self.val_loss, self.val_wa, self.val_ua, self.val_f1)
        if not self.val_loss.update_count:
            return {name: torch.tensor(float("nan")) for name in names}
        return {name: metric.compute() for name, metric in zip(names, metrics)}

    def _dimension_scores(self) -> dict[str, Tensor]:
        """val_ccc_<dimension> over the validation utterances rated for it, and their mean val_ccc."""
        if not self.val_dim_pred.update_count:
            return {}
        pred, true = self.val_dim_pred.compute(), self.val_dim_true.compute()
        scores = {}
        for d, name in enumerate(DIMENSIONS):
            known = ~torch.isnan(true[:, d])
            scores[f"val_ccc_{name}"] = concordance(pred[known, d], true[known, d])
        finite = [v for v in scores.values() if torch.isfinite(v)]
        scores["val_ccc"] = torch.stack(finite).mean() if finite else torch.tensor(float("nan"))
        return scores

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:
            for metric in self._val_metrics():
                metric.reset()
            return
        values = {**self._class_scores(), **self._dimension_scores()}
        self.log_dict(values, prog_bar=True)
        train_loss = self.train_loss.compute() if self.train_loss.update_count else torch.tensor(float("nan"))
        self.epoch_row = {
            "epoch": self.current_epoch,
            "lr": self.body_lr(),
            "alpha": self.alpha() if self.model.head.cfg.num_speakers > 0 else 0.0,
            "train_loss": float(train_loss),
            **{k: float(v) for k, v in values.items()},
        }
        scheduler = self.lr_schedulers()
        if isinstance(scheduler, WarmupCosineRestarts):
            scheduler.report(float(values[self.config.monitor]))
        for metric in self._val_metrics():
            metric.reset()

    def body_lr(self) -> float:
        """Current learning rate of the model body (base lr group)."""
        for group in self.trainer.optimizers[0].param_groups:
            if group.get("name") == "body":
                return float(group["lr"])
        return float(self.trainer.optimizers[0].param_groups[0]["lr"])

    def configure_optimizers(self) -> dict:
        cfg = self.config
        optimizer = torch.optim.AdamW(optimizer_groups(self.model, cfg), lr=cfg.lr, weight_decay=cfg.weight_decay)
        total = self.trainer.estimated_stepping_batches
        steps_per_epoch = max(1, int(total // max(1, self.trainer.max_epochs)))
        scheduler = WarmupCosineRestarts(
            optimizer,
            warmup_steps=max(1, round(cfg.warmup_epochs * steps_per_epoch)) if cfg.warmup_epochs > 0 else 0,
            cycle_steps=round(cfg.restart_epochs * steps_per_epoch),
            cycle_mult=cfg.restart_mult,
            min_ratio=cfg.min_lr_ratio,
            plateau_factor=cfg.plateau_factor,
            plateau_patience=cfg.plateau_patience,
            mode="min" if cfg.monitor == "val_loss" else "max",
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


class EpochRecorder(L.Callback):
    """Writes metrics/fold_<k>.csv after each validation (rows survive a resume via state_dict)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.rows: list[dict[str, float]] = []

    def on_validation_end(self, trainer: L.Trainer, pl_module: SERModule) -> None:
        if trainer.sanity_checking or pl_module.epoch_row is None:
            return
        self.rows = [r for r in self.rows if r["epoch"] != pl_module.epoch_row["epoch"]] + [pl_module.epoch_row]
        if trainer.is_global_zero:
            write_metrics_csv(self.path, self.rows)

    def state_dict(self) -> dict[str, Any]:
        return {"rows": self.rows}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.rows = list(state_dict.get("rows", []))


class BestModelSaver(L.Callback):
    """Saves the sier checkpoint (models/best_model_fold_<k>.pth) whenever the monitored metric improves."""

    def __init__(self, save: Callable[[SERModule, dict], None], monitor: str, mode: str = "max") -> None:
        self.save = save
        self.monitor = monitor
        self.mode = mode
        self.best: dict[str, float] | None = None  # {"epoch", monitor, "val_ua"} of the best epoch

    def on_validation_end(self, trainer: L.Trainer, pl_module: SERModule) -> None:
        row = pl_module.epoch_row
        if trainer.sanity_checking or row is None or not math.isfinite(row[self.monitor]):
            return
        better = self.best is None or (
            row[self.monitor] > self.best[self.monitor] if self.mode == "max" else row[self.monitor] < self.best[self.monitor]
        )
        if better:
            self.best = {"epoch": int(row["epoch"]), "val_ua": row["val_ua"], self.monitor: row[self.monitor]}
            if trainer.is_global_zero:
                self.save(pl_module, dict(self.best))

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best = state_dict.get("best")


class RngState(L.Callback):
    """Saves the random state with every Lightning checkpoint and restores it on resume:
    torch's, NumPy's and Python's global generators and the given ones (the training
    DataLoader's shuffle, a sampler's). Without it a resumed fold restarted from the fold
    seed and drew other batches, masks and dropout than a run that never stopped.
    Plain lists and tensors only, so the checkpoint loads with weights_only=True."""

    def __init__(self, *generators: torch.Generator | None) -> None:
        self.generators: list[torch.Generator] = []
        self.track(*generators)

    def track(self, *generators: torch.Generator | None) -> None:
        """Add generators to save and restore (each once; None is skipped)."""
        for g in generators:  # one generator may serve several samplers and a loader
            if g is not None and all(g is not known for known in self.generators):
                self.generators.append(g)

    def state_dict(self) -> dict[str, Any]:
        kind, keys, pos, has_gauss, gauss = np.random.get_state()
        version, internal, gauss_next = random.getstate()
        return {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(gauss)],
            "python": [version, list(internal), gauss_next],
            "generators": [g.get_state() for g in self.generators],
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if not state_dict:
            return  # a checkpoint from before this callback: nothing to restore
        torch.set_rng_state(state_dict["torch"])
        if state_dict["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state_dict["cuda"])
        kind, keys, pos, has_gauss, gauss = state_dict["numpy"]
        np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, gauss))
        version, internal, gauss_next = state_dict["python"]
        random.setstate((version, tuple(internal), gauss_next))
        for generator, state in zip(self.generators, state_dict["generators"], strict=True):
            generator.set_state(state)


def write_metrics_csv(path: Path, rows: Sequence[dict[str, float]]) -> None:
    import csv
    import io

    from sier.fileio import write_text

    columns = [*METRICS_COLUMNS, *(c for c in DIMENSION_COLUMNS if rows and c in rows[0])]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (int(row[k]) if k == "epoch" else f"{row[k]:.6g}") for k in columns})
    write_text(path, buf.getvalue())

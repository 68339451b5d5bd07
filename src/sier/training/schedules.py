"""Schedules: the adversary's weight alpha(p) and the learning rate.

The learning rate is one scheduler, `WarmupCosineRestarts`, stepped once per optimizer
step. Its factor on each group's base LR is the product of

- a linear warm-up from 0 to 1 over the first `warmup_steps` steps,
- cosine annealing with warm restarts after the warm-up (SGDR: cycles of `cycle_steps`
  steps, each `cycle_mult` times longer than the last, from 1 down to `min_ratio`), and
- a plateau factor: every `plateau_patience` validations without improvement of the
  monitored metric multiply it by `plateau_factor` (`report(metric)` after each
  validation; the LightningModule does that).

All three live in the scheduler's state_dict, so a resumed run continues exactly.
"""

from __future__ import annotations

import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler


def adversary_alpha(progress: float, gamma: float = 10.0) -> float:
    """Gradient-reversal weight alpha(p) = 2 / (1 + exp(-gamma p)) - 1 (Ganin & Lempitsky).

    `progress` p is the fraction of training done, in [0, 1] (clipped); alpha rises
    from 0 at p=0 towards 1 (0.9866 at p=0.5 with gamma=10).
    """
    p = min(max(float(progress), 0.0), 1.0)
    return 2.0 / (1.0 + math.exp(-gamma * p)) - 1.0


def warmup_cosine_factor(
    step: int, warmup_steps: int, cycle_steps: int, cycle_mult: float = 1.0, min_ratio: float = 0.0
) -> float:
    """LR factor in [min_ratio, 1] at optimizer step `step` (0-based), without the plateau part.

    Steps 0..warmup_steps-1 rise linearly to 1 ((step+1)/warmup_steps); after that, cosine
    cycles restart at 1. A cycle_steps < 1 means no annealing (constant 1 after warm-up).
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if cycle_steps < 1:
        return 1.0
    t = step - warmup_steps
    length = float(cycle_steps)
    if cycle_mult == 1.0:
        t = t % cycle_steps
    else:
        while t >= length:  # cycles grow geometrically; a few dozen at most
            t -= length
            length *= cycle_mult
    cosine = 0.5 * (1.0 + math.cos(math.pi * t / length))
    return min_ratio + (1.0 - min_ratio) * cosine


class WarmupCosineRestarts(LRScheduler):
    """Linear warm-up, cosine annealing with warm restarts, and decay on plateau.

    Step it after every optimizer step; call `report(value)` after every validation
    with the monitored metric (higher is better when mode="max").
    """

    def __init__(
        self,
        optimizer: Optimizer,
        warmup_steps: int,
        cycle_steps: int,
        cycle_mult: float = 1.0,
        min_ratio: float = 0.01,
        plateau_factor: float = 0.5,
        plateau_patience: int = 3,
        mode: str = "max",
        last_epoch: int = -1,
    ) -> None:
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
        self.warmup_steps = int(warmup_steps)
        self.cycle_steps = int(cycle_steps)
        self.cycle_mult = float(cycle_mult)
        self.min_ratio = float(min_ratio)
        self.plateau_factor = float(plateau_factor)
        self.plateau_patience = int(plateau_patience)
        self.mode = mode
        self.plateau_scale = 1.0  # product of the plateau decays so far
        self.best: float | None = None  # best reported metric
        self.bad_reports = 0  # reports since the last improvement
        super().__init__(optimizer, last_epoch)

    def factor(self) -> float:
        """The current multiplier on every group's base LR."""
        step = max(self.last_epoch, 0)
        base = warmup_cosine_factor(step, self.warmup_steps, self.cycle_steps, self.cycle_mult, self.min_ratio)
        return base * self.plateau_scale

    def get_lr(self) -> list[float]:
        f = self.factor()
        return [base * f for base in self.base_lrs]

    def report(self, value: float) -> bool:
        """Record a validation metric; returns True when this report decayed the LR."""
        value = float(value)
        improved = self.best is None or (value > self.best if self.mode == "max" else value < self.best)
        if improved:
            self.best, self.bad_reports = value, 0
            return False
        self.bad_reports += 1
        if self.plateau_patience > 0 and self.bad_reports >= self.plateau_patience:
            self.plateau_scale *= self.plateau_factor
            self.bad_reports = 0
            for group, lr in zip(self.optimizer.param_groups, [base * self.factor() for base in self.base_lrs]):
                group["lr"] = lr
            self._last_lr = [group["lr"] for group in self.optimizer.param_groups]
            return True
        return False

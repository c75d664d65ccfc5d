"""Learning rate: linear warm-up, then cosine annealing, optionally with warm restarts (SGDR).

Steps are optimizer iterations. After ``warmup_steps`` the rate follows
``final + (base - final) * (1 + cos(pi * t / T)) / 2`` where t counts steps
since warm-up ended and T is the rest of the run, or, with warm restarts
(Loshchilov & Hutter, SGDR), the current cycle: T0, T0*mult, T0*mult^2, ...
"""

from __future__ import annotations

import math
from typing import Any

import torch

__all__ = ["WarmupCosine", "lr_at"]


def lr_at(
    step: int,
    *,
    base_lr: float,
    total_steps: int,
    warmup_steps: int = 0,
    warmup_start: float = 0.0,
    final_ratio: float = 0.01,
    restart_period: int | None = None,
    restart_mult: float = 1.0,
) -> float:
    """Learning rate at optimizer step `step` (0-based).

    Warm-up rises linearly from ``warmup_start * base_lr`` at step 0 to
    ``base_lr`` at ``warmup_steps``; the cosine then falls to
    ``final_ratio * base_lr`` at ``total_steps`` (or at each cycle's end).
    """
    if step < warmup_steps:
        return base_lr * (warmup_start + (1.0 - warmup_start) * step / warmup_steps)
    final = base_lr * final_ratio
    t = step - warmup_steps
    if restart_period is None:
        period = max(total_steps - warmup_steps, 1)
        t = min(t, period)
    elif restart_mult == 1.0:
        period = restart_period
        t %= period
    else:
        cycle = int(math.log(t / restart_period * (restart_mult - 1) + 1, restart_mult))
        start = restart_period * (restart_mult**cycle - 1) / (restart_mult - 1)
        period = restart_period * restart_mult**cycle
        t -= start
        if t >= period:  # float rounding of the log at a cycle boundary
            t, period = t - period, period * restart_mult
    return final + (base_lr - final) * 0.5 * (1.0 + math.cos(math.pi * t / period))


class WarmupCosine:
    """Sets every param group's lr (and SGD momentum during warm-up) before each optimizer step.

    Call `step()` once per iteration, before ``optimizer.step()``. Momentum
    (SGD) rises linearly from `warmup_momentum` to `momentum` over the warm-up,
    as in YOLOv5: a high momentum on random early gradients overshoots.
    """

    def __init__(
        self, optimizer: torch.optim.Optimizer, *, momentum: float | None = None, warmup_momentum: float = 0.8, **schedule: Any
    ) -> None:
        self.optimizer = optimizer
        self.schedule = schedule
        self.momentum = momentum
        self.warmup_momentum = warmup_momentum
        self.last_step = 0
        lr_at(0, **schedule)  # fail now on a bad keyword, not mid-epoch

    def step(self) -> float:
        """Apply the rate of the current step, advance, and return the rate applied."""
        lr = lr_at(self.last_step, **self.schedule)
        warmup = self.schedule.get("warmup_steps", 0)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
            if self.momentum is not None and "momentum" in group:
                frac = min(self.last_step / warmup, 1.0) if warmup else 1.0
                group["momentum"] = self.warmup_momentum + (self.momentum - self.warmup_momentum) * frac
        self.last_step += 1
        return lr

    def state_dict(self) -> dict[str, int]:
        """What a checkpoint needs to resume the schedule."""
        return {"last_step": self.last_step}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Resume from `state_dict()`."""
        self.last_step = int(state["last_step"])

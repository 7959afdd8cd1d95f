"""Learning-rate schedules as pure ``step -> lr`` functions.

A schedule is a plain function of the step (or epoch) index, with no state of its own: a run
resumed at step ``t`` gets exactly the rate an uninterrupted run had at ``t``. Use one with
``LearningRateScheduler(schedule, per="step")`` (or ``per="epoch"``).
"""
from __future__ import annotations

import math
from collections.abc import Callable

from topnet.errors import format_message

__all__ = ["cosine_decay"]

Schedule = Callable[[int], float]


def _positive(name: str, value: float) -> None:
    if not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(format_message(name, value, "a positive number"))


def cosine_decay(lr0: float, total_steps: int, warmup_steps: int = 0, final_lr: float = 0.0) -> Schedule:
    """Linear warm-up from 0 to ``lr0`` over ``warmup_steps``, then half a cosine down to ``final_lr``.

    Args:
        lr0: the peak learning rate.
        total_steps: steps of the whole run (warm-up included); later steps stay at ``final_lr``.
        warmup_steps: steps of linear warm-up.
        final_lr: the rate at ``total_steps``.

    Returns:
        A function ``step -> lr``.

    Example:
        >>> schedule = cosine_decay(0.1, total_steps=100)
        >>> schedule(0), round(schedule(50), 6), schedule(100)
        (0.1, 0.05, 0.0)
    """
    _positive("lr0", lr0)
    _positive("total_steps", total_steps)
    if not 0 <= warmup_steps < total_steps:
        raise ValueError(format_message("warmup_steps", warmup_steps, f"an int in [0, total_steps={total_steps})"))

    def schedule(step: int) -> float:
        if step < warmup_steps:
            return lr0 * (step + 1) / warmup_steps
        progress = min((step - warmup_steps) / (total_steps - warmup_steps), 1.0)
        return final_lr + (lr0 - final_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return schedule

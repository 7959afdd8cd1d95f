"""Learning-rate schedules as pure ``step -> lr`` functions.

A schedule is a plain function of the step (or epoch) index, with no state of its own: a run
resumed at step ``t`` gets exactly the rate an uninterrupted run had at ``t``. Use one with
``LearningRateScheduler(schedule, per="step")`` (or ``per="epoch"``). The names follow Géron
(ch. 11) and Keras; each docstring names the PyTorch scheduler that gives the same sequence.

| schedule             | rate at step ``t``                                  | PyTorch            |
| -------------------- | --------------------------------------------------- | ------------------ |
| power_decay          | ``lr0 / (1 + t/s)**c``                              | LambdaLR           |
| exponential_decay    | ``lr0 * decay_rate**(t/s)``                         | ExponentialLR      |
| piecewise_constant   | ``values[i]`` for ``boundaries[i-1] <= t < boundaries[i]`` | MultiStepLR |
| cosine_decay         | linear warm-up, then half a cosine                  | CosineAnnealingLR  |
| one_cycle            | Smith's 1cycle: up, down, annihilate; momentum too  | OneCycleLR [1]     |

[1] with ``three_phase=True, anneal_strategy="linear"``, ``pct_start=(up_steps + 1) /
total_steps``, ``div_factor`` and ``final_div_factor`` as here (PyTorch's defaults are 25 and
1e4; topnet's are Géron's 10 and 1000). PyTorch raises past ``total_steps``; topnet stays at the
final rate. PyTorch's default two-phase cosine cycle is fastai's variant, not Smith's.
"""
from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from topnet.errors import format_message

__all__ = ["Schedule", "power_decay", "exponential_decay", "piecewise_constant", "cosine_decay",
           "OneCycle", "one_cycle"]

Schedule = Callable[[int], float]


def _positive(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(format_message(name, value, "a positive number"))


def power_decay(lr0: float, s: float, c: float = 1.0) -> Schedule:
    """Power scheduling: ``lr0 / (1 + t/s)**c``; after ``s`` steps the rate is ``lr0 / 2**c``.

    Keras 2's ``SGD(decay=1/s)`` is the case ``c=1``.

    Example:
        >>> schedule = power_decay(0.1, s=10)
        >>> schedule(0), schedule(10), schedule(30)
        (0.1, 0.05, 0.025)
    """
    _positive("lr0", lr0)
    _positive("s", s)
    _positive("c", c)
    return lambda step: lr0 / (1.0 + step / s) ** c


def exponential_decay(lr0: float, s: float, decay_rate: float = 0.1) -> Schedule:
    """Exponential scheduling: ``lr0 * decay_rate**(t/s)``, by default 10× smaller every ``s`` steps.

    Equals ``ExponentialLR(gamma=decay_rate**(1/s))`` and Keras's ``ExponentialDecay``.

    Example:
        >>> schedule = exponential_decay(0.01, s=20)
        >>> schedule(0), round(schedule(20), 12), round(schedule(40), 12)
        (0.01, 0.001, 0.0001)
    """
    _positive("lr0", lr0)
    _positive("s", s)
    _positive("decay_rate", decay_rate)
    return lambda step: lr0 * decay_rate ** (step / s)


def piecewise_constant(boundaries: Sequence[int], values: Sequence[float]) -> Schedule:
    """``values[0]`` before ``boundaries[0]``, ``values[i]`` from ``boundaries[i-1]`` on.

    The rate changes *at* each boundary, as in Géron's ``epoch < 5`` example and PyTorch's
    ``MultiStepLR``; Keras's ``PiecewiseConstantDecay`` changes one step later (``t <= b``).

    Args:
        boundaries: increasing step (or epoch) indices.
        values: one more rate than boundaries.

    Raises:
        ValueError: unsorted boundaries, or ``len(values) != len(boundaries) + 1``.

    Example:
        >>> schedule = piecewise_constant([5, 15], [0.01, 0.005, 0.001])
        >>> [schedule(t) for t in (0, 4, 5, 14, 15, 99)]
        [0.01, 0.01, 0.005, 0.005, 0.001, 0.001]
    """
    boundaries, values = list(boundaries), [float(v) for v in values]
    if any(b >= a for b, a in zip(boundaries, boundaries[1:])) or any(b < 0 for b in boundaries):
        raise ValueError(format_message("boundaries", boundaries, "strictly increasing indices >= 0"))
    if len(values) != len(boundaries) + 1:
        raise ValueError(format_message("values", values, f"{len(boundaries) + 1} rates (one more than boundaries)"))
    for value in values:
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(format_message("values", values, "finite rates >= 0"))
    return lambda step: values[bisect.bisect_right(boundaries, step)]


def cosine_decay(lr0: float, total_steps: int, warmup_steps: int = 0, final_lr: float = 0.0) -> Schedule:
    """Linear warm-up from 0 to ``lr0`` over ``warmup_steps``, then half a cosine down to ``final_lr``.

    Without warm-up it equals ``CosineAnnealingLR(T_max=total_steps, eta_min=final_lr)``; with
    it, ``LinearLR(start_factor=1/warmup_steps, total_iters=warmup_steps - 1)`` then that.

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


@dataclass(frozen=True)
class OneCycle:
    """Smith's 1cycle policy: a learning-rate and a momentum schedule over ``total_steps``.

    Steps ``0 → up_steps``: the rate rises linearly from ``initial_lr`` to ``max_lr`` while
    momentum falls from ``max_momentum`` to ``base_momentum``; ``up_steps → 2·up_steps``: the
    mirror image; ``2·up_steps → total_steps - 1``: the rate anneals linearly to ``final_lr``
    (momentum stays at ``max_momentum``). Later steps keep the final values. Calling the object
    gives the rate, so it is a ``step -> lr`` schedule; ``.momentum`` is the momentum one.
    Build it with `one_cycle`.
    """

    max_lr: float
    total_steps: int
    initial_lr: float
    final_lr: float
    up_steps: int
    max_momentum: float = 0.95
    base_momentum: float = 0.85

    def _phase(self, step: int) -> tuple[int, float]:
        """(phase 0/1/2, fraction of it done) at ``step``."""
        up, last = self.up_steps, self.total_steps - 1
        if step <= up:
            return 0, max(step, 0) / up
        if step <= 2 * up:
            return 1, (step - up) / up
        return 2, min((step - 2 * up) / (last - 2 * up), 1.0)

    def lr(self, step: int) -> float:
        """The learning rate of step ``step`` (0-based)."""
        phase, pct = self._phase(step)
        start, end = [(self.initial_lr, self.max_lr), (self.max_lr, self.initial_lr),
                      (self.initial_lr, self.final_lr)][phase]
        return (end - start) * pct + start

    def momentum(self, step: int) -> float:
        """The momentum (SGD/RMSprop ``momentum``, Adam's ``beta1``) of step ``step``."""
        phase, pct = self._phase(step)
        start, end = [(self.max_momentum, self.base_momentum), (self.base_momentum, self.max_momentum),
                      (self.max_momentum, self.max_momentum)][phase]
        return (end - start) * pct + start

    def __call__(self, step: int) -> float:
        return self.lr(step)


def one_cycle(max_lr: float, total_steps: int, *, div_factor: float = 10.0, final_div_factor: float = 1000.0,
              annihilation: float = 0.1, max_momentum: float = 0.95, base_momentum: float = 0.85) -> OneCycle:
    """The 1cycle schedule (Smith 2018; Géron ch. 11) for a run of ``total_steps`` optimizer steps.

    Args:
        max_lr: the peak rate, about the largest rate that still trains (see ``lr_find``).
        total_steps: optimizer steps of the whole run (epochs × steps per epoch).
        div_factor: the cycle starts and ends at ``max_lr / div_factor``.
        final_div_factor: the annihilation ends at ``initial_lr / final_div_factor``.
        annihilation: the fraction of ``total_steps`` spent annealing after the cycle.
        max_momentum: momentum at both ends of the cycle.
        base_momentum: momentum at the peak rate.

    Returns:
        A `OneCycle`: call it (or ``.lr``) for the rate, ``.momentum`` for the momentum; pass
        ``LearningRateScheduler(cycle, per="step", momentum_schedule=cycle.momentum)``.

    Raises:
        ValueError: non-positive rates or factors, ``annihilation`` outside [0, 1), momenta
            outside [0, 1), or ``total_steps`` too small for a cycle.

    Example:
        >>> cycle = one_cycle(1.0, total_steps=21)
        >>> cycle.up_steps, cycle(0), cycle(9), round(cycle(18), 6), round(cycle(20), 6)
        (9, 0.1, 1.0, 0.1, 0.0001)
        >>> cycle.momentum(0), cycle.momentum(9), cycle.momentum(20)
        (0.95, 0.85, 0.95)
    """
    for name, value in (("max_lr", max_lr), ("div_factor", div_factor), ("final_div_factor", final_div_factor)):
        _positive(name, value)
    if isinstance(total_steps, bool) or not isinstance(total_steps, int):
        raise ValueError(format_message("total_steps", total_steps, "an int (epochs * steps_per_epoch)"))
    if not 0 <= annihilation < 1:
        raise ValueError(format_message("annihilation", annihilation, "a fraction in [0, 1)", "Smith uses 0.05-0.1"))
    for name, value in (("max_momentum", max_momentum), ("base_momentum", base_momentum)):
        if not 0 <= value < 1:
            raise ValueError(format_message(name, value, "a momentum in [0, 1)"))
    up_steps = (total_steps - 1 - round(annihilation * total_steps)) // 2
    if up_steps < 1:
        raise ValueError(format_message("total_steps", total_steps, "enough steps for a cycle (at least 3, "
                                        "more with annihilation)", "pass epochs * steps_per_epoch"))
    initial_lr = max_lr / div_factor
    return OneCycle(max_lr=float(max_lr), total_steps=total_steps, initial_lr=initial_lr,
                    final_lr=initial_lr / final_div_factor, up_steps=up_steps,
                    max_momentum=float(max_momentum), base_momentum=float(base_momentum))

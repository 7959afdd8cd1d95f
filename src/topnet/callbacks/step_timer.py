"""``StepTimer``: time a fit's batches (after a warm-up) and the validation that ends its epoch."""
from __future__ import annotations

import time
from collections.abc import Callable

import torch

from topnet.callbacks.base import Callback
from topnet.callbacks.state import TrainState

__all__ = ["StepTimer"]


class StepTimer(Callback):
    """Marks the clock after each batch from batch ``warm`` on, and at the epoch's end.

    The first ``warm`` batches pay one-off costs (allocations, kernel selection) and are not
    timed; on CUDA the clock is read after the device's queue is done. The time of a step is
    the mean gap between marks; the validation pass is ``epoch_end - marks[-1]``.

    Args:
        warm: batches left out before the first mark.
        clock: seconds (``time.perf_counter``).

    Example:
        >>> import torch
        >>> ticks = iter(range(100))
        >>> timer, state = StepTimer(warm=1, clock=lambda: float(next(ticks))), TrainState(model=torch.nn.Linear(1, 1))
        >>> for batch in range(3):
        ...     state.batch = batch
        ...     timer.on_batch_end(state)
        >>> timer.on_epoch_end(state)
        >>> timer.marks, timer.epoch_end
        ([0.0, 1.0, 2.0], 3.0)
    """

    def __init__(self, warm: int, clock: Callable[[], float] = time.perf_counter):
        self.warm = warm
        self.clock = clock
        self.marks: list[float] = []
        self.epoch_end: float | None = None

    def _now(self, state: TrainState) -> float:
        if next(state.model.parameters()).is_cuda:  # CUDA runs ahead of Python: wait for its queue
            torch.cuda.synchronize()
        return self.clock()

    def on_batch_end(self, state: TrainState) -> None:
        if state.batch + 1 >= self.warm:
            self.marks.append(self._now(state))

    def on_epoch_end(self, state: TrainState) -> None:
        self.epoch_end = self._now(state)

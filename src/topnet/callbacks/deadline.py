"""``Deadline``: stop training at the next batch once a wall-clock deadline has passed."""
from __future__ import annotations

import time

from topnet.callbacks.base import Callback
from topnet.callbacks.state import TrainState

__all__ = ["Deadline"]


class Deadline(Callback):
    """A wall-clock deadline that stops training once it has passed (checked every batch).

    Used by the search so that a trial running when the budget ends stops at the next batch;
    the trial is then recorded as pruned with ``stopped="budget"``. Reading the clock does not
    touch the device.

    Args:
        seconds: seconds from now until the deadline; None for no deadline.

    Attributes:
        expired_during_fit: True when it stopped the last ``fit`` it took part in.

    Example:
        >>> deadline = Deadline(3600)
        >>> deadline.expired, round(deadline.remaining() / 60)
        (False, 60)
    """

    def __init__(self, seconds: float | None = None, clock=time.monotonic):
        self.seconds = seconds
        self.clock = clock
        self.start = clock()
        self.expired_during_fit = False

    @property
    def expired(self) -> bool:
        """Whether the deadline has passed."""
        return self.seconds is not None and self.clock() - self.start >= self.seconds

    def remaining(self) -> float | None:
        """Seconds left (never negative), or None without a deadline."""
        return None if self.seconds is None else max(0.0, self.seconds - (self.clock() - self.start))

    def elapsed(self) -> float:
        """Seconds since the deadline was set."""
        return self.clock() - self.start

    def on_fit_begin(self, state: TrainState) -> None:
        self.expired_during_fit = False

    def on_batch_end(self, state: TrainState) -> None:
        if self.expired:
            self.expired_during_fit = True
            state.stop_training = True

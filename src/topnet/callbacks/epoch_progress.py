"""``EpochProgress``: one line per epoch for a model trained inside a longer job."""
from __future__ import annotations

import math

from topnet.callbacks._monitor import Monitor
from topnet.callbacks.base import Callback
from topnet.callbacks.state import TrainState

__all__ = ["EpochProgress"]


class EpochProgress(Callback):
    """Prints the model's label, the epoch, the monitored value, the best so far and the time
    its `Deadline` leaves (``topnet run``'s retraining: one line per epoch, on a pipe too).

    Args:
        label: names the model (``"2/5 01-convnet-t3"``).
        monitor: the log to show, e.g. ``"val_accuracy"``; the best follows its direction.
        deadline: anything with ``remaining()`` (a `Deadline`), or None.
        verbose: 0 keeps the best value without printing.

    Example:
        >>> import torch
        >>> progress = EpochProgress("m", "val_loss", None, verbose=0)
        >>> state = TrainState(model=torch.nn.Linear(1, 1), epochs=3)
        >>> for value in (0.5, 0.7, 0.4):
        ...     state.logs = {"val_loss": value}
        ...     progress.on_epoch_end(state)
        >>> progress.best
        0.4
    """

    def __init__(self, label: str, monitor: str, deadline: object | None, verbose: int = 1):
        self.label = label
        self.monitor = Monitor(monitor, owner="EpochProgress")
        self.deadline = deadline
        self.verbose = verbose
        self.best: float | None = None

    def on_epoch_end(self, state: TrainState) -> None:
        value = state.logs.get(self.monitor.monitor)
        if value is not None and not math.isnan(value) and self.monitor.is_improvement(value, self.best):
            self.best = value
        if self.verbose:
            left = self.deadline.remaining() if self.deadline is not None else None
            shown = value if value is None else round(float(value), 4)
            print(f"[retrain] {self.label} epoch {state.epoch + 1}/{state.epochs} {self.monitor.monitor} {shown} "
                  f"(best {self.best and round(self.best, 4)})" + (f", {left:.0f}s left" if left is not None else ""),
                  flush=True)

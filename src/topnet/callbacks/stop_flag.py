"""``StopFlag``: remember whether a ``fit`` ended because a callback stopped it."""
from __future__ import annotations

from topnet.callbacks.base import Callback
from topnet.callbacks.state import TrainState

__all__ = ["StopFlag"]


class StopFlag(Callback):
    """Records ``state.stop_training`` at the end of each ``fit`` it takes part in.

    A training split in two ``fit`` calls (a subset's epochs, then all rows) runs the second
    only when no callback (a pruner, a deadline, ``TerminateOnNaN``) stopped the first.

    Example:
        >>> import torch
        >>> flag, state = StopFlag(), TrainState(model=torch.nn.Linear(1, 1), epochs=2)
        >>> state.stop_training = True
        >>> flag.on_fit_end(state)
        >>> flag.stopped
        True
    """

    def __init__(self) -> None:
        self.stopped = False

    def on_fit_end(self, state: TrainState) -> None:
        self.stopped = bool(state.stop_training)

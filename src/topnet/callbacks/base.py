"""The ``Callback`` base class and the hook order.

``fit`` calls the hooks of every callback, in the order the callbacks were given, at these
points and no others (``train/loop.py`` is their only caller):

    on_fit_begin(state)          once, before the first epoch; may set state.epoch to resume
    for each epoch:
        on_epoch_begin(state)
        for each batch:
            on_batch_begin(state)
            (forward, loss, backward)
            on_after_backward(state) gradients exist; state.loss is set; clipping comes after
            (gradient clipping, optimizer.step())
            on_batch_end(state)
        (validation)
        on_epoch_end(state)      state.logs holds the epoch's metrics, val_ ones included
    on_fit_end(state)            always, also after an exception (called from ``finally``)

In data-parallel training every process runs the callbacks on the same (all-reduced) logs, so
they decide alike; those with ``main_process_only = True`` (file writers, progress bars) run
on rank 0 alone.

Callbacks stop training only by setting ``state.stop_training = True``; the loop checks it
after ``on_batch_end`` and after ``on_epoch_end``. A callback whose progress must survive a
killed run (patience counters, best values) returns it from ``state_dict`` and takes it back
in ``load_state_dict``; ``BackupAndRestore`` saves these for every callback.
"""
from __future__ import annotations

from typing import Any

from topnet.callbacks.state import TrainState

__all__ = ["Callback", "HOOKS"]

HOOKS = (
    "on_fit_begin",
    "on_epoch_begin",
    "on_batch_begin",
    "on_after_backward",
    "on_batch_end",
    "on_epoch_end",
    "on_fit_end",
)


class Callback:
    """Base class of all callbacks: every hook is a no-op; override the ones you need.

    Example:
        >>> class PrintEpoch(Callback):
        ...     def on_epoch_end(self, state):
        ...         print(state.epoch, round(state.logs["loss"], 2))
    """

    #: In data-parallel training, run only on rank 0 (callbacks that write files or print).
    main_process_only: bool = False

    def on_fit_begin(self, state: TrainState) -> None:
        """Called once before the first epoch."""

    def on_epoch_begin(self, state: TrainState) -> None:
        """Called at the start of each epoch."""

    def on_batch_begin(self, state: TrainState) -> None:
        """Called before each training batch's forward pass."""

    def on_after_backward(self, state: TrainState) -> None:
        """Called after ``loss.backward()``, before clipping and ``optimizer.step()``."""

    def on_batch_end(self, state: TrainState) -> None:
        """Called after each optimizer step."""

    def on_epoch_end(self, state: TrainState) -> None:
        """Called after validation, with the epoch's metrics in ``state.logs``."""

    def on_fit_end(self, state: TrainState) -> None:
        """Called once at the end, also when training stopped with an exception."""

    def state_dict(self) -> dict[str, Any]:
        """What this callback needs to continue a killed run (tensors, numbers, strings, lists)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Take back what ``state_dict`` returned."""

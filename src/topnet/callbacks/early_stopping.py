"""``EarlyStopping``: stop training when a monitored metric has stopped improving."""
from __future__ import annotations

from typing import Any

import torch

from topnet.callbacks._monitor import Monitor
from topnet.callbacks.base import Callback
from topnet.callbacks.state import TrainState
from topnet.errors import format_message

__all__ = ["EarlyStopping"]


def _cpu_copy(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    # A deep copy on the host: later optimizer steps must not change it, and it must not hold
    # accelerator memory for the rest of the run.
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


class EarlyStopping(Callback):
    """Stop training when ``monitor`` has not improved for ``patience`` epochs (Keras 3 rules).

    At each epoch end from ``start_from_epoch`` on, the wait counter goes up by one; a value
    better than the best so far by more than ``min_delta`` becomes the new best, and resets the
    counter if it also beats ``baseline`` (when one is given). Otherwise, when the counter has
    reached ``patience`` (and the epoch is not the first), training stops. The first monitored
    value is always the first best, so with a ``baseline`` that is never beaten, training runs
    ``patience`` epochs past the last improvement of the best value.

    With ``restore_best_weights=True`` a host copy of the weights of the best epoch is kept,
    and put back into the model at ``on_fit_end`` — also when training ran to the last epoch
    without stopping early (as Keras 3 does), and also when it ended with an exception.

    Differences from Keras: a monitor missing from the logs raises ``ValueError`` at the first
    epoch end (Keras warns and does nothing); an unknown ``mode`` raises ``ValueError`` (Keras
    warns and uses ``"auto"``); ``"auto"`` infers the direction from the name (see
    ``_monitor.py``). ``on_fit_begin`` resets the counters, as Keras's ``on_train_begin`` does;
    ``state_dict`` holds them (and the best weights) for ``BackupAndRestore``, which loads them
    after every ``on_fit_begin`` has run.

    Args:
        monitor: the log name to watch.
        min_delta: the smallest change that counts as an improvement (its absolute value).
        patience: epochs without improvement after which training stops.
        verbose: 1 prints when it stops and when it restores weights.
        mode: ``"auto"``, ``"min"`` or ``"max"``.
        baseline: a value the monitored quantity must beat for the counter to reset.
        restore_best_weights: put the weights of the best epoch back at the end.
        start_from_epoch: epochs (0-based indices below this) that are not monitored (warm-up).

    Attributes:
        wait: epochs counted since the last improvement that beat the baseline.
        best: the best monitored value (None before the first one).
        best_epoch: the 0-based epoch of ``best``.
        stopped_epoch: the 0-based epoch at which it stopped training (0 when it did not).
        best_weights: the host copy of the best epoch's state dict (or None).

    Raises:
        ValueError: a bad ``mode``, ``patience`` or ``start_from_epoch``; at the first epoch end,
            ``monitor`` missing from the logs.

    Example:
        >>> import torch
        >>> from topnet.callbacks.state import TrainState
        >>> stopper = EarlyStopping(monitor="val_loss", patience=1)
        >>> state = TrainState(model=torch.nn.Linear(1, 1))
        >>> stopper.on_fit_begin(state)
        >>> for epoch, value in enumerate([0.5, 0.4, 0.45, 0.3]):
        ...     state.epoch, state.logs = epoch, {"val_loss": value}
        ...     stopper.on_epoch_end(state)
        ...     if state.stop_training:
        ...         break
        >>> stopper.stopped_epoch, stopper.best
        (2, 0.4)
    """

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0, patience: int = 0, verbose: int = 0,
                 mode: str = "auto", baseline: float | None = None, restore_best_weights: bool = False,
                 start_from_epoch: int = 0):
        for name, value in (("patience", patience), ("start_from_epoch", start_from_epoch)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(format_message(f"EarlyStopping {name}", value, "an int >= 0"))
        self._monitor = Monitor(monitor, mode, min_delta, owner="EarlyStopping")
        self.monitor = monitor
        self.min_delta = abs(min_delta)
        self.patience = patience
        self.verbose = verbose
        self.mode = mode
        self.baseline = None if baseline is None else float(baseline)
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        self._reset()

    def _reset(self) -> None:
        self.wait = 0
        self.best: float | None = None
        self.best_epoch = 0
        self.stopped_epoch = 0
        self.best_weights: dict[str, torch.Tensor] | None = None

    def on_fit_begin(self, state: TrainState) -> None:
        self._reset()  # instances can be re-used; BackupAndRestore loads a resumed run's state after this

    def on_epoch_end(self, state: TrainState) -> None:
        current = self._monitor.get(state.logs)
        epoch = state.epoch
        if epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights, self.best_epoch = _cpu_copy(state.model), epoch
        self.wait += 1
        if self._monitor.is_improvement(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = _cpu_copy(state.model)
            if self.baseline is None or self._monitor.is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            state.stop_training = True

    def on_fit_end(self, state: TrainState) -> None:
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            state.model.load_state_dict(self.best_weights)

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"wait": self.wait, "best_epoch": self.best_epoch,
                                 "stopped_epoch": self.stopped_epoch}
        if self.best is not None:
            state["best"] = self.best
        if self.best_weights is not None:
            state["best_weights"] = dict(self.best_weights)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.wait = int(state["wait"])
        self.best_epoch = int(state["best_epoch"])
        self.stopped_epoch = int(state["stopped_epoch"])
        self.best = float(state["best"]) if "best" in state else None
        weights = state.get("best_weights")
        self.best_weights = None if weights is None else {k: v.detach().to("cpu", copy=True)
                                                          for k, v in weights.items()}

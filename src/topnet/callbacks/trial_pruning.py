"""``PruningCallback``: report the validation metric to an Optuna trial each epoch, stop when pruned.

The callback protocol stops training only through ``state.stop_training``, so the callback
does not raise from inside ``fit``: at an epoch end it reports ``logs[monitor]`` as the trial's
intermediate value for that epoch, asks the pruner, and when told to prune sets
``stop_training`` and remembers it. ``fit`` then ends normally (every callback's
``on_fit_end`` runs, the best weights are restored, logs are closed), and the objective calls
`raise_if_pruned`, which raises ``optuna.TrialPruned`` so Optuna records the trial as PRUNED.
"""
from __future__ import annotations

import math
from typing import Any

from topnet.callbacks.base import Callback
from topnet.callbacks.state import TrainState
from topnet.errors import format_message

__all__ = ["PruningCallback"]


class PruningCallback(Callback):
    """Report ``monitor`` to ``trial`` at each epoch end and stop training when the pruner says so.

    An epoch cut short by another callback (a wall-time deadline or ``TerminateOnNaN`` set
    ``stop_training`` during its batches) is not reported: its value would mislead the pruner
    about the other trials. A NaN value is reported as the worst value of the study's direction.
    The last epoch is reported but never pruned: its training is paid for, and a pruned trial's
    result would be thrown away (seen in the B3 benchmark: whole trials pruned after their end).

    Args:
        trial: an ``optuna.trial.Trial`` (anything with ``report`` and ``should_prune``).
        monitor: the log to report, e.g. ``"val_accuracy"``.
        step_offset: added to ``state.epoch`` to give the reported step.

    Attributes:
        pruned: True once the pruner has pruned the trial.
        pruned_epoch: the epoch at which it was pruned (None if not).
        reported: the values reported, one per reported epoch.

    Raises:
        ValueError: ``monitor`` is not in the logs at an epoch end (lists the ones that are).

    Example:
        >>> import torch
        >>> class AlwaysPrune:
        ...     def report(self, value, step): pass
        ...     def should_prune(self): return True
        >>> callback = PruningCallback(AlwaysPrune(), "val_loss")
        >>> state = TrainState(model=torch.nn.Linear(1, 1), epochs=3)
        >>> state.logs = {"val_loss": 0.7}
        >>> callback.on_epoch_end(state)
        >>> callback.pruned, state.stop_training
        (True, True)
    """

    def __init__(self, trial: Any, monitor: str = "val_accuracy", step_offset: int = 0):
        self.trial = trial
        self.monitor = monitor
        self.step_offset = step_offset
        self.pruned = False
        self.pruned_epoch: int | None = None
        self.reported: list[float] = []

    def on_epoch_end(self, state: TrainState) -> None:
        if state.stop_training:  # cut short during the epoch's batches (deadline, NaN loss)
            return
        if self.monitor not in state.logs:
            raise ValueError(format_message("PruningCallback monitor", self.monitor,
                                            f"a key of the logs: {sorted(state.logs)}",
                                            "pass validation data for val_ metrics"))
        value = float(state.logs[self.monitor])
        if math.isnan(value):
            value = _worst(self.trial)
        self.trial.report(value, step=state.epoch + self.step_offset)
        self.reported.append(value)
        if state.epoch + 1 >= state.epochs:  # the last epoch: its work is done, so the trial completes
            return
        if self.trial.should_prune():
            self.pruned, self.pruned_epoch = True, state.epoch
            state.stop_training = True

    def raise_if_pruned(self) -> None:
        """Raise ``optuna.TrialPruned`` when the trial was pruned (call it after ``fit`` returns)."""
        if self.pruned:
            import optuna  # only a search (topnet.tune) makes trials, and it has imported Optuna

            raise optuna.TrialPruned(f"pruned at epoch {self.pruned_epoch} ({self.monitor}={self.reported[-1]:.4g})")


def _worst(trial: Any) -> float:
    study = getattr(trial, "study", None)
    direction = getattr(getattr(study, "direction", None), "name", "MAXIMIZE")
    return -math.inf if direction == "MAXIMIZE" else math.inf

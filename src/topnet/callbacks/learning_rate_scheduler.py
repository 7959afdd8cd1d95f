"""``LearningRateScheduler``: set the learning rate (and momentum) from a function of the epoch or the step."""
from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Callable

from topnet.callbacks.base import Callback
from topnet.callbacks.state import TrainState
from topnet.errors import format_message, unknown_name

__all__ = ["LearningRateScheduler"]

_PER = ("epoch", "step")


def _takes_two_arguments(schedule: Callable) -> bool:
    """Whether ``schedule`` can be called as ``schedule(index, lr)`` (else ``schedule(index)``)."""
    try:
        signature = inspect.signature(schedule)
    except (TypeError, ValueError):  # some builtins have no signature: use Keras's form
        return True
    try:
        signature.bind(0, 0.1)
    except TypeError:
        return False
    return True


class LearningRateScheduler(Callback):
    """Set the learning rate to ``schedule(index, lr)`` (or ``schedule(index)``) before each epoch or step.

    With ``per="epoch"`` (Keras's behaviour) the schedule is called at ``on_epoch_begin`` with
    the 0-based epoch; with ``per="step"`` at ``on_batch_begin`` with ``state.step``, the
    number of optimizer steps taken so far (so the upcoming step's 0-based index). A schedule
    that accepts two positional arguments gets ``(index, current_lr)``, as in Keras; one that
    accepts one gets ``index`` alone — a pure ``step -> lr`` function. Every parameter group is
    set (``state.set_learning_rate`` keeps their ratios), and ``logs["learning_rate"]`` holds the
    rate at each epoch end.

    Differences from Keras: the arity is read from the signature instead of retrying after a
    ``TypeError`` (which would hide a ``TypeError`` raised inside the schedule); any finite real
    number ``>= 0`` is accepted (Keras wants a Python or NumPy float); ``per="step"`` is new;
    ``verbose`` prints only with ``per="epoch"``.

    With ``momentum_schedule`` (``index -> momentum``, e.g. ``one_cycle(...).momentum``), the
    momentum is set at the same moments: ``momentum`` of SGD / RMSprop groups, ``beta1`` of
    ``betas`` for the Adam family (as PyTorch's ``OneCycleLR`` does), and
    ``logs["momentum"]`` holds it at each epoch end.

    Args:
        schedule: ``(index, lr) -> lr`` or ``index -> lr``.
        verbose: 1 prints the rate set at each epoch.
        per: ``"epoch"`` or ``"step"``.
        momentum_schedule: ``index -> momentum`` in [0, 1), or None to leave momentum alone.

    Raises:
        TypeError: ``schedule`` or ``momentum_schedule`` is not callable.
        ValueError: a bad ``per``; during training, a schedule value that is not a finite
            number ``>= 0`` (the message names the epoch or step), a momentum outside [0, 1),
            or a momentum schedule for an optimizer without momentum (Adagrad, Adadelta).

    Example:
        >>> import torch
        >>> from topnet.callbacks.state import TrainState
        >>> model = torch.nn.Linear(1, 1)
        >>> state = TrainState(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
        >>> scheduler = LearningRateScheduler(lambda epoch, lr: lr if epoch < 2 else lr * 0.5)
        >>> for state.epoch in range(4):
        ...     scheduler.on_epoch_begin(state)
        >>> state.learning_rate
        0.025
    """

    def __init__(self, schedule: Callable[..., float], verbose: int = 0, per: str = "epoch",
                 momentum_schedule: Callable[[int], float] | None = None):
        if not callable(schedule):
            raise TypeError(format_message("LearningRateScheduler schedule", schedule,
                                           "a function (index, lr) -> lr or index -> lr"))
        if per not in _PER:
            raise unknown_name("LearningRateScheduler per", per, _PER)
        if momentum_schedule is not None and not callable(momentum_schedule):
            raise TypeError(format_message("LearningRateScheduler momentum_schedule", momentum_schedule,
                                           "a function index -> momentum, or None", "e.g. one_cycle(...).momentum"))
        self.schedule = schedule
        self.verbose = verbose
        self.per = per
        self.momentum_schedule = momentum_schedule
        self._two_arguments = _takes_two_arguments(schedule)

    def on_epoch_begin(self, state: TrainState) -> None:
        if self.per == "epoch":
            lr = self._apply(state, state.epoch)
            if self.verbose > 0:
                print(f"Epoch {state.epoch + 1}: LearningRateScheduler setting learning rate to {lr}.")

    def on_batch_begin(self, state: TrainState) -> None:
        if self.per == "step":
            self._apply(state, state.step)

    def on_epoch_end(self, state: TrainState) -> None:
        state.logs["learning_rate"] = state.learning_rate
        if self.momentum_schedule is not None and state.optimizer is not None:
            state.logs["momentum"] = _get_momentum(state.optimizer.param_groups[0])

    def _apply(self, state: TrainState, index: int) -> float:
        if self._two_arguments:
            lr = self.schedule(index, state.learning_rate)
        else:
            lr = self.schedule(index)
        valid = isinstance(lr, numbers.Real) and not isinstance(lr, bool) and math.isfinite(lr) and lr >= 0
        if not valid:
            raise ValueError(format_message(f"LearningRateScheduler schedule at {self.per} {index}", lr,
                                            "a finite float >= 0", "return a Python float, e.g. float(lr)"))
        lr = float(lr)
        state.set_learning_rate(lr)
        if self.momentum_schedule is not None:
            self._apply_momentum(state, index)
        return lr

    def _apply_momentum(self, state: TrainState, index: int) -> None:
        momentum = self.momentum_schedule(index)
        valid = isinstance(momentum, numbers.Real) and not isinstance(momentum, bool) and 0 <= momentum < 1
        if not valid:
            raise ValueError(format_message(f"LearningRateScheduler momentum_schedule at {self.per} {index}",
                                            momentum, "a float in [0, 1)"))
        if state.optimizer is None:
            return
        for group in state.optimizer.param_groups:
            if "betas" in group:  # Adam family: beta1 is the momentum
                group["betas"] = (float(momentum), *tuple(group["betas"])[1:])
            elif "momentum" in group:
                group["momentum"] = float(momentum)
            else:
                raise ValueError(format_message(
                    "momentum_schedule", f"an optimizer without momentum ({type(state.optimizer).__name__})",
                    "SGD, RMSprop or an Adam-family optimizer", "drop momentum_schedule or change the optimizer"))


def _get_momentum(group: dict) -> float:
    return float(group["betas"][0]) if "betas" in group else float(group.get("momentum", 0.0))

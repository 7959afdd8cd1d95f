"""``ReduceLROnPlateau``: divide the learning rate when a metric has stopped improving."""
from __future__ import annotations

import math
from typing import Any

from topnet.callbacks._monitor import Monitor
from topnet.callbacks.base import Callback
from topnet.callbacks.state import TrainState
from topnet.errors import format_message

__all__ = ["ReduceLROnPlateau"]


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` after ``patience`` epochs without improvement.

    Keras 3 rules, at each epoch end: during a cooldown the cooldown counter goes down by one
    and the wait counter is held at 0. A value better than ``best`` by more than ``min_delta``
    becomes the new best and resets the wait counter; otherwise, outside a cooldown, the wait
    counter goes up and, once it reaches ``patience``, the rate becomes
    ``max(lr * factor, min_lr)`` (only while ``lr > min_lr``), the cooldown starts
    (``cooldown`` epochs) and the wait counter resets. Every parameter group is scaled
    (``state.set_learning_rate`` keeps their ratios). ``logs["learning_rate"]`` is set to the
    rate used during the epoch that just ended (before any reduction), as in Keras.

    Differences from Keras: ``factor`` must be in ``[0, 1)`` (Keras only rejects ``>= 1``);
    ``"auto"`` infers the direction from the name for any metric (Keras's version looks only
    for ``"acc"``, so it would minimise ``val_auc``) and raises when it cannot tell; a monitor
    missing from the logs raises ``ValueError`` (Keras warns); an unknown ``mode`` raises
    (Keras warns). ``on_fit_begin`` resets the counters, as Keras's ``on_train_begin`` does;
    ``BackupAndRestore`` loads a resumed run's counters after it.

    Args:
        monitor: the log name to watch.
        factor: the multiplier applied to the rate, ``0 <= factor < 1``.
        patience: epochs without improvement before a reduction.
        verbose: 1 prints each reduction.
        mode: ``"auto"``, ``"min"`` or ``"max"``.
        min_delta: the smallest change that counts as an improvement.
        cooldown: epochs after a reduction during which no improvement is needed.
        min_lr: the rate never goes below this.

    Attributes:
        wait, cooldown_counter: the counters above.
        best: the best monitored value (``inf``/``-inf`` before the first).

    Example:
        >>> import torch
        >>> from topnet.callbacks.state import TrainState
        >>> model = torch.nn.Linear(1, 1)
        >>> state = TrainState(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=1.0))
        >>> reduce = ReduceLROnPlateau(factor=0.5, patience=1)
        >>> reduce.on_fit_begin(state)
        >>> for epoch, value in enumerate([1.0, 1.0, 1.0]):
        ...     state.epoch, state.logs = epoch, {"val_loss": value}
        ...     reduce.on_epoch_end(state)
        >>> state.learning_rate
        0.25
    """

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10, verbose: int = 0,
                 mode: str = "auto", min_delta: float = 1e-4, cooldown: int = 0, min_lr: float = 0.0):
        if not isinstance(factor, (int, float)) or not 0.0 <= factor < 1.0:
            raise ValueError(format_message("ReduceLROnPlateau factor", factor, "a number in [0, 1): new_lr = lr * factor",
                                            "try factor=0.1 or factor=0.5"))
        for name, value in (("patience", patience), ("cooldown", cooldown)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(format_message(f"ReduceLROnPlateau {name}", value, "an int >= 0"))
        if not isinstance(min_lr, (int, float)) or not math.isfinite(min_lr) or min_lr < 0:
            raise ValueError(format_message("ReduceLROnPlateau min_lr", min_lr, "a finite number >= 0"))
        self._monitor = Monitor(monitor, mode, min_delta, owner="ReduceLROnPlateau")
        self.monitor = monitor
        self.factor = float(factor)
        self.patience = patience
        self.verbose = verbose
        self.mode = mode
        self.min_delta = min_delta
        self.cooldown = cooldown
        self.min_lr = float(min_lr)
        self._reset()

    def _reset(self) -> None:
        self.wait = 0
        self.cooldown_counter = 0
        self.best = self._monitor.worst

    def in_cooldown(self) -> bool:
        """Whether a reduction happened less than ``cooldown`` epochs ago."""
        return self.cooldown_counter > 0

    def on_fit_begin(self, state: TrainState) -> None:
        self._reset()  # BackupAndRestore loads a resumed run's counters after this

    def on_epoch_end(self, state: TrainState) -> None:
        state.logs["learning_rate"] = state.learning_rate
        current = self._monitor.get(state.logs)
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._monitor.is_improvement(current, self.best):
            self.best, self.wait = current, 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                self._reduce(state)

    def _reduce(self, state: TrainState) -> None:
        old_lr = state.learning_rate
        if old_lr > self.min_lr:
            new_lr = max(old_lr * self.factor, self.min_lr)
            state.set_learning_rate(new_lr)
            if self.verbose > 0:
                print(f"Epoch {state.epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}.")
            self.cooldown_counter = self.cooldown
            self.wait = 0

    def state_dict(self) -> dict[str, Any]:
        return {"wait": self.wait, "cooldown_counter": self.cooldown_counter, "best": self.best}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.wait = int(state["wait"])
        self.cooldown_counter = int(state["cooldown_counter"])
        self.best = float(state["best"])

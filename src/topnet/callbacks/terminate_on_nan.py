"""``TerminateOnNaN``: stop training when the batch loss becomes NaN or infinite."""
from __future__ import annotations

import warnings

import torch

from topnet.callbacks.base import Callback
from topnet.callbacks.state import TrainState
from topnet.errors import NonFiniteError, format_message

__all__ = ["TerminateOnNaN"]


class TerminateOnNaN(Callback):
    """Stop training when a batch's loss (``state.loss``) is NaN or infinite.

    Reading a device tensor's value waits for the device (a host sync), which is what the
    training loop otherwise avoids. So the check is kept on the device: each batch folds "is
    this loss finite?" into a device-side record of the first bad step, and the host reads that
    record every ``check_every`` batches and at each epoch end. ``check_every=1`` (the default)
    checks every batch, as Keras does, at the cost of one sync per batch; a larger value removes
    most syncs but lets up to ``check_every - 1`` more (wasted) batches run after the first bad
    one. The recorded step and batch are always those of the first bad batch.

    When it finds one it sets ``state.stop_training``, records ``stopped_epoch``,
    ``stopped_batch`` and ``stopped_step`` (``state.epoch``, ``state.batch`` and ``state.step``
    as ``on_batch_end`` saw them for that batch), and warns with ``message`` (a
    ``RuntimeWarning``; Keras prints ``"Batch N: Invalid loss, terminating training"``). With
    ``raise_error=True`` it raises ``NonFiniteError(message)`` instead, so ``fit`` ends with
    an exception (no validation, no ``on_epoch_end``). Either way it records the place in
    ``state.extra["invalid_loss"]``: ``BackupAndRestore`` then keeps its backups (the last
    ones from before the divergence) instead of deleting them, unlike Keras.

    Args:
        check_every: batches between host reads of the device-side flag (>= 1).
        raise_error: raise instead of stopping training.

    Attributes:
        stopped_epoch, stopped_batch, stopped_step: where the first invalid loss was (None if none).
        message: the warning text (None if none).

    Example:
        >>> import torch, warnings
        >>> from topnet.callbacks.state import TrainState
        >>> callback, state = TerminateOnNaN(), TrainState(model=torch.nn.Linear(1, 1))
        >>> callback.on_epoch_begin(state)
        >>> state.loss = torch.tensor(float("nan"))
        >>> with warnings.catch_warnings(record=True):
        ...     callback.on_batch_end(state)
        >>> state.stop_training, callback.stopped_step
        (True, 0)
    """

    def __init__(self, check_every: int = 1, raise_error: bool = False):
        if not isinstance(check_every, int) or isinstance(check_every, bool) or check_every < 1:
            raise ValueError(format_message("TerminateOnNaN check_every", check_every, "an int >= 1"))
        self.check_every = check_every
        self.raise_error = raise_error
        self.stopped_epoch: int | None = None
        self.stopped_batch: int | None = None
        self.stopped_step: int | None = None
        self.message: str | None = None
        self._first_bad_step: torch.Tensor | None = None  # () long on the loss's device; -1: none yet
        self._unchecked = 0
        self._last_batch = self._last_step = 0

    def on_fit_begin(self, state: TrainState) -> None:
        self.stopped_epoch = self.stopped_batch = self.stopped_step = None
        self.message = None

    def on_epoch_begin(self, state: TrainState) -> None:
        self._first_bad_step, self._unchecked = None, 0

    def on_batch_end(self, state: TrainState) -> None:
        if state.loss is None or self.message is not None:
            return
        loss = state.loss.detach()
        bad = ~torch.isfinite(loss).all()
        if self._first_bad_step is None:
            self._first_bad_step = torch.full((), -1, dtype=torch.long, device=loss.device)
        first = self._first_bad_step
        self._first_bad_step = torch.where(bad & (first < 0), state.step, first)
        self._last_batch, self._last_step = state.batch, state.step
        self._unchecked += 1
        if self._unchecked >= self.check_every:
            self._check(state)

    def on_epoch_end(self, state: TrainState) -> None:
        if self._unchecked:
            self._check(state)

    def _check(self, state: TrainState) -> None:
        self._unchecked = 0
        step = int(self._first_bad_step.item())  # the one host sync
        if step < 0:
            return
        # Checks happen at least once per epoch, so the bad step is in this epoch, one batch per step.
        self.stopped_epoch, self.stopped_step = state.epoch, step
        self.stopped_batch = self._last_batch - (self._last_step - step)
        self.message = (f"Epoch {state.epoch + 1}, batch {self.stopped_batch} (step {step}): "
                        "invalid loss (NaN or inf), terminating training")
        state.extra["invalid_loss"] = {"epoch": state.epoch, "batch": self.stopped_batch, "step": step}
        if self.raise_error:
            raise NonFiniteError(self.message)
        state.stop_training = True
        warnings.warn(self.message, RuntimeWarning, stacklevel=2)

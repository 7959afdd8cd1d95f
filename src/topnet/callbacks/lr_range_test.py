"""``LRRangeTest``: the callback behind ``topnet.lr_find`` (the learning-rate range test).

It is not exported from ``topnet.callbacks``: ``lr_find`` builds it, runs it through ``fit``
and reads what it collected; call ``lr_find`` rather than using it directly.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from topnet.callbacks.base import Callback
from topnet.callbacks.state import TrainState

__all__ = ["LRRangeTest"]

_CHECK_EVERY = 10  # steps between host syncs: the divergence test reads losses in chunks


class LRRangeTest(Callback):
    """Set each step's rate from ``lrs``, collect the losses on the device, stop at divergence.

    The losses are read to the host every ``_CHECK_EVERY`` steps (one sync per chunk), so up to
    ``_CHECK_EVERY - 1`` steps past the divergence point run unrecorded.

    Args:
        lrs: the rate of each step, in order; training stops after the last one.
        smoothing: the moving average's weight on the past (0 = no smoothing).
        diverge_factor: divergence is a smoothed loss above this multiple of the best one.

    Attributes:
        losses: each recorded step's training-batch loss.
        smoothed: their exponential moving average, bias-corrected.
        diverged: True once the smoothed loss blew up (or became NaN/inf).

    Example:
        >>> import topnet
        >>> x, y = torch.randn(64, 4), torch.randint(0, 2, (64,))
        >>> test = LRRangeTest(np.geomspace(1e-3, 1.0, 12), smoothing=0.9, diverge_factor=4.0)
        >>> _ = topnet.fit(torch.nn.Linear(4, 2), (x, y), epochs=12, batch_size=64, optimizer="sgd",
        ...                callbacks=[test], verbose=0)
        >>> len(test.losses) == len(test.smoothed) <= 12
        True
    """

    def __init__(self, lrs: np.ndarray, smoothing: float, diverge_factor: float):
        self.lrs, self.smoothing, self.diverge_factor = lrs, smoothing, diverge_factor
        self.pending: list[torch.Tensor] = []
        self.losses: list[float] = []
        self.smoothed: list[float] = []
        self.diverged = False
        self._average, self._best = 0.0, math.inf

    def on_batch_begin(self, state: TrainState) -> None:
        state.set_learning_rate(float(self.lrs[len(self.losses) + len(self.pending)]))

    def on_after_backward(self, state: TrainState) -> None:
        self.pending.append(state.loss.detach())

    def on_batch_end(self, state: TrainState) -> None:
        taken = len(self.losses) + len(self.pending)
        if len(self.pending) >= _CHECK_EVERY or taken >= len(self.lrs):
            self._read(torch.stack(self.pending).float().cpu().tolist())  # one sync per chunk
            self.pending = []
        if self.diverged or taken >= len(self.lrs):
            state.stop_training = True

    def _read(self, values: list[float]) -> None:
        for loss in values:
            if self.diverged:
                return
            step = len(self.losses)
            self._average = self.smoothing * self._average + (1 - self.smoothing) * loss
            smoothed = self._average / (1 - self.smoothing ** (step + 1))  # bias correction
            self.losses.append(loss)
            self.smoothed.append(smoothed)
            if not math.isfinite(smoothed) or smoothed > self.diverge_factor * self._best:
                self.diverged = True
            self._best = min(self._best, smoothed)

"""``LearningRateLog``: the learning rate of every optimizer step (``History`` keeps one per epoch)."""
from __future__ import annotations

from typing import Any

from topnet.callbacks.base import Callback
from topnet.callbacks.state import TrainState

__all__ = ["LearningRateLog"]


class LearningRateLog(Callback):
    """Record the learning rate of every optimizer step, e.g. to draw a schedule's curve.

    ``History`` logs ``learning_rate`` once per epoch; a per-step schedule (1cycle, decay set
    every step) needs every step's value. The rate is read after the step, so ``rates[i]`` is
    the rate that optimizer step ``i`` (0-based, global) used. The list is in ``state_dict``:
    a run resumed by ``BackupAndRestore`` keeps the rates of the steps it already ran.

    Attributes:
        rates: one learning rate per optimizer step, in order.

    Example:
        >>> import torch, topnet
        >>> from topnet.callbacks import LearningRateScheduler
        >>> x, y = torch.randn(8, 3), torch.randint(0, 2, (8,))
        >>> log = LearningRateLog()
        >>> halve = LearningRateScheduler(lambda step: 0.1 / 2**step, per="step")
        >>> _ = topnet.fit(torch.nn.Linear(3, 2), (x, y), epochs=1, batch_size=2, optimizer="sgd",
        ...                callbacks=[halve, log], verbose=0)
        >>> log.rates
        [0.1, 0.05, 0.025, 0.0125]
    """

    def __init__(self) -> None:
        self.rates: list[float] = []

    def on_batch_end(self, state: TrainState) -> None:
        self.rates.append(state.learning_rate)

    def state_dict(self) -> dict[str, Any]:
        return {"rates": list(self.rates)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rates = [float(rate) for rate in state.get("rates", [])]

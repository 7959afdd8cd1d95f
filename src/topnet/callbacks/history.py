"""``History``: the per-epoch logs of a fit, as lists (what ``fit`` returns)."""
from __future__ import annotations

import math
from typing import Any

from topnet.callbacks.base import Callback
from topnet.callbacks.state import TrainState

__all__ = ["History"]


class History(Callback):
    """Record ``state.logs`` at every epoch end: ``history["val_loss"][i]`` is epoch ``epoch[i]``'s.

    Differences from Keras: every list stays aligned with ``epoch`` — a key that first appears
    at a later epoch (e.g. validation every other epoch) is padded with NaN for the epochs
    before it, and a key missing from one epoch gets NaN there (Keras's lists would just be
    shorter). At ``on_fit_begin`` the entries of epochs ``>= state.epoch`` are dropped, so a
    fresh fit starts empty, a fit resumed by ``BackupAndRestore`` keeps the epochs it already
    ran (restored through ``load_state_dict``), and the epochs it re-runs are not counted twice.
    The model is not given a ``history`` attribute (topnet never patches models).

    Attributes:
        history: ``{log name: [value per epoch]}`` (floats).
        epoch: the 0-based epoch indices recorded.

    Example:
        >>> import torch
        >>> from topnet.callbacks.state import TrainState
        >>> h, state = History(), TrainState(model=torch.nn.Linear(1, 1))
        >>> h.on_fit_begin(state)
        >>> for epoch, loss in enumerate([0.5, 0.25]):
        ...     state.epoch, state.logs = epoch, {"loss": loss}
        ...     h.on_epoch_end(state)
        >>> h.history, h.epoch
        ({'loss': [0.5, 0.25]}, [0, 1])
    """

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def on_fit_begin(self, state: TrainState) -> None:
        keep = [i for i, e in enumerate(self.epoch) if e < state.epoch]
        self.epoch = [self.epoch[i] for i in keep]
        self.history = {k: [v[i] for i in keep] for k, v in self.history.items()}

    def on_epoch_end(self, state: TrainState) -> None:
        seen = len(self.epoch)
        self.epoch.append(state.epoch)
        for key, value in state.logs.items():
            self.history.setdefault(key, [math.nan] * seen).append(float(value))
        for values in self.history.values():
            if len(values) == seen:  # a key this epoch did not log
                values.append(math.nan)

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": list(self.epoch), "history": {k: list(v) for k, v in self.history.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch = [int(e) for e in state.get("epoch", [])]
        self.history = {k: [float(x) for x in v] for k, v in state.get("history", {}).items()}

    def __repr__(self) -> str:
        last = {k: round(v[-1], 4) for k, v in self.history.items() if v}
        return f"History(epochs={len(self.epoch)}, keys={list(self.history)}, last={last})"

"""``Pruning``: magnitude pruning of the weights while training (not the pruning of search trials).

The masks live in ``topnet.nn.weight_masks`` (the one-shot `prune` in ``topnet.train.pruning``);
this callback schedules them.
"""
from __future__ import annotations

from typing import Any

import torch

from topnet.callbacks.base import Callback
from topnet.callbacks.state import TrainState
from topnet.errors import format_message
from topnet.nn.weight_masks import (DEFAULT_MODULES, apply_masks, check_sparsity, magnitude_masks, prunable_weights,
                                    sparsity)

__all__ = ["Pruning"]


class Pruning(Callback):
    """Prune gradually during training, to ``final_sparsity`` at ``end_step`` (Zhu & Gupta 2017).

    Every ``frequency`` steps from ``start_step`` to ``end_step`` the weights are re-ranked and
    pruned to ``final + (initial - final) * (1 - progress)**power`` (TF-MOT's polynomial
    decay); after every optimizer step the masks are applied again, so pruned weights stay zero
    whatever the optimizer's momentum does. The target is a pure function of the step, and the
    masks are in ``state_dict``, so ``BackupAndRestore`` resumes a pruning run exactly.
    ``logs["sparsity"]`` holds the actual total sparsity at each epoch end.

    Args:
        final_sparsity: the fraction of weights zeroed from ``end_step`` on.
        initial_sparsity: the fraction pruned at ``start_step``.
        start_step: the first pruning step (global optimizer steps).
        end_step: the step at which ``final_sparsity`` is reached; None: the fit's last step.
            End it earlier to let the network recover before training stops.
        frequency: steps between re-rankings (TF-MOT's default is 100).
        power: the polynomial's exponent (3: prune fast first, then slowly).
        scope: ``"global"`` or ``"layer"``, as in `prune`.
        modules: the layer types to prune.

    Example:
        >>> import topnet
        >>> model = torch.nn.Linear(8, 2)
        >>> x, y = torch.randn(32, 8), torch.randint(0, 2, (32,))
        >>> _ = topnet.fit(model, (x, y), epochs=2, callbacks=[Pruning(0.75, frequency=1)], verbose=0)
        >>> sparsity(model)["total"]
        0.75
    """

    def __init__(self, final_sparsity: float = 0.5, initial_sparsity: float = 0.0, start_step: int = 0,
                 end_step: int | None = None, frequency: int = 100, power: float = 3.0, scope: str = "global",
                 modules: tuple[type, ...] = DEFAULT_MODULES):
        check_sparsity(final_sparsity, scope)
        check_sparsity(initial_sparsity, scope)
        for name, value in (("start_step", start_step), ("frequency", frequency)):
            if isinstance(value, bool) or not isinstance(value, int) or value < (name == "frequency"):
                raise ValueError(format_message(name, value, "a positive int" if name == "frequency" else "an int >= 0"))
        if end_step is not None and (not isinstance(end_step, int) or end_step <= start_step):
            raise ValueError(format_message("end_step", end_step, f"None or an int > start_step={start_step}"))
        self.final_sparsity = final_sparsity
        self.initial_sparsity = initial_sparsity
        self.start_step = start_step
        self.end_step = end_step
        self.frequency = frequency
        self.power = power
        self.scope = scope
        self.modules = modules
        self.masks: dict[str, torch.Tensor] = {}

    def target(self, step: int, end_step: int) -> float:
        """The sparsity scheduled at ``step`` (0 before ``start_step``)."""
        if step < self.start_step:
            return 0.0
        progress = min((step - self.start_step) / max(end_step - self.start_step, 1), 1.0)
        return self.final_sparsity + (self.initial_sparsity - self.final_sparsity) * (1.0 - progress) ** self.power

    def on_batch_end(self, state: TrainState) -> None:
        end = self.end_step if self.end_step is not None else state.epochs * state.steps_per_epoch
        step = state.step  # steps taken, this one included
        if self.start_step <= step <= end and ((step - self.start_step) % self.frequency == 0 or step == end):
            weights = prunable_weights(state.model, self.modules)
            self.masks = magnitude_masks(weights, self.target(step, end), self.scope)
        apply_masks(state.model, self.masks)

    def on_epoch_end(self, state: TrainState) -> None:
        state.logs["sparsity"] = sparsity(state.model, self.modules)["total"]

    def state_dict(self) -> dict[str, Any]:
        return {"masks": {name: mask.cpu() for name, mask in self.masks.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.masks = dict(state.get("masks", {}))

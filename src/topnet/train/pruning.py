"""Magnitude pruning after training: zero the smallest weights once (`prune`) and compare the
metrics before and after (`pruning_report`).

Géron (ch. 11) suggests zeroing tiny weights after training, or TF-MOT's pruning during
training; topnet does both on plain modules. The masks and ``sparsity`` live in
``topnet/nn/weight_masks.py`` (re-exported here); the callback that prunes gradually while
training, ``Pruning``, in ``topnet/callbacks/weight_pruning.py``. Zeros only save memory or time
with a sparse format or kernel; here they measure how much of the network the task needs.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from topnet.nn.weight_masks import (DEFAULT_MODULES, apply_masks, check_sparsity, magnitude_masks, prunable_weights,
                                    sparsity)
from topnet.train.loop import evaluate

__all__ = ["prune", "apply_masks", "sparsity", "PruningReport", "pruning_report"]


def prune(model: nn.Module, sparsity: float, scope: str = "global",
          modules: tuple[type, ...] = DEFAULT_MODULES) -> dict[str, torch.Tensor]:
    """Zero the smallest-magnitude weights of ``model`` in place, to exactly ``sparsity``.

    Args:
        model: the model; the weights of its ``modules`` are pruned (biases and BN are not).
        sparsity: the fraction of those weights to zero (``round(sparsity * count)`` of them).
        scope: ``"global"`` ranks all weights together (layers with small weights lose more;
            a layer can be emptied); ``"layer"`` prunes each layer to ``sparsity``.
        modules: the layer types to prune.

    Returns:
        ``{"<module>.weight": mask}``, boolean masks (True = kept) for `apply_masks`.

    Raises:
        ValueError: ``sparsity`` outside [0, 1), an unknown scope, no matching layer.

    Example:
        >>> layer = nn.Linear(4, 2)
        >>> masks = prune(layer, 0.5)
        >>> int(masks["weight"].sum()), sparsity(layer)["total"]
        (4, 0.5)
    """
    check_sparsity(sparsity, scope)
    weights = prunable_weights(model, modules)
    masks = magnitude_masks(weights, sparsity, scope)
    apply_masks(model, masks)
    return masks


@dataclass(frozen=True)
class PruningReport:
    """Sparsity of a pruned model and its metrics before and after pruning."""

    sparsity: dict[str, float]
    before: dict[str, float]
    after: dict[str, float]

    @property
    def change(self) -> dict[str, float]:
        """``after - before`` for each metric both have (accuracy: negative = the cost)."""
        return {key: self.after[key] - self.before[key] for key in self.after if key in self.before}

    def __str__(self) -> str:
        rows = [f"sparsity {self.sparsity['total']:.1%}"]
        rows += [f"{key}: {self.before[key]:.4f} -> {self.after[key]:.4f} ({value:+.4f})" for key, value in self.change.items()]
        return "\n".join(rows)


def pruning_report(model: nn.Module, data: Any, before: dict[str, float], *, loss: Any = "cross_entropy",
                   metrics: Sequence[str] = ("accuracy",), modules: tuple[type, ...] = DEFAULT_MODULES,
                   batch_size: int = 256, device: str | torch.device = "auto") -> PruningReport:
    """Evaluate a pruned ``model`` on ``data`` and compare with ``before`` (from ``topnet.evaluate``).

    Example:
        >>> model, data = nn.Linear(4, 2), (torch.randn(20, 4), torch.randint(0, 2, (20,)))
        >>> before = evaluate(model, data, metrics=["accuracy"])
        >>> _ = prune(model, 0.5)
        >>> report = pruning_report(model, data, before)
        >>> report.sparsity["total"], sorted(report.change)
        (0.5, ['accuracy', 'loss'])
    """
    after = evaluate(model, data, loss=loss, metrics=list(metrics), batch_size=batch_size, device=device)
    return PruningReport(sparsity=sparsity(model, modules), before=dict(before), after=after)

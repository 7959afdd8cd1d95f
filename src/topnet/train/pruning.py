"""Magnitude pruning: zero the smallest weights, once (`prune`) or gradually while training (`Pruning`).

Géron (ch. 11) suggests zeroing tiny weights after training, or TF-MOT's pruning during
training; this module does both on plain modules. Masks are ordinary boolean tensors applied
with ``weight.mul_(mask)``: unlike ``torch.nn.utils.prune``, the model is not reparametrised
(no ``weight_orig``, no forward hooks), so it stays a plain module that saves and loads as usual.
Zeros only save memory or time with a sparse format or kernel; here they measure how much of the
network the task needs.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from topnet.callbacks.base import Callback
from topnet.errors import format_message, unknown_name
from topnet.train.state import TrainState

__all__ = ["prune", "apply_masks", "sparsity", "Pruning", "PruningReport", "pruning_report"]

_SCOPES = ("global", "layer")
DEFAULT_MODULES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def _weights(model: nn.Module, modules: tuple[type, ...]) -> dict[str, torch.Tensor]:
    """``{"<module>.weight": weight}`` of every module of the given types."""
    found = {f"{name}.weight" if name else "weight": m.weight for name, m in model.named_modules()
             if isinstance(m, modules) and isinstance(getattr(m, "weight", None), torch.Tensor)}
    if not found:
        raise ValueError(format_message("modules", modules, "layer types with weights present in the model",
                                        "e.g. modules=(nn.Linear, nn.Conv2d)"))
    return found


def _smallest(magnitudes: torch.Tensor, count: int) -> torch.Tensor:
    """A flat boolean mask that is False at the ``count`` smallest entries (ties: lowest index)."""
    mask = torch.ones_like(magnitudes, dtype=torch.bool)
    mask[torch.argsort(magnitudes, stable=True)[:count]] = False
    return mask


def _masks(weights: dict[str, torch.Tensor], fraction: float, scope: str) -> dict[str, torch.Tensor]:
    flat = {name: w.detach().abs().flatten() for name, w in weights.items()}
    if scope == "layer":
        return {name: _smallest(m, round(fraction * m.numel())).view_as(weights[name]) for name, m in flat.items()}
    kept = _smallest(torch.cat(list(flat.values())), round(fraction * sum(m.numel() for m in flat.values())))
    return {name: part.view_as(weights[name]) for name, part in zip(flat, kept.split([m.numel() for m in flat.values()]))}


def _check(fraction: float, scope: str) -> None:
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 <= fraction < 1:
        raise ValueError(format_message("sparsity", fraction, "a fraction of weights in [0, 1)", "e.g. 0.8"))
    if scope not in _SCOPES:
        raise unknown_name("scope", scope, _SCOPES)


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
    _check(sparsity, scope)
    weights = _weights(model, modules)
    masks = _masks(weights, sparsity, scope)
    apply_masks(model, masks)
    return masks


def apply_masks(model: nn.Module, masks: dict[str, torch.Tensor]) -> None:
    """Zero the weights where ``masks`` (from `prune`) are False."""
    with torch.no_grad():
        for name, mask in masks.items():
            model.get_parameter(name).mul_(mask)


def sparsity(model: nn.Module, modules: tuple[type, ...] = DEFAULT_MODULES) -> dict[str, float]:
    """The fraction of zero weights per layer (``"<module>.weight"``) and in all of them (``"total"``)."""
    weights = _weights(model, modules)
    zeros = {name: int((w == 0).sum()) for name, w in weights.items()}
    out = {name: zeros[name] / w.numel() for name, w in weights.items()}
    out["total"] = sum(zeros.values()) / sum(w.numel() for w in weights.values())
    return out


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
        >>> model = nn.Linear(8, 2)
        >>> x, y = torch.randn(32, 8), torch.randint(0, 2, (32,))
        >>> _ = topnet.fit(model, (x, y), epochs=2, callbacks=[Pruning(0.75, frequency=1)], verbose=0)
        >>> sparsity(model)["total"]
        0.75
    """

    def __init__(self, final_sparsity: float = 0.5, initial_sparsity: float = 0.0, start_step: int = 0,
                 end_step: int | None = None, frequency: int = 100, power: float = 3.0, scope: str = "global",
                 modules: tuple[type, ...] = DEFAULT_MODULES):
        _check(final_sparsity, scope)
        _check(initial_sparsity, scope)
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
            self.masks = _masks(_weights(state.model, self.modules), self.target(step, end), self.scope)
        apply_masks(state.model, self.masks)

    def on_epoch_end(self, state: TrainState) -> None:
        state.logs["sparsity"] = sparsity(state.model, self.modules)["total"]

    def state_dict(self) -> dict[str, Any]:
        return {"masks": {name: mask.cpu() for name, mask in self.masks.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.masks = dict(state.get("masks", {}))


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
        >>> from topnet.train.loop import evaluate
        >>> model, data = nn.Linear(4, 2), (torch.randn(20, 4), torch.randint(0, 2, (20,)))
        >>> before = evaluate(model, data, metrics=["accuracy"])
        >>> _ = prune(model, 0.5)
        >>> report = pruning_report(model, data, before)
        >>> report.sparsity["total"], sorted(report.change)
        (0.5, ['accuracy', 'loss'])
    """
    from topnet.train.loop import evaluate  # at call time: loop imports callbacks, which may import Pruning

    after = evaluate(model, data, loss=loss, metrics=list(metrics), batch_size=batch_size, device=device)
    return PruningReport(sparsity=sparsity(model, modules), before=dict(before), after=after)

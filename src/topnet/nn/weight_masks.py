"""Weight masks for magnitude pruning: rank a network's weights, zero the smallest, measure sparsity.

Masks are ordinary boolean tensors (True = kept), keyed ``"<module>.weight"`` and applied with
``weight.mul_(mask)``: unlike ``torch.nn.utils.prune``, the model is not reparametrised (no
``weight_orig``, no forward hooks), so it stays a plain module that saves and loads as usual.
The one-shot ``topnet.train.prune`` and the ``topnet.callbacks.Pruning`` callback (pruning
while training) both build on these functions.
"""
from __future__ import annotations

import torch
from torch import nn

from topnet.errors import format_message, unknown_name

__all__ = ["DEFAULT_MODULES", "prunable_weights", "magnitude_masks", "check_sparsity", "apply_masks", "sparsity"]

_SCOPES = ("global", "layer")
DEFAULT_MODULES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def prunable_weights(model: nn.Module, modules: tuple[type, ...]) -> dict[str, torch.Tensor]:
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


def magnitude_masks(weights: dict[str, torch.Tensor], fraction: float, scope: str) -> dict[str, torch.Tensor]:
    """Boolean masks (True = kept) that drop the ``fraction`` smallest-magnitude weights, over all
    ``weights`` together (``scope="global"``) or in each one (``"layer"``)."""
    flat = {name: w.detach().abs().flatten() for name, w in weights.items()}
    if scope == "layer":
        return {name: _smallest(m, round(fraction * m.numel())).view_as(weights[name]) for name, m in flat.items()}
    kept = _smallest(torch.cat(list(flat.values())), round(fraction * sum(m.numel() for m in flat.values())))
    return {name: part.view_as(weights[name]) for name, part in zip(flat, kept.split([m.numel() for m in flat.values()]))}


def check_sparsity(fraction: float, scope: str) -> None:
    """Raise ValueError for a fraction outside [0, 1) or a scope other than ``"global"``/``"layer"``."""
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 <= fraction < 1:
        raise ValueError(format_message("sparsity", fraction, "a fraction of weights in [0, 1)", "e.g. 0.8"))
    if scope not in _SCOPES:
        raise unknown_name("scope", scope, _SCOPES)


def apply_masks(model: nn.Module, masks: dict[str, torch.Tensor]) -> None:
    """Zero the weights where ``masks`` (from `magnitude_masks` or ``topnet.train.prune``) are False.

    Example:
        >>> layer = nn.Linear(2, 1)
        >>> apply_masks(layer, {"weight": torch.tensor([[True, False]])})
        >>> (layer.weight == 0).tolist()
        [[False, True]]
    """
    with torch.no_grad():
        for name, mask in masks.items():
            model.get_parameter(name).mul_(mask)


def sparsity(model: nn.Module, modules: tuple[type, ...] = DEFAULT_MODULES) -> dict[str, float]:
    """The fraction of zero weights per layer (``"<module>.weight"``) and in all of them (``"total"``)."""
    weights = prunable_weights(model, modules)
    zeros = {name: int((w == 0).sum()) for name, w in weights.items()}
    out = {name: zeros[name] / w.numel() for name, w in weights.items()}
    out["total"] = sum(zeros.values()) / sum(w.numel() for w in weights.values())
    return out

"""Fold BatchNorm into the layer before it, for faster inference.

In eval mode a BatchNorm is a fixed per-channel affine map, ``y = (x - mean) / sqrt(var + eps)
* gamma + beta``; when ``x`` is the output of a convolution or a Linear layer and nothing else
reads it, the map can be folded into that layer's weights and bias, and the BatchNorm dropped.
The folded model computes the same function (up to float rounding) with one layer less per pair.

What is folded: a ``Conv1d/2d/3d``, ``ConvTranspose1d/2d/3d`` (groups=1) or ``Linear`` whose
output goes only to a ``BatchNorm1d/2d/3d`` with running statistics and a matching number of
features, where each of the two modules is called once. The pairs are found from a
``torch.fx`` trace of the model (any graph: residual blocks, several inputs, custom modules);
when fx cannot trace the model (data-dependent control flow, ...), from consecutive children
of every ``nn.Sequential``. Not folded: BatchNorm before a layer, BatchNorm after an activation
or any other operation, a layer whose output is also used elsewhere, shared layers.
A ``Linear`` is assumed to give ``(batch, features)`` outputs, as a BatchNorm1d after it needs.
"""
from __future__ import annotations

import copy
import inspect
from collections import Counter

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.conv import _ConvTransposeNd
from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval

__all__ = ["fold_batchnorm", "foldable_pairs"]

_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d, nn.Linear)


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """A copy of ``model`` in eval mode with each layer→BatchNorm pair fused into one layer.

    The fused layer takes the layer's place (a convolution without bias gets one) and the
    BatchNorm's place holds an ``nn.Identity``, so the model's class, ``forward`` and the
    names of its other modules stay the same. The original model is not changed. The copy
    matches the original in eval mode only: it must not be trained further as a BN model.

    Args:
        model: any ``torch.nn.Module`` (see the module docstring for what is folded).

    Returns:
        The folded copy, in eval mode.

    Example:
        >>> net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU())
        >>> folded = fold_batchnorm(net)
        >>> [type(m).__name__ for m in folded]
        ['Conv2d', 'Identity', 'ReLU']
        >>> x = torch.randn(2, 3, 8, 8)
        >>> torch.allclose(net.eval()(x), folded(x), atol=1e-5)
        True
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"fold_batchnorm: got {type(model).__name__}; expected a torch.nn.Module")
    folded = copy.deepcopy(model).eval()
    for layer_name, norm_name in foldable_pairs(folded):
        layer, norm = folded.get_submodule(layer_name), folded.get_submodule(norm_name)
        if isinstance(layer, nn.Linear):
            fused = fuse_linear_bn_eval(layer, norm)
        else:
            fused = fuse_conv_bn_eval(layer, norm, transpose=isinstance(layer, _ConvTransposeNd))
        folded.set_submodule(layer_name, fused)
        folded.set_submodule(norm_name, nn.Identity())
    return folded


def foldable_pairs(model: nn.Module) -> list[tuple[str, str]]:
    """The ``(layer name, BatchNorm name)`` pairs that ``fold_batchnorm`` would fuse, in order.

    Example:
        >>> foldable_pairs(nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.BatchNorm1d(8)))
        [('0', '1')]
    """
    try:
        return _traced_pairs(model)
    except Exception:  # noqa: BLE001  fx fails in many ways (control flow, non-tensor arguments, ...)
        return _sequential_pairs(model)


def _can_fuse(layer: nn.Module, norm: nn.Module) -> bool:
    if not isinstance(layer, _LAYERS) or not isinstance(norm, _BatchNorm):
        return False
    if norm.running_mean is None or norm.running_var is None:  # track_running_stats=False
        return False
    if isinstance(layer, _ConvTransposeNd) and layer.groups != 1:
        return False  # torch's fusion reshapes transposed weights for groups=1 only
    features = layer.out_features if isinstance(layer, nn.Linear) else layer.out_channels
    return norm.num_features == features and layer.weight.is_floating_point()


def _trace(model: nn.Module) -> torch.fx.Graph:
    """An fx graph of ``model`` with its defaulted ``forward`` arguments fixed to their defaults."""
    parameters = inspect.signature(model.forward).parameters.values()
    concrete = {p.name: p.default for p in parameters
                if p.default is not p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    return torch.fx.symbolic_trace(model, concrete_args=concrete or None).graph


def _traced_pairs(model: nn.Module) -> list[tuple[str, str]]:
    graph = _trace(model)
    modules = dict(model.named_modules())
    calls = Counter(node.target for node in graph.nodes if node.op == "call_module")
    pairs = []
    for node in graph.nodes:
        if node.op != "call_module" or len(node.args) != 1 or node.kwargs:
            continue
        source = node.args[0]
        if not isinstance(source, torch.fx.Node) or source.op != "call_module" or len(source.users) != 1:
            continue
        if calls[source.target] == calls[node.target] == 1 and _can_fuse(modules[source.target], modules[node.target]):
            pairs.append((source.target, node.target))
    return pairs


def _sequential_pairs(model: nn.Module) -> list[tuple[str, str]]:
    registered = Counter(id(m) for _, m in model.named_modules(remove_duplicate=False))
    pairs = []
    for prefix, container in model.named_modules():
        if not isinstance(container, nn.Sequential):
            continue
        children = list(container.named_children())
        for (a_name, a), (b_name, b) in zip(children, children[1:]):
            if registered[id(a)] == registered[id(b)] == 1 and _can_fuse(a, b):
                pairs.append((f"{prefix}.{a_name}" if prefix else a_name, f"{prefix}.{b_name}" if prefix else b_name))
    return pairs

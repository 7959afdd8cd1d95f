"""Transfer learning: clone a model, freeze and unfreeze layers, reuse it under a new head,
and give its parts different learning rates.

Géron's recipe (ch. 11): clone model A (training the reused layers would otherwise change A
too), replace its output layer for task B, freeze the reused layers for a few epochs so the new
head's large early gradients don't wreck them, then unfreeze and fine-tune with a lower learning
rate. ``param_groups`` gives the lower layers a smaller learning rate than the head
(discriminative learning rates) in one optimizer.

Freezing sets ``requires_grad=False``: those parameters get no gradient, and torch optimizers
leave a parameter without a gradient alone, so ``topnet.fit`` can build its optimizer from
``model.parameters()`` as usual. A frozen BatchNorm still updates its running statistics in
train mode (unlike Keras, where ``trainable=False`` also puts it in inference mode).
"""
from __future__ import annotations

import copy
import warnings
from collections.abc import Mapping, Sequence

import torch
from torch import nn

from topnet.errors import format_message

__all__ = ["clone_model", "freeze", "unfreeze", "replace_head", "param_groups"]


def clone_model(model: nn.Module, copy_weights: bool = True) -> nn.Module:
    """A deep copy of ``model``; with ``copy_weights=False`` its parameters are re-initialised.

    Re-initialisation calls each module's ``reset_parameters()`` (every torch layer has one;
    BatchNorm's also resets its running statistics). A module holding parameters of its own
    without ``reset_parameters`` keeps copied values, with a warning naming it.

    Example:
        >>> a = nn.Linear(3, 2)
        >>> b = clone_model(a, copy_weights=False)
        >>> b is not a and b.weight.shape == a.weight.shape and not torch.equal(a.weight, b.weight)
        True
    """
    from topnet.nn.models import _CONFIGS, config_of

    clone = copy.deepcopy(model)
    config = config_of(model)
    if config is not None:  # so topnet.io.save_model can rebuild the clone too
        _CONFIGS[clone] = config
    if copy_weights:
        return clone
    kept = []
    for name, module in clone.named_modules():
        if callable(getattr(module, "reset_parameters", None)):
            module.reset_parameters()
        elif next(module.parameters(recurse=False), None) is not None:
            kept.append(name or type(module).__name__)
    if kept:
        warnings.warn(f"clone_model: {kept} hold parameters but have no reset_parameters(); their values were "
                      "copied, not re-initialised; give those modules a reset_parameters method", UserWarning, stacklevel=2)
    return clone


def _modules_before(module: nn.Module, up_to: str | int | None) -> list[nn.Module]:
    if up_to is None:
        return [module]
    names = [name for name, _ in module.named_children()]
    if isinstance(up_to, bool) or not isinstance(up_to, (str, int)):
        raise TypeError(format_message("up_to", up_to, "a child name (str) or a Sequential index (int)"))
    if isinstance(up_to, int):
        if not isinstance(module, nn.Sequential):
            raise TypeError(format_message("up_to", up_to, f"a child name for a {type(module).__name__}, one of {names}",
                                           "indexes are for nn.Sequential models"))
        if not -len(names) <= up_to < len(names):
            raise ValueError(format_message("up_to", up_to, f"an index in [{-len(names)}, {len(names) - 1}]"))
        up_to = names[up_to]
    if up_to not in names:
        raise ValueError(format_message("up_to", up_to, f"one of the child names {names}"))
    return [child for name, child in module.named_children()][: names.index(up_to)]


def _set_requires_grad(module: nn.Module, up_to: str | int | None, flag: bool) -> nn.Module:
    for part in _modules_before(module, up_to):
        for parameter in part.parameters():
            parameter.requires_grad_(flag)
    return module


def freeze(module: nn.Module, up_to: str | int | None = None) -> nn.Module:
    """Stop training ``module``'s parameters (``requires_grad=False``), or only those before ``up_to``.

    Args:
        module: a model or any of its parts.
        up_to: a child name, or an index for an ``nn.Sequential``: the children before it are
            frozen, it and the ones after it are not changed. None freezes everything.

    Returns:
        ``module`` (changed in place).

    Raises:
        ValueError: ``up_to`` is not a child name / index (the message lists them).

    Example:
        >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        >>> [p.requires_grad for p in freeze(net, up_to=2).parameters()]
        [False, False, True, True]
    """
    return _set_requires_grad(module, up_to, False)


def unfreeze(module: nn.Module, up_to: str | int | None = None) -> nn.Module:
    """Train ``module``'s parameters again (``requires_grad=True``); ``up_to`` as in ``freeze``.

    Example:
        >>> net = freeze(nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)))
        >>> [p.requires_grad for p in unfreeze(net).parameters()]
        [True, True, True, True]
    """
    return _set_requires_grad(module, up_to, True)


def _find_head(model: nn.Module, head_name: str | None) -> str:
    linears = [name for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    if head_name is not None:
        if head_name not in linears:
            raise ValueError(format_message("head_name", head_name, f"the name of a Linear layer, one of {linears}"))
        return head_name
    path, module = [], model
    while next(module.children(), None) is not None:  # follow the last child down to a leaf
        name, module = list(module.named_children())[-1]
        path.append(name)
    if not isinstance(module, nn.Linear):
        raise ValueError(f"replace_head: the model's last layer {'.'.join(path) or type(model).__name__!r} is a "
                         f"{type(module).__name__}, not a Linear; pass head_name= naming the Linear to replace "
                         f"(the model's Linear layers: {linears})")
    return ".".join(path)


def replace_head(model: nn.Module, num_classes: int, head_name: str | None = None) -> nn.Module:
    """Reuse all of ``model`` but its final Linear layer, under a new Linear with ``num_classes`` outputs.

    The model is deep-copied first (training the new model leaves ``model`` as it was). The
    head is the last leaf child (following the last child of each container), which must be a
    ``Linear``; for other models name it with ``head_name`` (e.g. ``"classifier.2"``).

    Returns:
        The new model: same class and ``forward``, a freshly initialised head.

    Raises:
        ValueError: no Linear head was found, or ``head_name`` is not a Linear layer;
            ``num_classes`` < 1.

    Example:
        >>> model_a = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8))
        >>> replace_head(model_a, 2)[-1]
        Linear(in_features=8, out_features=2, bias=True)
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(format_message("num_classes", num_classes, "a positive int"))
    name = _find_head(model, head_name)
    new = copy.deepcopy(model)
    old = new.get_submodule(name)
    head = nn.Linear(old.in_features, num_classes, bias=old.bias is not None,
                     device=old.weight.device, dtype=old.weight.dtype)
    new.set_submodule(name, head)
    return new


def param_groups(model: nn.Module, lrs: Mapping[str, float] | Sequence[float],
                 default_lr: float | None = None) -> list[dict]:
    """Optimizer parameter groups with a learning rate per part of ``model`` (discriminative rates).

    Args:
        model: the model.
        lrs: ``{name prefix: lr}`` — a top-level child name (``"0"``, ``"features"``) or a
            deeper prefix (``"features.3"``); a parameter takes the longest prefix matching it
            — or a list with one lr per top-level child, in order.
        default_lr: the lr of trainable parameters that no key matches.

    Returns:
        ``[{"params": [...], "lr": lr, "name": prefix}, ...]`` for ``torch.optim`` optimizers
        (or ``topnet.fit(optimizer=...)``); each trainable parameter is in exactly one group,
        frozen ones in none, empty groups are left out.

    Raises:
        ValueError: a key matching no parameter name, a list of the wrong length, or trainable
            parameters left without a learning rate when ``default_lr`` is None.

    Example:
        >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        >>> groups = param_groups(net, {"0": 1e-4, "2": 1e-3})
        >>> [(g["name"], g["lr"], len(g["params"])) for g in groups]
        [('0', 0.0001, 2), ('2', 0.001, 2)]
    """
    children = [name for name, _ in model.named_children()]
    per_child = not isinstance(lrs, Mapping)
    if per_child:
        if len(lrs) != len(children):
            raise ValueError(format_message("lrs", list(lrs), f"{len(children)} learning rates, one per child {children}",
                                            "or a dict {name prefix: lr}"))
        lrs = dict(zip(children, lrs))
    named = list(model.named_parameters())
    matches = lambda key, name: name == key or name.startswith(key + ".")  # noqa: E731
    unknown = [key for key in lrs if not any(matches(key, name) for name, _ in named)]
    if unknown and not per_child:  # in a list, children without parameters (activations) just get no group
        raise ValueError(format_message("lrs keys", unknown, f"prefixes of parameter names; top-level children: {children}"))
    groups: dict[str | None, list[torch.nn.Parameter]] = {key: [] for key in lrs}
    groups[None] = []
    for name, parameter in named:
        if parameter.requires_grad:
            keys = [key for key in lrs if matches(key, name)]
            groups[max(keys, key=len) if keys else None].append(parameter)
    if groups[None] and default_lr is None:
        left = [n for n, p in named if p.requires_grad and not any(matches(k, n) for k in lrs)]
        raise ValueError(format_message("default_lr", None,
                                        f"a learning rate for the parameters no key matches: {left[:5]}"))
    return [{"params": params, "lr": float(lrs[key] if key is not None else default_lr), "name": key or "default"}
            for key, params in groups.items() if params]

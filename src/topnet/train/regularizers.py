"""Weight penalties (L1, L2) per layer, and dropout placed after each hidden layer.

``penalty(model, {nn.Linear: l2(0.01)})`` builds the ``model -> scalar tensor`` that
``fit(penalty=...)`` adds to each training batch's loss, like Keras's ``kernel_regularizer``.
Keras's convention holds: ``l2(f)`` adds ``f * sum(w**2)`` (not half of it) and ``l1(f)`` adds
``f * sum(|w|)``. Note that L2 added to the loss is not the same as Adam's ``weight_decay``
(AdamW decouples it); with plain SGD, ``l2(f)`` equals ``weight_decay=2 * f``.

``add_dropout`` returns a copy of a sequential model with ``Dropout`` (``AlphaDropout`` for
SELU networks) after each hidden layer, never after the output layer.
"""
from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from topnet.errors import format_message, nearest

__all__ = ["L1L2", "l1", "l2", "l1_l2", "Penalty", "penalty", "add_dropout", "dropout_layers"]

DROPOUT_TYPES = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout)


@dataclass(frozen=True)
class L1L2:
    """``l1 * sum(|w|) + l2 * sum(w**2)`` of a tensor (Keras's ``L1L2``)."""

    l1: float = 0.0
    l2: float = 0.0

    def __post_init__(self):
        for name in ("l1", "l2"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise ValueError(format_message(name, value, "a factor >= 0", "e.g. l2(0.01)"))

    def __call__(self, weight: torch.Tensor) -> torch.Tensor:
        total = weight.new_zeros(())
        if self.l1:
            total = total + self.l1 * weight.abs().sum()
        if self.l2:
            total = total + self.l2 * weight.square().sum()
        return total


def l1(factor: float = 0.01) -> L1L2:
    """L1 penalty ``factor * sum(|w|)``: pushes weights to exactly zero (sparse models)."""
    return L1L2(l1=factor)


def l2(factor: float = 0.01) -> L1L2:
    """L2 penalty ``factor * sum(w**2)`` (Keras's ``l2``; no ½)."""
    return L1L2(l2=factor)


def l1_l2(l1: float = 0.01, l2: float = 0.01) -> L1L2:  # Keras's argument names
    """Both penalties: ``l1 * sum(|w|) + l2 * sum(w**2)``."""
    return L1L2(l1=l1, l2=l2)


class Penalty:
    """The sum of each regularised parameter's penalty; call it with the model.

    Built by `penalty`. ``terms`` lists ``(parameter name, regulariser)`` pairs; parameters are
    looked up by name at each call, so the penalty also works on a deep copy of the model.
    """

    def __init__(self, terms: list[tuple[str, L1L2]]):
        self.terms = terms

    def __call__(self, model: nn.Module) -> torch.Tensor:
        params = dict(model.named_parameters())
        total = None
        for name, rule in self.terms:
            term = rule(params[name])
            total = term if total is None else total + term
        return total

    def __repr__(self) -> str:
        return f"Penalty({[name for name, _ in self.terms]})"


def _owned(module: nn.Module, prefix: str, include_bias: bool, recurse: bool) -> list[str]:
    return [f"{prefix}.{name}" if prefix else name for name, p in module.named_parameters(recurse=recurse)
            if p.requires_grad and (include_bias or not name.split(".")[-1].startswith("bias"))]


def penalty(model: nn.Module, rules: Mapping[str | type, L1L2], *, include_bias: bool = False) -> Penalty:
    """A ``model -> scalar tensor`` penalising chosen layers' weights, for ``fit(penalty=...)``.

    Args:
        model: the model whose parameters are penalised.
        rules: ``{module name or module type: regulariser}``. A type applies to every module
            of that type (its own parameters); a name (as in ``model.named_modules()``) to
            that module and everything inside it. A name rule overrides a type rule.
        include_bias: penalise biases too (Keras's ``bias_regularizer``); weights only by default.

    Returns:
        A `Penalty`.

    Raises:
        ValueError: an unknown module name (with the nearest one), a type or name that
            matches no parameter, or a parameter matched by two type rules.
        TypeError: a key that is neither a string nor an ``nn.Module`` type, or a rule that
            is not callable.

    Example:
        >>> net = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1))
        >>> with torch.no_grad():
        ...     _ = net[0].weight.fill_(1.0), net[2].weight.fill_(2.0)
        >>> round(penalty(net, {nn.Linear: l2(0.5), "2": l1(0.1)})(net).item(), 4)  # 0.5*4*1 + 0.1*2*2
        2.4
    """
    if not rules:
        raise ValueError(format_message("rules", rules, "at least one {module name or type: regulariser}",
                                        "e.g. {nn.Linear: l2(0.01)}"))
    modules = dict(model.named_modules())
    by_type: dict[str, L1L2] = {}
    by_name: dict[str, L1L2] = {}
    for key, rule in rules.items():
        if not callable(rule):
            raise TypeError(format_message(f"rules[{key!r}]", rule, "a regulariser such as l2(0.01)"))
        if isinstance(key, type) and issubclass(key, nn.Module):
            names = [n for module_name, m in modules.items() if isinstance(m, key)
                     for n in _owned(m, module_name, include_bias, False)]
            target = by_type
        elif isinstance(key, str):
            if key not in modules:
                guess = nearest(key, modules)
                raise ValueError(format_message("rules", key, "a module name from model.named_modules()",
                                                f"did you mean {guess!r}?" if guess else f"names: {sorted(modules)[:20]}"))
            names, target = _owned(modules[key], key, include_bias, True), by_name
        else:
            raise TypeError(format_message("rules key", key, "a module name (str) or an nn.Module type"))
        if not names:
            raise ValueError(format_message("rules", key, "a module with trainable weights",
                                            "pass include_bias=True to penalise biases alone"))
        for name in names:
            if target is by_type and name in by_type:
                raise ValueError(f"rules: parameter {name!r} is matched by two module types; "
                                 "key the rule by module name instead")
            target[name] = rule
    merged = {**by_type, **by_name}
    order = [name for name, _ in model.named_parameters() if name in merged]
    return Penalty([(name, merged[name]) for name in order])


def dropout_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(name, module)`` of every dropout layer in ``model`` (Dropout, AlphaDropout, ...).

    Example:
        >>> dropout_layers(nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.1)))
        [('1', Dropout(p=0.1, inplace=False))]
    """
    return [(name, m) for name, m in model.named_modules() if isinstance(m, DROPOUT_TYPES)]


def _has_weights(module: nn.Module) -> bool:
    return any(True for _ in module.parameters()) and not isinstance(module, nn.modules.batchnorm._NormBase)


def add_dropout(model: nn.Sequential, rate: float, after: tuple[type, ...] | str = "hidden_linear",
                alpha: bool = False) -> nn.Sequential:
    """A copy of ``model`` with dropout after each hidden layer (never after the output layer).

    Args:
        model: an ``nn.Sequential`` (e.g. ``create_model("mlp", ...)``); it is not changed.
        rate: the dropout rate, in [0, 1).
        after: ``"hidden_linear"``: after each hidden ``nn.Linear`` layer, once its
            normalisation and activation are done (just before the next ``nn.Linear``);
            or a tuple of module types, e.g. ``(nn.ReLU, nn.SELU)``: after each of those that
            some layer with weights still follows.
        alpha: use ``nn.AlphaDropout``, which keeps SELU's self-normalisation (Géron ch. 11).

    Returns:
        A new ``nn.Sequential`` (the layers deep-copied); existing dropout layers are kept and
        none is added where one already follows.

    Raises:
        TypeError: ``model`` is not an ``nn.Sequential``, or a bad ``after``.
        ValueError: ``rate`` outside [0, 1).

    Example:
        >>> net = nn.Sequential(nn.Flatten(), nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 3))
        >>> [type(m).__name__ for m in add_dropout(net, 0.2)]
        ['Flatten', 'Linear', 'ReLU', 'Dropout', 'Linear', 'ReLU', 'Dropout', 'Linear']
    """
    if not isinstance(model, nn.Sequential):
        raise TypeError(format_message("model", type(model).__name__, "an nn.Sequential",
                                       "add nn.Dropout layers in the model's own code"))
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1:
        raise ValueError(format_message("rate", rate, "a dropout rate in [0, 1)", "e.g. 0.2"))
    layers = list(model)
    if after == "hidden_linear":
        linear = [i for i, m in enumerate(layers) if isinstance(m, nn.Linear)]
        places = {nxt - 1 for nxt in linear[1:]}  # just before each Linear but the first
    elif isinstance(after, tuple) and after and all(isinstance(t, type) and issubclass(t, nn.Module) for t in after):
        places = {i for i, m in enumerate(layers) if isinstance(m, after) and any(_has_weights(n) for n in layers[i + 1:])}
    else:
        raise TypeError(format_message("after", after, "'hidden_linear' or a tuple of nn.Module types", "e.g. (nn.ReLU,)"))
    make = nn.AlphaDropout if alpha else nn.Dropout
    out: list[nn.Module] = []
    for i, layer in enumerate(layers):
        out.append(copy.deepcopy(layer))
        following = layers[i + 1] if i + 1 < len(layers) else None
        if i in places and not isinstance(layer, DROPOUT_TYPES) and not isinstance(following, DROPOUT_TYPES):
            out.append(make(rate))
    return nn.Sequential(*out)

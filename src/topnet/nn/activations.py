"""Activations by name, with Keras's names and defaults: ``get_activation("elu", alpha=1.0)``.

Géron (ch. 11): in general SELU > ELU > leaky ReLU (and variants) > ReLU > tanh > logistic,
and ReLU is still the fastest. Builders take the activation as a string so a tuner can vary it;
``topnet.nn.initializer_for`` gives the initialisation that goes with each one.

Defaults where libraries differ:

* ``leaky_relu``: ``alpha=0.2``, as Keras 3's ``activation="leaky_relu"`` and Géron's example
  (Keras's ``LeakyReLU`` layer defaults to 0.3; PyTorch's ``nn.LeakyReLU`` to 0.01).
* ``elu``: ``alpha=1.0`` (both). ``prelu``: PyTorch's single slope starting at 0.25 (Keras
  starts one slope per unit at 0); pass ``num_parameters=channels`` for one per channel.
* ``rrelu``: slope drawn from ``[lower, upper] = [1/8, 1/3]`` in training and fixed to their
  mean in eval mode (PyTorch's defaults).
* ``gelu``: exact (``approximate="none"``), as Keras 3; ``approximate="tanh"`` is the
  cheaper form.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable

from torch import nn

from topnet.errors import format_message, unknown_name

__all__ = ["ACTIVATIONS", "get_activation"]


def _leaky_relu(alpha: float = 0.2) -> nn.Module:
    return nn.LeakyReLU(negative_slope=alpha)


def _elu(alpha: float = 1.0) -> nn.Module:
    return nn.ELU(alpha=alpha)


def _prelu(num_parameters: int = 1, init: float = 0.25) -> nn.Module:
    return nn.PReLU(num_parameters=num_parameters, init=init)


def _rrelu(lower: float = 1 / 8, upper: float = 1 / 3) -> nn.Module:
    return nn.RReLU(lower=lower, upper=upper)


def _gelu(approximate: str = "none") -> nn.Module:
    if approximate not in ("none", "tanh"):
        raise ValueError(format_message("approximate", approximate, "'none' or 'tanh'"))
    return nn.GELU(approximate=approximate)


ACTIVATIONS: dict[str, Callable[..., nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": _leaky_relu,
    "prelu": _prelu,
    "rrelu": _rrelu,
    "elu": _elu,
    "selu": nn.SELU,
    "gelu": _gelu,
    "silu": nn.SiLU,
    "swish": nn.SiLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "linear": nn.Identity,
    "identity": nn.Identity,
}


def get_activation(name: str, **kwargs: Any) -> nn.Module:
    """A new activation module for ``name``.

    Args:
        name: one of ``ACTIVATIONS``: relu, leaky_relu, prelu, rrelu, elu, selu, gelu,
            silu / swish, tanh, sigmoid, linear / identity.
        **kwargs: the activation's own settings: ``alpha`` (leaky_relu, elu),
            ``num_parameters`` and ``init`` (prelu), ``lower`` and ``upper`` (rrelu),
            ``approximate`` (gelu).

    Returns:
        A fresh ``nn.Module`` (PReLU has parameters, so modules are never shared).

    Raises:
        ValueError: an unknown name (lists the known ones, with the nearest).
        TypeError: a setting the activation does not take (lists the ones it takes).

    Example:
        >>> import torch
        >>> get_activation("leaky_relu")(torch.tensor([-1.0, 2.0])).tolist()
        [-0.20000000298023224, 2.0]
        >>> get_activation("elu", alpha=0.5)
        ELU(alpha=0.5)
    """
    if not isinstance(name, str):
        raise TypeError(format_message("activation", name, "a name such as 'relu'"))
    if name not in ACTIVATIONS:
        raise unknown_name("activation", name, ACTIVATIONS)
    factory = ACTIVATIONS[name]
    if kwargs:
        accepted = [p.name for p in inspect.signature(factory).parameters.values()
                    if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "inplace"]
        unexpected = sorted(set(kwargs) - set(accepted))
        if unexpected:
            raise TypeError(f"activation {name!r} got unexpected settings {unexpected}; "
                            f"it takes {accepted or 'none'}")
    return factory(**kwargs)

"""The model registry: ``register_model``, ``create_model``, ``list_models``, ``config_of``.

A builder is a plain function ``builder(input_shape=..., num_classes=..., **kwargs) ->
nn.Module``, registered under a name with ``@register_model(name)``. ``create_model`` records the
builder's name and arguments for each model it returns, so ``topnet.io.save_model`` can write a
config that rebuilds the model without pickle. The record is kept beside the model (a weak
reference), never on it: models stay plain modules.

The built-in builders register themselves when ``topnet.nn.models`` imports them; importing
this module runs that package ``__init__`` first, so the registry is always complete.
"""
from __future__ import annotations

import inspect
import weakref
from typing import Any, Callable

import torch

from topnet.errors import unknown_name

__all__ = ["register_model", "create_model", "list_models", "config_of", "MODELS"]

MODELS: dict[str, Callable[..., torch.nn.Module]] = {}
_CONFIGS: "weakref.WeakKeyDictionary[torch.nn.Module, dict[str, Any]]" = weakref.WeakKeyDictionary()


def register_model(name: str) -> Callable:
    """Decorator that registers a builder under ``name`` (names are unique)."""

    def decorate(builder: Callable[..., torch.nn.Module]) -> Callable[..., torch.nn.Module]:
        if name in MODELS and MODELS[name] is not builder:
            raise ValueError(f"a model builder named {name!r} is already registered ({MODELS[name].__module__})")
        MODELS[name] = builder
        return builder

    return decorate


def list_models() -> list[str]:
    """The registered builder names, sorted."""
    return sorted(MODELS)


def create_model(name: str, **kwargs: Any) -> torch.nn.Module:
    """Build the registered model ``name`` with keyword arguments.

    Args:
        name: a registered builder (see ``list_models()``).
        **kwargs: the builder's arguments, typically ``input_shape`` and ``num_classes``.

    Returns:
        A plain ``torch.nn.Module``; ``config_of(model)`` gives ``{"builder", "kwargs"}``.

    Raises:
        ValueError: unknown name (lists the registered ones).
        TypeError: an argument the builder does not take (lists the ones it takes).

    Example:
        >>> model = create_model("mlp", input_shape=(4,), num_classes=3, hidden=(8,))
        >>> config_of(model)["builder"]
        'mlp'
    """
    if name not in MODELS:
        raise unknown_name("model", name, MODELS)
    builder = MODELS[name]
    accepted = inspect.signature(builder).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in accepted.values()):
        unknown = sorted(set(kwargs) - set(accepted))
        if unknown:
            raise TypeError(f"model {name!r} got unexpected arguments {unknown}; it takes {sorted(accepted)}")
    model = builder(**kwargs)
    _CONFIGS[model] = {"builder": name, "kwargs": dict(kwargs)}
    return model


def config_of(model: torch.nn.Module) -> dict[str, Any] | None:
    """The ``{"builder", "kwargs"}`` that ``create_model`` used for ``model``, or None."""
    config = _CONFIGS.get(model)
    return None if config is None else {"builder": config["builder"], "kwargs": dict(config["kwargs"])}

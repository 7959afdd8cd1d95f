"""Optimizers by name, with defaults that train: ``get_optimizer("adam", model.parameters())``.

Each name builds the ``torch.optim`` class below with these defaults (torch's argument
names; Keras's ``learning_rate``, ``rho``, ``beta_1``, ``beta_2`` and ``epsilon`` are also
accepted). Keras 3's defaults are used where they train well, the paper's where they do not.

| name     | class    | defaults                                                         | source       |
| -------- | -------- | ---------------------------------------------------------------- | ------------ |
| sgd      | SGD      | lr=0.01, momentum=0.0, nesterov=False                            | Keras 3      |
| adagrad  | Adagrad  | lr=0.01, initial_accumulator_value=0.1, eps=1e-07                | Keras 3 [1]  |
| adadelta | Adadelta | lr=1.0, rho=0.95, eps=1e-06                                      | Zeiler [2]   |
| rmsprop  | RMSprop  | lr=0.001, alpha=0.9, eps=1e-07, momentum=0.0, centered=False     | Keras 3      |
| adam     | Adam     | lr=0.001, betas=(0.9, 0.999), eps=1e-07                          | Keras 3      |
| adamax   | Adamax   | lr=0.001, betas=(0.9, 0.999), eps=1e-07                          | Keras 3      |
| nadam    | NAdam    | lr=0.001, betas=(0.9, 0.999), eps=1e-07                          | Keras 3 [3]  |
| adamw    | AdamW    | lr=0.001, betas=(0.9, 0.999), eps=1e-07, weight_decay=0.004      | Keras 3      |

Keras's RMSprop ``rho`` is torch's ``alpha``. Sources other than Keras 3's defaults:
[1] Keras 3 gives Adagrad lr=0.001, which learns too slowly to be useful in a short run (it
did worse than plain SGD); topnet uses lr=0.01, the default of Keras 2 and torch (the
comparison: docs/measured-defaults.md).
[2] Keras 3 gives Adadelta lr=0.001 and eps=1e-07, which scales the paper's unit-free
update down 1000-fold, so it barely trains; topnet keeps the paper's lr=1.0, rho=0.95,
eps=1e-06 (the comparison: docs/measured-defaults.md).
[3] Keras 3's Nadam warms its momentum up with 0.96**step; torch keeps Dozat's slower
0.96**(0.004 * step) (``momentum_decay=0.004``, also Keras 2's), which topnet keeps.

Where torch and Keras place ``eps`` differently, the values above are Keras's magnitudes in
torch's places: RMSprop adds it inside the square root in Keras, outside in torch; Adam adds
it to the uncorrected sqrt(v) in Keras, to the bias-corrected one in torch. It matters only
while gradients are about as small as eps. SGD's momentum is equivalent to Keras's at a
fixed learning rate.
"""
from __future__ import annotations

import inspect
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import torch

from topnet.errors import format_message, unknown_name

__all__ = ["OPTIMIZERS", "OptimizerEntry", "get_optimizer"]


@dataclass(frozen=True)
class OptimizerEntry:
    """A registered optimizer: its ``torch.optim`` class and topnet's defaults for it."""

    cls: type[torch.optim.Optimizer]
    defaults: dict[str, Any] = field(default_factory=dict)


_ADAM = {"lr": 0.001, "betas": (0.9, 0.999), "eps": 1e-7}

OPTIMIZERS: dict[str, OptimizerEntry] = {
    "sgd": OptimizerEntry(torch.optim.SGD, {"lr": 0.01, "momentum": 0.0, "nesterov": False}),
    "adagrad": OptimizerEntry(torch.optim.Adagrad, {"lr": 0.01, "initial_accumulator_value": 0.1,
                                                    "eps": 1e-7}),
    "adadelta": OptimizerEntry(torch.optim.Adadelta, {"lr": 1.0, "rho": 0.95, "eps": 1e-6}),
    "rmsprop": OptimizerEntry(torch.optim.RMSprop, {"lr": 0.001, "alpha": 0.9, "eps": 1e-7,
                                                    "momentum": 0.0, "centered": False}),
    "adam": OptimizerEntry(torch.optim.Adam, dict(_ADAM)),
    "adamax": OptimizerEntry(torch.optim.Adamax, dict(_ADAM)),
    "nadam": OptimizerEntry(torch.optim.NAdam, dict(_ADAM)),
    "adamw": OptimizerEntry(torch.optim.AdamW, {**_ADAM, "weight_decay": 0.004}),
}

_KERAS_NAMES = {"learning_rate": "lr", "epsilon": "eps"}  # plus rho and beta_1/beta_2 below


def _valid_arguments(cls: type) -> tuple[list[str], bool]:
    """The keyword arguments ``cls`` takes besides ``params``, and whether it takes ``**kwargs``."""
    params = inspect.signature(cls).parameters.values()
    names = [p.name for p in params if p.name != "params" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    return names, any(p.kind is p.VAR_KEYWORD for p in params)


def _translate(cls: type, options: dict[str, Any], betas: tuple = (0.9, 0.999)) -> dict[str, Any]:
    """Rename Keras's argument names to ``cls``'s torch names, refusing both spellings at once."""
    options, (valid, _) = dict(options), _valid_arguments(cls)
    renames = {**_KERAS_NAMES, "rho": "alpha"}  # Keras's RMSprop rho is torch's alpha
    for keras_name, torch_name in renames.items():
        if keras_name in options and torch_name in valid and keras_name not in valid:
            if torch_name in options:
                raise TypeError(f"{cls.__name__}: got both {keras_name!r} and {torch_name!r}; pass one")
            options[torch_name] = options.pop(keras_name)
    if ("beta_1" in options or "beta_2" in options) and "betas" in valid and "beta_1" not in valid:
        if "betas" in options:
            raise TypeError(f"{cls.__name__}: got both 'betas' and 'beta_1'/'beta_2'; pass one")
        options["betas"] = (options.pop("beta_1", betas[0]), options.pop("beta_2", betas[1]))
    return options


def _param_list(params: Any, cls: type, options: dict[str, Any]) -> list:
    """``params`` as a list (a generator is read once), param groups translated from Keras names."""
    if isinstance(params, (torch.nn.Module, torch.Tensor)) or not isinstance(params, Iterable):
        raise TypeError(format_message("params", type(params).__name__,
                                       "an iterable of parameters or param-group dicts",
                                       "pass model.parameters()"))
    params = list(params)
    if not params:
        raise ValueError(format_message("params", "an empty list", "at least one parameter",
                                        "check that the model has trainable parameters"))
    betas = options.get("betas", (0.9, 0.999))
    return [_translate(cls, p, betas) if isinstance(p, dict) else p for p in params]


def get_optimizer(spec: str | torch.optim.Optimizer | type, params: Iterable, *, lr: float | None = None,
                  **kwargs) -> torch.optim.Optimizer:
    """Build an optimizer from a name or a ``torch.optim.Optimizer`` class, or pass one through.

    Args:
        spec: a name from ``OPTIMIZERS`` (case-insensitive); a ``torch.optim.Optimizer``
            subclass (built with ``params``, ``lr`` and ``kwargs``); or an optimizer already
            built, returned as is (``params`` is then ignored).
        params: parameters, or param-group dicts such as ``{"params": head, "lr": 1e-3}``
            for discriminative learning rates.
        lr: learning rate; the table's default when None.
        **kwargs: further arguments of the optimizer, torch's or Keras's names.

    Returns:
        The ``torch.optim.Optimizer``.

    Raises:
        ValueError: unknown name; ``lr``/kwargs with a built optimizer; ``nesterov=True``
            without momentum; empty ``params``.
        TypeError: unknown arguments (naming the valid ones); ``params`` not an iterable of
            parameters; ``spec`` of another type.

    Example:
        >>> w = torch.nn.Parameter(torch.zeros(3))
        >>> get_optimizer("rmsprop", [w], rho=0.95).defaults["alpha"]
        0.95
    """
    if isinstance(spec, torch.optim.Optimizer):
        if lr is not None or kwargs:
            raise ValueError(format_message(
                "optimizer arguments", {"lr": lr, **kwargs} if lr is not None else kwargs,
                "none with an optimizer already built", "set them when building it, or pass its name"))
        return spec
    if isinstance(spec, str):
        key = spec.strip().lower()
        if key not in OPTIMIZERS:
            raise unknown_name("optimizer", spec, OPTIMIZERS)
        cls, defaults = OPTIMIZERS[key].cls, OPTIMIZERS[key].defaults
    elif isinstance(spec, type) and issubclass(spec, torch.optim.Optimizer):
        cls, defaults = spec, {}
    else:
        raise TypeError(format_message("optimizer", type(spec).__name__,
                                       "an optimizer name, a torch.optim.Optimizer class or instance",
                                       f"try one of {sorted(OPTIMIZERS)}"))
    options = _translate(cls, kwargs, defaults.get("betas", (0.9, 0.999)))
    if lr is not None:
        if "lr" in options:
            raise TypeError(f"{cls.__name__}: got both lr and learning_rate; pass one")
        options["lr"] = lr
    valid, any_keyword = _valid_arguments(cls)
    unknown = sorted(set(options) - set(valid))
    if unknown and not any_keyword:
        hint = " (topnet clips gradients in the training loop, not in the optimizer)" if any(
            "clip" in u for u in unknown) else ""
        raise TypeError(f"{cls.__name__} got unknown arguments {unknown}{hint}; valid arguments: {valid}")
    options = {**defaults, **options}
    if options.get("nesterov") and not options.get("momentum"):
        raise ValueError(format_message("nesterov", True, "momentum > 0 (Nesterov momentum needs momentum)",
                                        "try momentum=0.9, nesterov=True"))
    return cls(_param_list(params, cls, options), **options)

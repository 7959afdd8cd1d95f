"""``call_model``: how topnet calls a model on a batch.

A single-input model takes one tensor; a multi-input model takes named inputs, a dict passed to
``forward`` as keyword arguments (``model(image=..., metadata=...)``). The training loop,
callbacks that run the model (``TensorBoard``), diagnostics and MC dropout all call models
through this one function, so they agree on the convention.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

__all__ = ["call_model"]


def call_model(model: torch.nn.Module, x: Any) -> Any:
    """Call ``model`` on one input tensor, or on named inputs as keyword arguments.

    Example:
        >>> class Sum(torch.nn.Module):
        ...     def forward(self, a, b):
        ...         return a + b
        >>> call_model(Sum(), {"a": torch.ones(2), "b": torch.ones(2)}).tolist()
        [2.0, 2.0]
        >>> call_model(torch.nn.Identity(), torch.zeros(1)).tolist()
        [0.0]
    """
    if isinstance(x, Mapping):
        return model(**x)
    return model(x)

"""``diagnose``: run a forward/backward pass (or a few) with a ``Probe`` and say what is wrong.

The readings, the findings and their thresholds are explained in ``topnet/nn/diagnosis.py``
(``Diagnosis``, ``Finding``, ``LayerStats``; re-exported here, with ``Probe`` from
``topnet/nn/probe.py``). ``topnet.callbacks.Diagnostics`` takes the same readings during
``fit`` with the same ``Probe``.
"""
from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch import nn

from topnet.data.batches import to_tensors, tree_map
from topnet.errors import format_message
from topnet.nn.call import call_model
from topnet.nn.diagnosis import Diagnosis, Finding, LayerStats
from topnet.nn.probe import Probe
from topnet.train.checks import check_finite_inputs
from topnet.train.loop import resolve_device
from topnet.train.objective import Objective, name_outputs

__all__ = ["Diagnosis", "Finding", "LayerStats", "Probe", "diagnose"]


def _unpack(data: Any) -> tuple[Any, Any]:
    if hasattr(data, "x") and hasattr(data, "y"):
        return data.x, data.y
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return data[0], data[1]
    raise TypeError(format_message("data", type(data).__name__, "a topnet.data.Dataset or an (x, y) pair"))


def diagnose(model: nn.Module, data: Any, *, loss: Any = "cross_entropy", batch_size: int = 256, num_batches: int = 1,
             device: str | torch.device = "auto", seed: int = 0) -> Diagnosis:
    """Run a forward/backward pass (or a few) with hooks and say what is wrong, in plain words.

    The first ``num_batches × batch_size`` samples are used, in train mode (BatchNorm uses
    batch statistics, dropout is on, drawn from ``seed``), as during ``fit``. The model is left
    as it was: gradients come from ``torch.autograd.grad`` (``param.grad`` is untouched),
    BatchNorm's running statistics and every module's training flag are restored, and torch's
    global RNG is unchanged.

    Args:
        model: any ``nn.Module`` returning logits (or a dict / tuple of outputs).
        data: ``(x, y)`` or a ``topnet.data.Dataset``; ``x`` may be a dict of named inputs.
        loss: as in ``fit`` (a name, a callable, or one per output).
        batch_size: samples per pass; ``num_batches``: passes (readings are averaged).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``; the model is moved there.
        seed: seeds dropout and any other randomness of the passes.

    Returns:
        A ``Diagnosis``: ``print`` it for the table and findings; ``.findings``, ``.vanishing``,
        ``.exploding``, ``.grad_norm_ratio``.

    Raises:
        ValueError: ``batch_size`` or ``num_batches`` not a positive int.
        TypeError: ``data`` is not ``(x, y)`` or a Dataset.

    Example:
        >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
        <torch._C.Generator object at ...>
        >>> layers = [m for _ in range(8) for m in (nn.Linear(16, 16), nn.Sigmoid())]
        >>> model = nn.Sequential(*layers, nn.Linear(16, 3))
        >>> result = diagnose(model, (torch.randn(64, 16), torch.randint(0, 3, (64,))), device="cpu")
        >>> result.vanishing, result.findings[0].kind
        (True, 'vanishing')
    """
    for name, value in (("batch_size", batch_size), ("num_batches", num_batches)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(format_message(name, value, "a positive int"))
    device = resolve_device(device)
    x, y = to_tensors(_unpack(data), device)
    total = check_finite_inputs(x, y, "diagnosis")
    model.to(device)
    probe, params = Probe(model), [p for p in model.parameters() if p.requires_grad]
    modes = {m: m.training for m in model.modules()}
    buffers = {name: b.detach().clone() for name, b in model.named_buffers()}
    devices = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else []
    model.train()
    try:
        with torch.random.fork_rng(devices=devices), contextlib.ExitStack() as stack:
            torch.manual_seed(seed)
            stack.callback(probe.detach)
            probe.attach()
            for index in range(min(num_batches, -(-total // batch_size))):
                rows = slice(index * batch_size, (index + 1) * batch_size)
                xb, yb = tree_map(lambda t: t[rows], x), tree_map(lambda t: t[rows], y)
                outputs = call_model(model, xb)
                value = Objective(list(name_outputs(outputs)), loss)(outputs, yb)
                grads = (torch.autograd.grad(value, params, allow_unused=True) if value.requires_grad
                         else [None] * len(params))
                probe.record_gradients(dict(zip(params, grads)))
                probe.record_loss(value)
        return probe.diagnosis()
    finally:
        with torch.no_grad():
            for name, buffer in model.named_buffers():
                buffer.copy_(buffers[name])
        for module, mode in modes.items():
            module.training = mode

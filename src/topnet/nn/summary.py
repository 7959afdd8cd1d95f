"""Keras-style model summaries and layer-graph pictures for any ``torch.nn.Module``.

``summary`` runs the model once on a small dummy batch (eval mode, no gradients; each module's
train/eval mode is restored afterwards) with forward hooks on its layers, and lists each layer
call with its output shape and parameter counts, as Keras's ``model.summary()`` does. Like
Keras, it counts BatchNorm's running mean and variance as non-trainable parameters
(``num_batches_tracked`` is not counted). A layer called twice (a shared layer) gets a row per
call, but its parameters count once in the totals. The batch dimension shows as ``None``: the
model runs on two batch sizes and every dimension that changes with the batch is a batch one.

``topnet.nn.plot.plot_model`` draws the layer graph.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from topnet.errors import format_message

__all__ = ["LayerRow", "ModelSummary", "count_params", "summary"]

_STAT_BUFFERS = ("running_mean", "running_var")  # Keras's "moving mean/variance": non-trainable


def count_params(module: nn.Module, recurse: bool = True) -> tuple[int, int]:
    """``(trainable, non_trainable)`` parameter counts, each tensor counted once.

    Non-trainable ones are parameters with ``requires_grad=False`` plus BatchNorm's running
    mean and variance buffers (Keras's convention).

    Example:
        >>> count_params(nn.BatchNorm1d(784))
        (1568, 1568)
    """
    trainable = non_trainable = 0
    for parameter in module.parameters(recurse=recurse):
        if parameter.requires_grad:
            trainable += parameter.numel()
        else:
            non_trainable += parameter.numel()
    for name, buffer in module.named_buffers(recurse=recurse):
        if name.rsplit(".", 1)[-1] in _STAT_BUFFERS and buffer is not None:
            non_trainable += buffer.numel()
    return trainable, non_trainable


@dataclass(frozen=True)
class LayerRow:
    """One call of one layer: its qualified name, class name, output shape and counts.

    ``output_shape`` is a tuple (``None`` for the batch dimension), or a list / dict of them
    for layers that return several tensors. ``call`` is 2, 3, ... for a shared layer's later calls.
    """

    name: str
    type: str
    output_shape: Any
    trainable_params: int
    non_trainable_params: int
    call: int = 1

    @property
    def params(self) -> int:
        """Trainable plus non-trainable parameters (Keras's ``Param #``)."""
        return self.trainable_params + self.non_trainable_params


@dataclass(frozen=True, repr=False)
class ModelSummary:
    """The layer table that ``summary`` returns; ``print(s)`` (or its repr) shows it as Keras does."""

    name: str
    rows: list[LayerRow]
    trainable_params: int
    non_trainable_params: int

    @property
    def total_params(self) -> int:
        """Every parameter and BatchNorm statistic of the model, each counted once."""
        return self.trainable_params + self.non_trainable_params

    def __str__(self) -> str:
        cells = [(f"{r.name} ({r.type})" + (f" [call {r.call}]" if r.call > 1 else ""),
                  _format_shape(r.output_shape), f"{r.params:,}") for r in self.rows]
        header = ("Layer (type)", "Output Shape", "Param #")
        widths = [max(len(c[i]) for c in [header, *cells]) + 3 for i in range(3)]
        line = lambda c: "".join(text.ljust(w) for text, w in zip(c, widths)).rstrip()  # noqa: E731
        rule = sum(widths)
        return "\n".join([f'Model: "{self.name}"', "_" * rule, line(header), "=" * rule,
                          *(line(c) for c in cells), "=" * rule,
                          f"Total params: {self.total_params:,}", f"Trainable params: {self.trainable_params:,}",
                          f"Non-trainable params: {self.non_trainable_params:,}", "_" * rule])

    __repr__ = __str__

    def print_summary(self, print_fn: Callable[[str], Any] = print) -> None:
        """Print the table, or pass it to ``print_fn`` (a logger's method, say) as Keras does."""
        print_fn(str(self))


@dataclass
class _Call:
    name: str
    module: nn.Module
    call: int
    sources: list[str]  # names of the calls (or inputs) that produced this call's input tensors
    output: Any = None
    shape: Any = None


@dataclass
class _Run:
    calls: list[_Call] = field(default_factory=list)
    outputs: Any = None
    output_sources: list[str] = field(default_factory=list)


def summary(model: nn.Module, input_shape: Any = None, *, example_input: Any = None, dtypes: Any = None,
            depth: int = 1) -> ModelSummary:
    """Summarise ``model``'s layers: output shapes and trainable / non-trainable parameters.

    Args:
        model: any ``torch.nn.Module``.
        input_shape: the shape of one sample, without the batch dimension, e.g. ``(1, 28, 28)``;
            a dict ``{name: shape}`` for a model taking named inputs (keyword arguments).
        example_input: a batch to run instead (a tensor or a dict of tensors).
        dtypes: the input dtype (or a dict per input) with ``input_shape``; float32 by default.
            Integer inputs (token ids) are zeros, float ones uniform in [0, 1).
        depth: how deep to list layers: 1 lists the model's children (Keras's view; a block
            is one row), 2 their children, and so on. ``ModuleList``/``ModuleDict`` don't count.

    Returns:
        A ``ModelSummary`` with ``.rows``, ``.total_params``, ``.trainable_params`` and
        ``.non_trainable_params``; ``print`` it for the table.

    Raises:
        ValueError: neither ``input_shape`` nor ``example_input``, ``depth`` < 1, or the model
            fails on the dummy batch (the message gives the input shapes).

    Example:
        >>> net = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
        >>> s = summary(net, (4,))
        >>> [(r.name, r.output_shape, r.params) for r in s.rows][:2]
        [('0', (None, 8), 40), ('1', (None, 8), 32)]
        >>> s.total_params, s.non_trainable_params
        (99, 16)
    """
    if not isinstance(depth, int) or depth < 1:
        raise ValueError(format_message("depth", depth, "an int >= 1", "depth=1 lists the model's children"))
    x = _example(model, input_shape, example_input, dtypes)
    selected = _select(model, depth)
    first = _run(model, x, selected)
    _set_shapes(first, _run(model, _grow(x), selected))
    rows = [LayerRow(c.name, type(c.module).__name__, c.shape, *count_params(c.module, recurse=not selected[c.module][1]),
                     c.call) for c in first.calls]
    return ModelSummary(type(model).__name__, rows, *count_params(model))


def _example(model: nn.Module, input_shape: Any, example_input: Any, dtypes: Any, batch_size: int = 2) -> Any:
    if example_input is not None:
        return example_input
    if input_shape is None:
        raise ValueError(format_message("input_shape", None, "one sample's shape or example_input=",
                                        "e.g. summary(model, (1, 28, 28)) or summary(model, example_input=x)"))
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    generator = torch.Generator().manual_seed(0)

    def make(shape: Any, dtype: torch.dtype | None) -> torch.Tensor:
        if not isinstance(shape, (tuple, list)) or not all(isinstance(d, int) and d > 0 for d in shape):
            raise ValueError(format_message("input_shape", shape,
                                            "a tuple of positive ints (one sample, no batch dimension)"))
        dtype = dtype or torch.float32
        if dtype.is_floating_point:
            return torch.rand((batch_size, *shape), generator=generator).to(device, dtype)
        return torch.zeros((batch_size, *shape), dtype=dtype, device=device)

    if isinstance(input_shape, Mapping):
        types = dtypes if isinstance(dtypes, Mapping) else {name: dtypes for name in input_shape}
        return {name: make(shape, types.get(name)) for name, shape in input_shape.items()}
    return make(input_shape, dtypes)


def _grow(x: Any) -> Any:
    """The same inputs with one more sample, to tell batch dimensions from the others."""
    if isinstance(x, Mapping):
        return {k: _grow(v) for k, v in x.items()}
    return torch.cat([x, x[:1]]) if isinstance(x, torch.Tensor) and x.dim() > 0 else x


def _select(model: nn.Module, depth: int) -> dict[nn.Module, tuple[str, bool]]:
    """``{module: (name, expanded)}`` for the layers to list; ``expanded`` ones list only own params."""
    selected: dict[nn.Module, tuple[str, bool]] = {}

    def walk(module: nn.Module, prefix: str, level: int) -> None:
        for name, child in module.named_children():
            if isinstance(child, (nn.ModuleList, nn.ModuleDict)):  # never called: see through them
                walk(child, f"{prefix}{name}.", level)
                continue
            if child in selected:  # a shared layer keeps its first name
                continue
            expand = level < depth and next(child.children(), None) is not None
            if not expand or count_params(child, recurse=False) != (0, 0):
                selected[child] = (f"{prefix}{name}", expand)
            if expand:
                walk(child, f"{prefix}{name}.", level + 1)

    walk(model, "", 1)
    return selected or {model: (type(model).__name__.lower(), False)}


@contextlib.contextmanager
def _evaluating(model: nn.Module) -> Iterator[None]:
    """Eval mode without gradients inside; afterwards each module gets its own mode back."""
    modes = {m: m.training for m in model.modules()}
    try:
        model.eval()
        with torch.no_grad():
            yield
    finally:
        for module, mode in modes.items():
            module.training = mode


def _tensors(tree: Any) -> list[torch.Tensor]:
    if isinstance(tree, torch.Tensor):
        return [tree]
    if isinstance(tree, Mapping):
        tree = list(tree.values())
    if isinstance(tree, (list, tuple)):
        return [t for item in tree for t in _tensors(item)]
    return []


def _run(model: nn.Module, x: Any, selected: dict[nn.Module, tuple[str, bool]]) -> _Run:
    """Call ``model`` on ``x`` in eval mode without gradients, recording each selected call."""
    run, stack, counts = _Run(), [], {}
    producers = {id(t): name for name, t in (x.items() if isinstance(x, Mapping) else [("input", x)])}

    def before(module, args, kwargs):
        name = selected[module][0]
        counts[name] = counts.get(name, 0) + 1
        sources = [producers[id(t)] for t in _tensors((args, kwargs)) if id(t) in producers]
        run.calls.append(_Call(name, module, counts[name], list(dict.fromkeys(sources))))
        stack.append(run.calls[-1])

    def after(module, args, kwargs, output):
        call = stack.pop()
        call.output = output  # kept alive, so the ids in ``producers`` stay unique
        producers.update({id(t): f"{call.name}#{call.call}" for t in _tensors(output)})

    handles = [h for m in selected for h in (m.register_forward_pre_hook(before, with_kwargs=True),
                                             m.register_forward_hook(after, with_kwargs=True))]
    try:
        with _evaluating(model):
            run.outputs = model(**x) if isinstance(x, Mapping) else model(x)
    except (RuntimeError, TypeError, ValueError, IndexError) as error:
        shapes = {k: tuple(v.shape) for k, v in x.items()} if isinstance(x, Mapping) else tuple(x.shape)
        raise ValueError(f"the model failed on a dummy batch of shape {shapes}: {error}; check input_shape "
                         "(one sample, no batch dimension) and dtypes (torch.long for token ids)") from error
    finally:
        for handle in handles:
            handle.remove()
    run.output_sources = [producers[id(t)] for t in _tensors(run.outputs) if id(t) in producers]
    return run


def _shape_of(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return tuple(value.shape)
    if isinstance(value, Mapping):
        return {k: _shape_of(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_shape_of(v) for v in value]
    return None


def _merge(a: Any, b: Any) -> Any:
    """Shapes from two batch sizes, with the dimensions that differ replaced by None."""
    if isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b):
        return tuple(d if d == e else None for d, e in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys():
        return {k: _merge(a[k], b[k]) for k in a}
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [_merge(d, e) for d, e in zip(a, b)]
    return a


def _set_shapes(first: _Run, second: _Run) -> None:
    same = [(c.name, c.call) for c in first.calls] == [(c.name, c.call) for c in second.calls]
    for i, call in enumerate(first.calls):
        shape = _shape_of(call.output)
        call.shape = _merge(shape, _shape_of(second.calls[i].output)) if same else shape


def _format_shape(shape: Any) -> str:
    if isinstance(shape, tuple):
        return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"
    if isinstance(shape, list):
        return "[" + ", ".join(_format_shape(s) for s in shape) + "]"
    if isinstance(shape, dict):
        return "{" + ", ".join(f"{k}: {_format_shape(v)}" for k, v in shape.items()) + "}"
    return "?"

"""``plot_model``: a picture of a model's layer graph with Graphviz's ``dot`` program.

The graph comes from a ``torch.fx`` trace when the model can be traced, else from the order in
which forward hooks saw the layers run (the same runs ``summary`` makes).
"""
from __future__ import annotations

import inspect
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from topnet.errors import format_message
from topnet.nn.summary import _evaluating, _format_shape, _grow, _merge, _run, _select, _set_shapes, _shape_of

__all__ = ["plot_model"]

def plot_model(model: nn.Module, example_input: Any, path: str | Path, *, show_shapes: bool = True,
               rankdir: str = "TB") -> Path:
    """Draw ``model``'s layer graph to a PNG or SVG file (by suffix) with Graphviz's ``dot``.

    The graph comes from a ``torch.fx`` symbolic trace (every layer call and tensor operation,
    with its real inputs); a model fx cannot trace (data-dependent ``if``, ...) is drawn from
    its leaf layers in the order they ran, linked where one layer's output tensor is the next
    one's input. Keras's ``plot_model`` is the model.

    Args:
        model: any ``torch.nn.Module``.
        example_input: a batch (a tensor, or a dict of named inputs passed as keyword arguments).
        path: ``*.png``, ``*.svg``, or ``*.dot`` for the Graphviz source only (no ``dot`` needed).
        show_shapes: print each node's output shape (``None`` for the batch dimension).
        rankdir: ``"TB"`` (top to bottom) or ``"LR"`` (left to right).

    Returns:
        The path written.

    Raises:
        ValueError: another suffix or rankdir.
        RuntimeError: Graphviz's ``dot`` is not installed (the message gives the install
            command), or it failed.

    Example:
        >>> import tempfile
        >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
        >>> plot_model(net, torch.zeros(2, 4), tempfile.mkdtemp() + "/net.dot").suffix
        '.dot'
    """
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in ("png", "svg", "dot"):
        raise ValueError(format_message("path", str(path), "a file name ending in .png, .svg or .dot"))
    if rankdir not in ("TB", "LR"):
        raise ValueError(format_message("rankdir", rankdir, "'TB' or 'LR'"))
    try:
        nodes, edges, note = *_fx_graph(model, example_input), ""
    except Exception as error:  # noqa: BLE001  fx fails in many ways: control flow, non-tensor ops ...
        nodes, edges = _hook_graph(model, example_input)
        note = f"layers in call order (torch.fx could not trace the model: {type(error).__name__})"
    lines = [f"digraph {_quote(type(model).__name__)} {{",
             f"  graph [rankdir={rankdir}, fontname=Helvetica, fontsize=10, label={_quote(note)}];",
             '  node [shape=box, style="rounded,filled", fillcolor="#eef3fb", fontname=Helvetica, fontsize=10];']
    ids = {name: f"n{i}" for i, (name, _, _) in enumerate(nodes)}
    for name, label, shape in nodes:
        text = f"{label}\n{_format_shape(shape)}" if show_shapes else label
        lines.append(f"  {ids[name]} [label={_quote(text)}];")
    lines += [f"  {ids[a]} -> {ids[b]};" for a, b in dict.fromkeys(edges) if a in ids and b in ids]
    _render("\n".join([*lines, "}"]) + "\n", path, fmt)
    return path


def _quote(text: str) -> str:
    """A DOT string literal; newlines become DOT's ``\\n`` line breaks."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _render(source: str, path: Path, fmt: str) -> None:
    from topnet.atomic import atomic_write_bytes

    if fmt == "dot":
        atomic_write_bytes(path, source.encode("utf-8"))
        return
    executable = shutil.which("dot")
    if executable is None:
        raise RuntimeError("plot_model needs Graphviz's 'dot' program, which is not on PATH; install Graphviz: "
                           "apt-get install graphviz (Debian/Ubuntu), brew install graphviz (macOS) or "
                           "conda install graphviz; or write the source with a '.dot' path")
    result = subprocess.run([executable, f"-T{fmt}"], input=source.encode("utf-8"), capture_output=True, timeout=120)
    if result.returncode != 0:
        message = result.stderr.decode(errors="replace").strip()
        raise RuntimeError(f"Graphviz's dot failed (exit {result.returncode}): {message}")
    atomic_write_bytes(path, result.stdout)


class _Recorder(torch.fx.Interpreter):
    """Runs a traced graph, keeping each node's output shape."""

    def __init__(self, module: torch.fx.GraphModule):
        super().__init__(module)
        self.shapes: dict[str, Any] = {}

    def run_node(self, node: torch.fx.Node) -> Any:
        value = super().run_node(node)
        self.shapes[node.name] = _shape_of(value)
        return value


def _fx_graph(model: nn.Module, x: Any) -> tuple[list, list]:
    parameters = [p for p in inspect.signature(model.forward).parameters.values()
                  if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    given = dict(x) if isinstance(x, Mapping) else {parameters[0].name: x}
    concrete = {p.name: p.default for p in parameters if p.name not in given and p.default is not p.empty}
    traced = torch.fx.symbolic_trace(model, concrete_args=concrete or None)
    inputs = [n for n in traced.graph.nodes if n.op == "placeholder"]
    runs = [_Recorder(traced), _Recorder(traced)]
    with _evaluating(model):
        for recorder, batch in zip(runs, (given, _grow(given))):
            recorder.run(*(batch[n.target] if n.target in batch else n.args[0] for n in inputs))  # else: the default
    modules = dict(traced.named_modules())
    nodes, edges = [], []
    for node in traced.graph.nodes:
        if node.op == "get_attr" or (node.op == "placeholder" and node.target not in given):
            continue
        if node.op != "output" and not node.users:
            continue  # values computed but never used, such as an LSTM's unused states
        if node.op == "call_function" and getattr(node.target, "__name__", "").startswith("_assert"):
            continue  # fx's checks on concrete arguments
        shape = _merge(runs[0].shapes.get(node.name), runs[1].shapes.get(node.name))
        nodes.append((node.name, _node_label(node, modules), shape))
        edges += [(source.name, node.name) for source in node.all_input_nodes]
    return nodes, edges


def _node_label(node: torch.fx.Node, modules: dict[str, nn.Module]) -> str:
    if node.op == "placeholder":
        return f"{node.target} (input)"
    if node.op == "call_module":
        return f"{node.target} ({type(modules[node.target]).__name__})"
    if node.op == "call_method":
        return f".{node.target}()"
    return "output" if node.op == "output" else getattr(node.target, "__name__", str(node.target))


def _hook_graph(model: nn.Module, x: Any) -> tuple[list, list]:
    selected = _select(model, depth=1 << 30)  # leaf layers
    first, second = _run(model, x, selected), _run(model, _grow(x), selected)
    _set_shapes(first, second)
    named = dict(x) if isinstance(x, Mapping) else {"input": x}
    nodes = [(name, f"{name} (input)", _merge(_shape_of(t), _shape_of(_grow(t)))) for name, t in named.items()]
    edges, previous = [], nodes[-1][0]
    for call in first.calls:
        node = f"{call.name}#{call.call}"
        nodes.append((node, f"{call.name} ({type(call.module).__name__})", call.shape))
        edges += [(source, node) for source in call.sources or [previous]]
        previous = node
    nodes.append(("output", "output", _merge(_shape_of(first.outputs), _shape_of(second.outputs))))
    edges += [(source, "output") for source in first.output_sources or [previous]]
    return nodes, edges

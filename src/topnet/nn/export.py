"""Export a model to ONNX and check the file against PyTorch with onnxruntime.

``export_onnx`` uses PyTorch's TorchScript-based exporter (``torch.onnx.export(...,
dynamo=False)``), which needs no package besides torch; ``check_onnx`` needs ``onnx`` and
``onnxruntime`` (``pip install onnx onnxruntime``). The batch dimension of every input and
output is left dynamic, so the file serves any batch size. Inputs are named ``input`` (one
tensor) or by the model's keyword arguments (a dict of named inputs); outputs ``output``, the
model's dict keys, or ``output_0``, ``output_1``, ... for a tuple.
"""
from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from topnet.errors import format_message

__all__ = ["export_onnx", "check_onnx"]


def _named_inputs(example_input: Any) -> dict[str, torch.Tensor]:
    if isinstance(example_input, torch.Tensor):
        return {"input": example_input}
    if isinstance(example_input, Mapping) and all(isinstance(v, torch.Tensor) for v in example_input.values()):
        return dict(example_input)
    raise TypeError(format_message("example_input", type(example_input).__name__,
                                   "a tensor or a dict of named tensors (the model's keyword arguments)"))


def _flat_outputs(outputs: Any) -> dict[str, torch.Tensor]:
    if isinstance(outputs, torch.Tensor):
        return {"output": outputs}
    if isinstance(outputs, Mapping):
        return {str(k): v for k, v in outputs.items()}
    if isinstance(outputs, (list, tuple)) and all(isinstance(v, torch.Tensor) for v in outputs):
        return {f"output_{i}": v for i, v in enumerate(outputs)}
    raise TypeError(format_message("model output", type(outputs).__name__, "a tensor, a dict or a tuple of tensors"))


def _run(model: nn.Module, inputs: dict[str, torch.Tensor], keyword: bool) -> dict[str, torch.Tensor]:
    """The model's outputs in eval mode without gradients; each module's mode is restored."""
    modes = {m: m.training for m in model.modules()}
    try:
        model.eval()
        with torch.no_grad():
            return _flat_outputs(model(**inputs) if keyword else model(inputs["input"]))
    finally:
        for module, mode in modes.items():
            module.training = mode


def export_onnx(model: nn.Module, example_input: Any, path: str | Path, *, fold_bn: bool = False,
                opset: int = 17) -> Path:
    """Write ``model`` (in eval mode) to an ONNX file, with a dynamic batch dimension.

    Args:
        model: any ``torch.nn.Module`` the TorchScript exporter can trace.
        example_input: a batch: a tensor, or a dict of named inputs (keyword arguments).
        path: the ``.onnx`` file to write (parent directories are created).
        fold_bn: export ``topnet.nn.fold.fold_batchnorm(model)`` instead (the model is not changed).
        opset: the ONNX opset version.

    Returns:
        The path written.

    Raises:
        TypeError: ``example_input`` or the model's outputs are not tensors / dicts of tensors.

    Example:
        >>> import tempfile
        >>> net = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
        >>> export_onnx(net, torch.randn(2, 4), tempfile.mkdtemp() + "/net.onnx", fold_bn=True).suffix
        '.onnx'
    """
    inputs = _named_inputs(example_input)
    keyword = isinstance(example_input, Mapping)
    if fold_bn:
        from topnet.nn.fold import fold_batchnorm

        model = fold_batchnorm(model)
    output_names = list(_run(model, inputs, keyword))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    modes = {m: m.training for m in model.modules()}
    try:
        model.eval()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
            torch.onnx.export(model, () if keyword else (inputs["input"],), str(path),
                              kwargs=inputs if keyword else None, dynamo=False, opset_version=opset,
                              input_names=list(inputs), output_names=output_names,
                              dynamic_axes={name: {0: "batch"} for name in [*inputs, *output_names]})
    finally:
        for module, mode in modes.items():
            module.training = mode
    return path


def check_onnx(path: str | Path, model: nn.Module, example_input: Any, atol: float = 1e-5) -> float:
    """Run the ONNX file with onnxruntime and compare its outputs with ``model``'s (eval mode).

    Args:
        path: a file written by ``export_onnx``.
        model: the PyTorch model to compare with.
        example_input: the batch to run (a tensor or a dict of named inputs).
        atol: the largest absolute difference accepted.

    Returns:
        The largest absolute difference over all outputs.

    Raises:
        ImportError: ``onnx`` or ``onnxruntime`` is not installed (gives the pip command).
        ValueError: the file is not valid ONNX, its outputs differ in names or shapes, or any
            value differs by more than ``atol`` (the message gives the largest difference).

    Example:
        >>> import tempfile
        >>> net, x = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)), torch.randn(2, 3, 8, 8)
        >>> file = export_onnx(net, x, tempfile.mkdtemp() + "/net.onnx")
        >>> check_onnx(file, net, x) < 1e-5
        True
    """
    try:
        import onnx
        import onnxruntime
    except ImportError as error:
        raise ImportError(f"check_onnx needs onnx and onnxruntime ({error}); install them: "
                          "pip install onnx onnxruntime") from None
    try:
        onnx.checker.check_model(str(path))
    except (onnx.checker.ValidationError, FileNotFoundError, OSError) as error:
        raise ValueError(f"{str(path)!r} is not a valid ONNX model: {error}; re-export it with export_onnx") from None
    inputs = _named_inputs(example_input)
    expected = _run(model, inputs, isinstance(example_input, Mapping))
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {i.name: inputs[i.name].detach().cpu().numpy() for i in session.get_inputs() if i.name in inputs}
    names = [o.name for o in session.get_outputs()]
    if names != list(expected):
        raise ValueError(format_message("ONNX outputs", names, f"the model's outputs {list(expected)}",
                                        "export this model again"))
    worst, where = 0.0, names[0]
    for name, got in zip(names, session.run(names, feed)):
        want = expected[name].detach().float().cpu()
        got = torch.from_numpy(got).float()
        if got.shape != want.shape:
            raise ValueError(format_message(f"ONNX output {name!r} shape", tuple(got.shape),
                                            f"{tuple(want.shape)} as in PyTorch"))
        difference = float((got - want).abs().max()) if want.numel() else 0.0
        if difference > worst or difference != difference:  # NaN counts as the worst
            worst, where = difference, name
    if not worst <= atol:
        raise ValueError(f"ONNX output {where!r} differs from PyTorch's by up to {worst:.3g} (max abs difference), "
                         f"more than atol={atol:g}; check ops whose export is approximate, or raise atol")
    return worst

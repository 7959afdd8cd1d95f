"""Checks that run before training starts, so bad data fails in a second, not after an epoch.

Empty datasets, NaN or inf inputs, arrays of different lengths, labels outside the model's
classes, fractional class ids, a training set with one class, and inputs the model cannot take
are reported with the value and a fix.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from topnet.data.batches import num_samples, tree_map
from topnet.errors import DataError, format_message
from topnet.nn.call import call_model  # re-exported: its home is topnet.nn.call
from topnet.train.objective import Objective, name_outputs

__all__ = ["check_finite_inputs", "check_against_model", "call_model", "input_error"]


def _named_leaves(tree: Any, prefix: str) -> list[tuple[str, torch.Tensor]]:
    if isinstance(tree, Mapping):
        return [pair for key, value in tree.items() for pair in _named_leaves(value, f"{prefix}[{key!r}]")]
    if isinstance(tree, (list, tuple)):
        return [pair for i, value in enumerate(tree) for pair in _named_leaves(value, f"{prefix}[{i}]")]
    return [(prefix, tree)]


def check_finite_inputs(x: Any, y: Any, split: str) -> int:
    """Raise DataError for empty data or NaN/inf in float inputs or targets; return the length."""
    count = num_samples(x, *([y] if y is not None else []))
    if count == 0:
        raise DataError(f"{split} data: got 0 samples; expected at least one; check the dataset path or the split fractions")
    leaves = _named_leaves(x, "x") + (_named_leaves(y, "y") if y is not None else [])
    for name, tensor in leaves:
        # the sum first: one pass with no mask, and any NaN or inf makes it non-finite; only a
        # non-finite sum (bad values, or finite ones that overflow) pays for the exact check
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor.sum())):
            bad = ~torch.isfinite(tensor)
            if bool(bad.any()):
                rows = bad.reshape(len(tensor), -1).any(dim=1).nonzero().flatten()
                raise DataError(format_message(
                    f"{split} {name}", f"{int(bad.sum())} NaN/inf values in {len(rows)} samples (first at row {int(rows[0])})",
                    "finite numbers", "impute or drop those rows (topnet.data.Standardizer imputes NaN with the train mean)"))
    return count


def _first_row(mask: torch.Tensor) -> int:
    return int(mask.reshape(len(mask), -1).any(dim=1).nonzero()[0])


def _check_labels(name: str, output: torch.Tensor, target: torch.Tensor, loss: Any, split: str) -> None:
    label = f"{split} targets{'[' + repr(name) + ']' if name else ''}"
    loss_name = getattr(loss, "name", None)
    class_ids = output.dim() >= 2 and output.dim() == target.dim() + 1 and target.dtype != torch.bool
    classifies = loss_name == "binary_cross_entropy" or (loss_name == "cross_entropy" and class_ids and not target.is_floating_point())
    classes = target.unique() if classifies else None
    if split == "training" and classes is not None and len(classes) == 1 and len(target) > 1:
        raise DataError(format_message(label, f"only class {classes[0].item()} in {len(target)} samples",
                                       "at least two classes", "a classifier learns nothing from one class: "
                                       "check the labels or the split"))
    if not class_ids or output.shape[1] == 1:
        return  # not (N, C, ...) logits against (N, ...) class ids
    if target.is_floating_point():
        if loss_name != "cross_entropy":
            return
        fractional = target != target.round()
        if bool(fractional.any()):
            row = _first_row(fractional)
            raise DataError(format_message(label, f"label {target.reshape(len(target), -1)[row].flatten()[0].item()} (row {row})",
                                           "whole-number class ids for a classification loss",
                                           "pass integer labels (a regression target needs loss='mse' and one output)"))
        target = target.long()
    num_classes = int(output.shape[1])
    low, high = int(target.min()), int(target.max())
    if low < 0 or high >= num_classes:
        bad = low if low < 0 else high
        raise DataError(format_message(label, f"label {bad} (row {_first_row(target == bad)})", f"class ids in [0, {num_classes - 1}] for a "
                                       f"model with {num_classes} outputs",
                                       "fix the labels or build the model with num_classes=" + str(high + 1)))


def input_error(x: Any, split: str, error: Exception) -> DataError:
    """The DataError for a model that failed on the ``split`` inputs ``x``: their per-sample shapes."""
    shapes = tree_map(lambda t: tuple(t.shape[1:]), x)
    return DataError(f"the model failed on the {split} inputs with per-sample shapes {shapes}: {error}; "
                     "check input_shape / the first layer's size against the data")


def _call_on_head(model: torch.nn.Module, x: Any, split: str) -> Any:
    try:
        return call_model(model, tree_map(lambda t: t[:2], x))
    except (RuntimeError, TypeError, ValueError, IndexError) as error:
        raise input_error(x, split, error) from error


def check_against_model(model: torch.nn.Module, objective: Objective, x: Any, y: Any, split: str) -> None:
    """Run the model on two samples (eval mode, no grad) and check outputs against targets.

    Raises:
        DataError: the model fails on the inputs (shapes), outputs and targets don't match, or
            labels are outside the model's classes.
    """
    head = lambda t: t[:2]  # noqa: E731
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            outputs = _call_on_head(model, x, split)
            named = name_outputs(outputs)
            targets = objective.targets(y)
            for name, target in targets.items():
                if name not in named:
                    raise DataError(format_message(f"{split} targets", sorted(targets), f"the model's outputs {sorted(named)}"))
                _check_labels(name, named[name], target, objective.losses[name], split)
            try:
                objective.clone()(outputs, tree_map(head, y))
            except (RuntimeError, ValueError) as error:
                shapes = {k: (tuple(named[k].shape[1:]), tuple(t.shape[1:])) for k, t in targets.items()}
                raise DataError(f"the loss cannot compare the model's outputs with the {split} targets "
                                f"(per-sample output vs target shapes: {shapes}): {error}") from error
    finally:
        model.train(was_training)

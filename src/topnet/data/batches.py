"""Batching of (nested) tensors that already live on the training device.

A batch is an index slice: each epoch draws one permutation (from a generator seeded by the
fit's seed and the epoch number, so a resumed run draws the same one) and every batch is
``tensor[indices]`` for each tensor in the structure. No per-sample Python, no DataLoader
workers, no copies between host and device once the data is on the device.

A batch is ``(x, y)``, or ``(x, y, sample_weight)`` when the rows carry weights (Keras's
convention; `unpack_x_y_sample_weight` reads either). `sample_weights` turns ``fit``'s
``sample_weight`` and ``class_weight`` into that one weight per row.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Union

import numpy as np
import torch

from topnet.errors import DataError, format_message
from topnet.seeding import make_generator

__all__ = ["Tree", "to_tensors", "tree_map", "tree_leaves", "num_samples", "TensorBatches", "sample_weights",
           "check_sample_weight", "class_weight_to_sample_weights", "unpack_x_y_sample_weight"]

# A tensor, or a dict / list / tuple of tensors (several named inputs or outputs).
Tree = Union[torch.Tensor, Mapping[str, Any], Sequence[Any]]


def tree_map(fn: Callable[[torch.Tensor], Any], tree: Any) -> Any:
    """Apply ``fn`` to every tensor in a tensor / dict / list / tuple structure."""
    if isinstance(tree, Mapping):
        return {key: tree_map(fn, value) for key, value in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(tree_map(fn, value) for value in tree)
    return fn(tree)


def tree_leaves(tree: Any) -> list[torch.Tensor]:
    """The tensors of a structure, in order."""
    leaves: list[torch.Tensor] = []
    tree_map(leaves.append, tree)
    return leaves


def _as_tensor(value: Any) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    array = np.asarray(value)
    if array.dtype.kind in "OUSV":  # Python objects, strings, bytes, records
        raise DataError(format_message("data", f"an array of {array.dtype} values with shape {array.shape}",
                                       "numeric arrays", "convert strings/categories to numbers first"))
    if array.dtype == np.float64:
        array = array.astype(np.float32)  # torch's default dtype; float64 would make models fail on dtype
    if not array.flags.writeable:  # e.g. a read-only memory map of the image cache: shared, never written
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            return torch.from_numpy(np.ascontiguousarray(array))
    return torch.from_numpy(np.ascontiguousarray(array))  # no copy of a contiguous array, memory maps included


def to_tensors(tree: Any, device: torch.device | str | None = None) -> Any:
    """Turn numpy arrays (float64 → float32) into tensors and move them to ``device``."""
    return tree_map(lambda value: _as_tensor(value).to(device) if device is not None else _as_tensor(value), tree)


def num_samples(*trees: Any) -> int:
    """The common first-axis length of every tensor in ``trees``.

    Raises:
        DataError: when lengths differ (names the lengths) or a tensor has no first axis.
    """
    lengths = {}
    for tree in trees:
        for index, leaf in enumerate(tree_leaves(tree)):
            if leaf.dim() == 0:
                raise DataError(format_message("data", f"a 0-dimensional tensor ({leaf})", "arrays whose first axis is the sample axis"))
            lengths.setdefault(int(leaf.shape[0]), []).append(index)
    if len(lengths) > 1:
        raise DataError(format_message("data", f"arrays with first-axis lengths {sorted(lengths)}",
                                       "every input and target to have one length (one row per sample)"))
    return next(iter(lengths), 0)


def unpack_x_y_sample_weight(batch: tuple) -> tuple[Tree, Tree | None, torch.Tensor | None]:
    """``(x, y, sample_weight)`` from a batch ``(x, y)`` or ``(x, y, sample_weight)`` (Keras's name and rule)."""
    return (batch[0], batch[1], None) if len(batch) == 2 else tuple(batch)


def _check_weight(what: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value) or value < 0:
        raise ValueError(format_message(what, value, "a finite number >= 0",
                                        "a weight scales a row's loss; 0 leaves it out"))
    return float(value)


def check_sample_weight(sample_weight: Any, num_rows: int, split: str = "training") -> torch.Tensor:
    """``sample_weight`` as a float32 vector of ``num_rows`` finite weights >= 0, not all 0.

    Args:
        sample_weight: one weight per row, an array or tensor of shape ``(num_rows,)`` or
            ``(num_rows, 1)``; a multi-output model applies it to every output's loss.
        num_rows: the number of rows it weights.
        split: names the data in messages (``"training"``, ``"validation"``).

    Raises:
        TypeError: a dict (per-output weights are not supported).
        ValueError: the wrong shape or length, a NaN/inf or negative weight, every weight 0.

    Example:
        >>> check_sample_weight([1, 0.5, 2], 3)
        tensor([1.0000, 0.5000, 2.0000])
    """
    what = "sample_weight" if split == "training" else f"{split} sample_weight"
    if isinstance(sample_weight, Mapping):
        raise TypeError(format_message(what, f"a dict with keys {sorted(sample_weight)}", "one weight per row",
                                       "per-output weights are not supported: one array of shape (num_rows,) "
                                       "weights every output's loss"))
    weights = _as_tensor(sample_weight)
    if weights.dim() == 2 and weights.shape[1] == 1:
        weights = weights[:, 0]
    if weights.dim() != 1:
        raise ValueError(format_message(what, f"an array of shape {tuple(weights.shape)}",
                                        f"one weight per {split} row, shape ({num_rows},)"))
    if len(weights) != num_rows:
        raise ValueError(format_message(what, f"{len(weights)} weights", f"one per {split} row ({num_rows})",
                                        f"pass an array of shape ({num_rows},), in the order of the rows"))
    weights = weights.to(torch.float32)
    bad = ~torch.isfinite(weights) | (weights < 0)
    if bool(bad.any()):
        row = int(bad.nonzero()[0])
        raise ValueError(format_message(what, f"{weights[row].item():g} at row {row}", "finite weights >= 0",
                                        "a weight scales its row's loss; 0 leaves the row out"))
    if not bool(weights.any()):
        raise ValueError(format_message(what, f"all {num_rows} weights 0", "at least one positive weight",
                                        "a weight of 0 leaves its row out, and with every row out nothing is trained"))
    return weights


def _class_labels(y: torch.Tensor) -> tuple[torch.Tensor, int]:
    """``(N,)`` class ids of single-output targets and the number of classes they range over."""
    if y.dim() == 2 and y.shape[1] > 1:  # one-hot or probability rows: the class is the argmax (Keras's rule)
        return y.argmax(dim=1), int(y.shape[1])
    if y.dim() not in (1, 2):
        raise ValueError(format_message("class_weight", f"targets of shape {tuple(y.shape)}",
                                        "one class per row: (N,) class ids or (N, C) one-hot rows",
                                        "weight per-pixel or per-step targets by row with sample_weight"))
    labels = y.reshape(-1)
    if labels.is_floating_point():
        fractional = labels != labels.round()
        if bool(fractional.any()):
            row = int(fractional.nonzero()[0])
            value = f"targets with the value {labels[row].item():g} at row {row}"
            raise ValueError(format_message("class_weight", value, "class labels (whole numbers)", "class_weight is "
                                            "for classification; weight regression rows with sample_weight"))
    labels = labels.long()
    if int(labels.min()) < 0:
        raise ValueError(format_message("class_weight", f"the label {int(labels.min())}", "class ids >= 0"))
    return labels, int(labels.max()) + 1


def class_weight_to_sample_weights(y: torch.Tensor, class_weight: Mapping[int, float],
                                   num_classes: int | None = None) -> torch.Tensor:
    """Each row's weight from its class: ``class_weight[class]``, 1.0 for a class it leaves out (as in Keras).

    Args:
        y: a single output's targets: ``(N,)`` or ``(N, 1)`` class ids (whole numbers of any
            dtype), or ``(N, C)`` one-hot or probability rows (the class is the argmax, Keras's rule).
        class_weight: ``{class index: weight}``, each index in ``[0, num_classes)``, each
            weight finite and >= 0.
        num_classes: the model's classes (``fit`` passes its logits' width); None: the labels'
            range, ``max label + 1`` (``C`` for one-hot rows).

    Returns:
        ``(N,)`` float32 weights on ``y``'s device.

    Raises:
        TypeError: ``class_weight`` not a dict.
        ValueError: targets that are not class labels (fractional values, per-pixel shapes), a
            key that is not a class, a negative or non-finite weight.

    Example:
        >>> class_weight_to_sample_weights(torch.tensor([0, 2, 1, 2]), {2: 3.0})
        tensor([1., 3., 1., 3.])
    """
    if not isinstance(class_weight, Mapping):
        raise TypeError(format_message("class_weight", type(class_weight).__name__, "a dict {class index: weight}",
                                       "e.g. class_weight={0: 1.0, 1: 5.0}"))
    labels, label_classes = _class_labels(y)
    source = "the training labels" if num_classes is None else "the model"
    num_classes = max(num_classes or 0, label_classes)
    table = torch.ones(num_classes, dtype=torch.float32)
    for key, weight in class_weight.items():
        if isinstance(key, bool) or not isinstance(key, (int, np.integer)) or not 0 <= key < num_classes:
            raise ValueError(format_message("class_weight key", key,
                                            f"a class index of {source}, in [0, {num_classes - 1}]",
                                            "drop the key, or check the labels and the model's number of classes"))
        table[int(key)] = _check_weight(f"class_weight[{key}]", weight)
    return table.to(labels.device)[labels]


def sample_weights(y: Tree, sample_weight: Any = None, class_weight: Mapping[int, float] | None = None,
                   split: str = "training", num_classes: int | None = None) -> torch.Tensor | None:
    """One weight per training row: ``sample_weight``, times ``class_weight[class]`` when both
    are given (tf.keras 2's and scikit-learn's rule; Keras 3 refuses the pair).

    Args:
        num_classes: the model's classes, for `class_weight_to_sample_weights`.

    Returns:
        ``(N,)`` float32 weights on the targets' device; None when neither is given or every
        weight is 1, so that such a fit is the unweighted one, bit for bit.

    Raises:
        ValueError / TypeError: as `check_sample_weight` and `class_weight_to_sample_weights`;
            ``class_weight`` for a model with several outputs (as in Keras).
    """
    weights = None
    if sample_weight is not None:
        weights = check_sample_weight(sample_weight, num_samples(y), split).to(tree_leaves(y)[0].device)
    if class_weight is not None:
        if not isinstance(y, torch.Tensor):
            outputs = sorted(y) if isinstance(y, Mapping) else f"{len(y)} outputs"
            raise ValueError(format_message("class_weight", f"targets for {outputs}",
                                            "a model with a single output (as in Keras)",
                                            "weight the rows with sample_weight, which weights every output's loss"))
        by_class = class_weight_to_sample_weights(y, class_weight, num_classes)
        weights = by_class if weights is None else weights * by_class
    if weights is None or bool((weights == 1).all()):
        return None
    return weights


class TensorBatches:
    """Iterate over ``(x, y)`` batches (``(x, y, sample_weight)`` with weights) by index slices.

    Args:
        x: inputs: a tensor or a dict of named tensors (already on the device).
        y: targets: a tensor, a dict / list of tensors, or None.
        sample_weight: None, or one weight per row (a ``(N,)`` tensor on the device), sliced
            with the rows: the batches are then ``(x, y, sample_weight)``.
        batch_size: samples per batch.
        shuffle: draw a new permutation each epoch.
        seed: the permutation for epoch ``e`` comes from ``seed`` and ``e``; a resumed run gets
            the same order.
        drop_last: drop a final batch smaller than ``batch_size``. Without it, a final batch
            of one row joins the batch before it: PyTorch's BatchNorm cannot train on one row
            (it raises), and one row makes a noisy step for any model.
        num_shards / shard: in data-parallel training, each global batch is split between
            ``num_shards`` processes and this one takes every ``num_shards``-th sample from
            position ``shard``.

    Example:
        >>> batches = TensorBatches(torch.arange(10.0), torch.arange(10), batch_size=4, seed=0)
        >>> [len(xb) for xb, yb in batches.epoch(0)]
        [4, 4, 2]
        >>> [len(xb) for xb, yb in TensorBatches(torch.arange(9.0), None, batch_size=4).epoch(0)]
        [4, 5]
    """

    def __init__(self, x: Tree, y: Tree | None, batch_size: int, *, shuffle: bool = True, seed: int = 0,
                 drop_last: bool = False, num_shards: int = 1, shard: int = 0,
                 sample_weight: torch.Tensor | None = None):
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(format_message("batch_size", batch_size, "a positive int", "try batch_size=32"))
        self.x = x
        self.y = y
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.num_shards = num_shards
        self.shard = shard
        self.sample_weight = sample_weight
        self.num_samples = num_samples(x, *(t for t in (y, sample_weight) if t is not None))
        if self.num_samples == 0:
            raise DataError("data: got 0 samples; expected at least one; check the dataset or split fractions")

    def __len__(self) -> int:
        """Batches per epoch."""
        full, rest = divmod(self.num_samples, self.batch_size)
        if self.drop_last:
            return max(full, 1)
        return full + int(rest > 1 or full == 0)  # a last batch of one row joins the one before

    def order(self, epoch: int) -> torch.Tensor:
        """The sample order of ``epoch`` (a permutation when shuffling), on the data's device."""
        device = tree_leaves(self.x)[0].device
        if not self.shuffle:
            return torch.arange(self.num_samples, device=device)
        generator = make_generator(self.seed, "shuffle", epoch)  # CPU generator: same order on any device
        return torch.randperm(self.num_samples, generator=generator).to(device)

    def epoch(self, epoch: int, start_batch: int = 0) -> Iterator[tuple]:
        """Yield the batches of ``epoch``, from batch ``start_batch`` on (to resume mid-epoch)."""
        order, count = self.order(epoch), len(self)
        for index in range(start_batch, count):
            end = self.num_samples if index == count - 1 and not self.drop_last else (index + 1) * self.batch_size
            take = order[index * self.batch_size:end]
            yield self.take(take[self.shard::self.num_shards])

    def take(self, indices: torch.Tensor) -> tuple:
        """The samples at ``indices`` (a 1-D index tensor on the data's device): ``(x, y)``, or
        ``(x, y, sample_weight)``."""
        pick = lambda tensor: tensor.index_select(0, indices)  # noqa: E731
        batch = tree_map(pick, self.x), (tree_map(pick, self.y) if self.y is not None else None)
        return batch if self.sample_weight is None else (*batch, pick(self.sample_weight))

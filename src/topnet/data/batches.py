"""Batching of (nested) tensors that already live on the training device.

A batch is an index slice: each epoch draws one permutation (from a generator seeded by the
fit's seed and the epoch number, so a resumed run draws the same one) and every batch is
``tensor[indices]`` for each tensor in the structure. No per-sample Python, no DataLoader
workers, no copies between host and device once the data is on the device.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Union

import numpy as np
import torch

from topnet.errors import DataError, format_message
from topnet.seeding import make_generator

__all__ = ["Tree", "to_tensors", "tree_map", "tree_leaves", "num_samples", "TensorBatches"]

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


class TensorBatches:
    """Iterate over ``(x, y)`` batches by index slices.

    Args:
        x: inputs: a tensor or a dict of named tensors (already on the device).
        y: targets: a tensor, a dict / list of tensors, or None.
        batch_size: samples per batch.
        shuffle: draw a new permutation each epoch.
        seed: the permutation for epoch ``e`` comes from ``seed`` and ``e``; a resumed run gets
            the same order.
        drop_last: drop a final batch smaller than ``batch_size``.
        num_shards / shard: in data-parallel training, each global batch is split between
            ``num_shards`` processes and this one takes every ``num_shards``-th sample from
            position ``shard``.

    Example:
        >>> batches = TensorBatches(torch.arange(10.0), torch.arange(10), batch_size=4, seed=0)
        >>> [len(xb) for xb, yb in batches.epoch(0)]
        [4, 4, 2]
    """

    def __init__(self, x: Tree, y: Tree | None, batch_size: int, *, shuffle: bool = True, seed: int = 0,
                 drop_last: bool = False, num_shards: int = 1, shard: int = 0):
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
        self.num_samples = num_samples(x, *([y] if y is not None else []))
        if self.num_samples == 0:
            raise DataError("data: got 0 samples; expected at least one; check the dataset or split fractions")

    def __len__(self) -> int:
        """Batches per epoch."""
        if self.drop_last:
            return max(self.num_samples // self.batch_size, 1)
        return -(-self.num_samples // self.batch_size)

    def order(self, epoch: int) -> torch.Tensor:
        """The sample order of ``epoch`` (a permutation when shuffling), on the data's device."""
        device = tree_leaves(self.x)[0].device
        if not self.shuffle:
            return torch.arange(self.num_samples, device=device)
        generator = make_generator(self.seed, "shuffle", epoch)  # CPU generator: same order on any device
        return torch.randperm(self.num_samples, generator=generator).to(device)

    def epoch(self, epoch: int, start_batch: int = 0) -> Iterator[tuple[Tree, Tree | None]]:
        """Yield the batches of ``epoch``, from batch ``start_batch`` on (to resume mid-epoch)."""
        order = self.order(epoch)
        for index in range(start_batch, len(self)):
            take = order[index * self.batch_size:(index + 1) * self.batch_size]
            yield self.take(take[self.shard::self.num_shards])

    def take(self, indices: torch.Tensor) -> tuple[Tree, Tree | None]:
        """The samples at ``indices`` (a 1-D index tensor on the data's device)."""
        pick = lambda tensor: tensor.index_select(0, indices)  # noqa: E731
        return tree_map(pick, self.x), (tree_map(pick, self.y) if self.y is not None else None)

"""The two containers every reader returns: a `Dataset` of arrays and the `Splits` of one task.

A `Dataset` holds NumPy arrays with samples on axis 0: one input array, or a dict of named
inputs for multi-input models, and the targets (class ids, float targets, or a dict of them for
multi-output models). Data stays in NumPy until the training loop moves it to the device.

Example:
    >>> import numpy as np
    >>> data = Dataset(x=np.zeros((4, 1, 2, 2), np.uint8), y=np.array([0, 1, 1, 0]))
    >>> len(data), data.num_classes, data.task
    (4, 2, 'classification')
    >>> len(data.take([0, 2]))
    2
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from topnet.data.on_disk import take_rows
from topnet.errors import DataError

__all__ = ["Dataset", "Splits", "concatenate"]

Arrays = np.ndarray | dict[str, np.ndarray]


def _as_arrays(value: Any, what: str) -> Arrays:
    """``value`` as an array or a dict of arrays (lists and tensors are converted)."""
    if isinstance(value, Mapping):
        if not value:
            raise DataError(f"{what}: got an empty dict; expected at least one named array")
        return {str(key): _as_array(item, f"{what}[{key!r}]") for key, item in value.items()}
    return _as_array(value, what)


def _as_array(value: Any, what: str) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch.Tensor
        value = value.detach().cpu().numpy()
    array = value if isinstance(value, np.memmap) else np.asarray(value)  # a memory map stays one (on disk)
    if array.ndim == 0:
        raise DataError(f"{what}: got a scalar; expected an array with samples on axis 0")
    return array


def _lengths(value: Arrays | None, what: str) -> list[tuple[str, int]]:
    if value is None:
        return []
    if isinstance(value, dict):
        return [(f"{what}[{key!r}]", len(array)) for key, array in value.items()]
    return [(what, len(value))]


def _take(value: Arrays | None, indices: np.ndarray) -> Arrays | None:
    if value is None:
        return None
    if isinstance(value, dict):
        return {key: take_rows(array, indices) for key, array in value.items()}
    return take_rows(value, indices)  # rows of a large memory map stay on disk


def _is_integer(array: np.ndarray) -> bool:
    return np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_


@dataclass(frozen=True)
class Dataset:
    """Inputs ``x`` and targets ``y`` of one split, with samples on axis 0.

    Args:
        x: one input array, or a dict of named input arrays (multi-input models).
        y: ``(n,)`` int64 class ids, float targets, a dict of them (multi-output models), or None.
        class_names: the name of each class id, for classification.
        name: a short name for reports, e.g. ``"fashion-mnist"``.
        meta: anything a reader wants to record, e.g. CSV column names and vocabularies;
            ``meta["paths"]``, one source file per row, is sliced with the rows by `take`.

    Raises:
        DataError: when the arrays do not all have the same number of samples.
    """

    x: Arrays
    y: Arrays | None
    class_names: tuple[str, ...] | None = None
    name: str = ""
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "x", _as_arrays(self.x, "x"))
        if self.y is not None:
            object.__setattr__(self, "y", _as_arrays(self.y, "y"))
        if self.class_names is not None:
            object.__setattr__(self, "class_names", tuple(str(c) for c in self.class_names))
        lengths = _lengths(self.x, "x") + _lengths(self.y, "y")
        first_key, first_length = lengths[0]
        for key, length in lengths[1:]:
            if length != first_length:
                raise DataError(
                    f"{key} has {length} samples but {first_key} has {first_length}; "
                    "expected every array to have the same length on axis 0"
                )

    def __len__(self) -> int:
        return _lengths(self.x, "x")[0][1]

    def take(self, indices: Any) -> Dataset:
        """A copy with only the rows ``indices`` (ints or a boolean mask) of every array."""
        indices = np.asarray(indices)
        if indices.dtype != np.bool_ and not np.issubdtype(indices.dtype, np.integer):
            if indices.size:
                raise DataError(f"indices: got dtype {indices.dtype}; expected ints or a boolean mask")
            indices = indices.astype(np.int64)
        meta = self.meta
        if "paths" in meta:  # one source file per row (a folder of images): kept in step with the rows
            meta = {**meta, "paths": np.asarray(meta["paths"], dtype=object)[indices].tolist()}
        return dataclasses.replace(self, x=_take(self.x, indices), y=_take(self.y, indices), meta=meta)

    @property
    def num_classes(self) -> int | None:
        """``len(class_names)``, else ``max(y) + 1`` for integer y; None for float or dict y."""
        if self.class_names is not None:
            return len(self.class_names)
        if isinstance(self.y, np.ndarray) and _is_integer(self.y):
            return int(self.y.max()) + 1 if len(self.y) else 0
        return None

    @property
    def task(self) -> str:
        """``"classification"`` when every target array is integer, else ``"regression"``."""
        targets = list(self.y.values()) if isinstance(self.y, dict) else [self.y]
        if self.y is not None and all(_is_integer(t) for t in targets):
            return "classification"
        return "regression"


@dataclass(frozen=True)
class Splits:
    """The splits of one task: ``train`` for fitting, ``valid`` for model selection,
    ``blend`` for ensemble weights and calibration, ``test`` scored once at the end.

    Example:
        >>> import numpy as np
        >>> train = Dataset(x=np.zeros((3, 2)), y=np.array([0, 1, 0]))
        >>> [name for name, _ in Splits(train=train, test=train).items()]
        ['train', 'test']
    """

    train: Dataset
    valid: Dataset | None = None
    blend: Dataset | None = None
    test: Dataset | None = None

    def __post_init__(self) -> None:
        for name in ("train", "valid", "blend", "test"):
            value = getattr(self, name)
            if value is None and name == "train":
                raise DataError("train: got None; expected a Dataset")
            if value is not None and not isinstance(value, Dataset):
                raise TypeError(f"{name}: got {type(value).__name__}; expected a Dataset or None")

    def items(self) -> list[tuple[str, Dataset]]:
        """The splits that are present, as ``(name, dataset)`` in order train, valid, blend, test."""
        names = ("train", "valid", "blend", "test")
        return [(name, getattr(self, name)) for name in names if getattr(self, name) is not None]


def concatenate(datasets: list[Dataset]) -> Dataset:
    """One dataset with the rows of ``datasets`` in order (their class names, name and meta are
    the first one's; ``meta["paths"]`` is joined).

    Raises:
        DataError: no datasets, or inputs / targets of different structure.

    Example:
        >>> a = Dataset(x=np.zeros((2, 3)), y=np.array([0, 1]))
        >>> len(concatenate([a, a.take([0])]))
        3
    """
    if not datasets:
        raise DataError("datasets: got none; expected at least one Dataset to concatenate")
    first = datasets[0]

    def join(values: list[Any]) -> Any:
        if values[0] is None:
            return None
        if isinstance(values[0], dict):
            if any(not isinstance(v, dict) or set(v) != set(values[0]) for v in values):
                shapes = [sorted(v) if isinstance(v, dict) else type(v).__name__ for v in values]
                raise DataError(f"datasets: inputs of different structure ({shapes}); "
                                "expected the same named arrays in every dataset")
            return {key: np.concatenate([np.asarray(v[key]) for v in values]) for key in values[0]}
        return np.concatenate([np.asarray(v) for v in values])

    meta = dict(first.meta)
    if all("paths" in d.meta for d in datasets):
        meta["paths"] = [p for d in datasets for p in d.meta["paths"]]
    return dataclasses.replace(first, x=join([d.x for d in datasets]), y=join([d.y for d in datasets]), meta=meta)

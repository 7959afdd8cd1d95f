"""A test split that can be read once: `SealedSplit`.

A test score is an honest estimate only if nothing was chosen by looking at it. Sealing the test
split makes "read once, at the end" something the code enforces rather than a convention: the
wrapper tells its length (for reports and plans) but hands out the data only through `open`,
and only once. Reading ``.x`` or ``.y`` off the wrapper, or passing it where a `Dataset` is
expected, raises `SealedSplitError`; a second `open` raises `TestSplitReadTwice`, naming where
the first one happened.

Copies do not make a second chance: ``copy.copy`` and ``copy.deepcopy`` return the same object
(one seal, shared), and pickling is refused, since a pickled copy could be opened again in
another process.

Example:
    >>> import numpy as np
    >>> from topnet.data import Dataset
    >>> test = SealedSplit(Dataset(x=np.zeros((5, 2)), y=np.arange(5)))
    >>> len(test), test.opened
    (5, False)
    >>> len(test.open().y), test.opened
    (5, True)
    >>> test.open()  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    topnet.errors.TestSplitReadTwice: the test split was already read once ...
"""
from __future__ import annotations

import threading
import traceback
from typing import Any, NoReturn

from topnet.data.dataset import Dataset
from topnet.errors import SealedSplitError, TestSplitReadTwice

__all__ = ["SealedSplit"]


class SealedSplit:
    """A `Dataset` that gives its rows out once, through `open`.

    Args:
        dataset: the split to seal (a `Dataset`).
        split: its name in messages, ``"test"`` by default.

    Attributes:
        split: as given.
        opened: whether `open` was called.

    Raises:
        TypeError: when ``dataset`` is not a `Dataset`.
    """

    def __init__(self, dataset: Dataset, split: str = "test"):
        if not isinstance(dataset, Dataset):
            raise TypeError(f"dataset: got {type(dataset).__name__}; expected a topnet.data.Dataset")
        self._dataset: Dataset | None = dataset  # dropped on open: the wrapper holds no rows after
        self._num_samples = len(dataset)
        self._opened_at: str | None = None
        self._lock = threading.Lock()
        self.split = split

    def __len__(self) -> int:
        """The number of rows, without opening."""
        return self._num_samples

    @property
    def opened(self) -> bool:
        return self._opened_at is not None

    def open(self) -> Dataset:
        """The dataset, the first time; every later call raises.

        Raises:
            TestSplitReadTwice: on the second and later calls, naming the first call's place.
        """
        caller = traceback.extract_stack(limit=2)[0]
        with self._lock:
            if self._opened_at is not None:
                raise TestSplitReadTwice(
                    f"the {self.split} split was already read once (open() at {self._opened_at}); a run reads "
                    f"{self.split} once, at the end; keep the Dataset that first open() returned, or start a new run")
            dataset, self._dataset = self._dataset, None
            self._opened_at = f"{caller.filename}:{caller.lineno}"
        return dataset

    def __getattr__(self, name: str) -> NoReturn:
        # only for names the wrapper lacks: .x, .y, .take, .class_names... Private and special
        # names stay AttributeErrors, so copy, pickle and hasattr probes work as usual.
        if name.startswith("_"):
            raise AttributeError(name)
        split = self.__dict__.get("split", "test")  # __dict__: no recursion on a half-made object
        state = "was already opened" if self.__dict__.get("_opened_at") else "is sealed"
        raise SealedSplitError(f"{split} split: got .{name} on a SealedSplit; the split {state}, so its rows are "
                               f"read only through open(), once, at the end of a run; use the Dataset that open() "
                               f"returns")

    def __copy__(self) -> SealedSplit:
        return self  # one seal: a copy that could be opened again would defeat it

    def __deepcopy__(self, memo: dict[int, Any]) -> SealedSplit:
        return self

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        raise TypeError(f"cannot pickle a SealedSplit ({self.split} split, {len(self)} rows): a pickled copy could "
                        f"be opened again in another process; open() it in the process that scores the "
                        f"{self.split} split, or pickle the Dataset before sealing it")

    def __repr__(self) -> str:
        return f"SealedSplit({self.split!r}, {len(self)} rows, {'opened' if self.opened else 'sealed'})"

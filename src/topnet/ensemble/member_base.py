"""The interface every ensemble member implements, and the tasks an ensemble can do.

A member gives class probabilities (or regression values) for a split. The kinds
(``NetworkMember`` in members.py, ``LightGBMMember`` in boosted.py, ``LinearMember`` in
linear.py) derive from ``Member`` here; members.py knows all of them, to load one by its kind.

Example:
    >>> from topnet.data import Dataset
    >>> class Constant(Member):
    ...     kind = "constant"
    ...     def predict(self, x):
    ...         return np.full((len(x), 2), 0.5)
    >>> Constant("half").predict_split("valid", Dataset(np.zeros((3, 1)), np.zeros(3))).shape
    (3, 2)
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from topnet.errors import format_message

__all__ = ["Member", "TASKS"]

TASKS = ("classification", "regression")


class Member:
    """Base class of ensemble members; subclasses set ``kind`` and implement the methods.

    Args:
        name: unique within an ensemble; used in tables, weights and file names.
        task: ``"classification"`` or ``"regression"``.
    """

    kind: ClassVar[str] = ""

    def __init__(self, name: str, task: str = "classification") -> None:
        self.name = name
        self.task = task

    def _check(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(format_message("name", self.name, "a non-empty string"))
        if self.task not in TASKS:
            raise ValueError(format_message("task", self.task, "'classification' or 'regression'"))

    @property
    def is_fitted(self) -> bool:
        """Whether ``predict`` can be called (networks come trained)."""
        return True

    def fit(self, train: Any, valid: Any = None) -> Member:
        """Train on ``train`` (a ``Dataset``), using ``valid`` for early stopping where it applies."""
        return self

    def predict(self, x: Any) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def predict_split(self, split: str, dataset: Any) -> np.ndarray:
        """``predict(dataset.x)``, cached under ``split`` while the same ``dataset`` object is passed."""
        cache = self.__dict__.setdefault("_cache", {})
        hit = cache.get(split)
        if hit is None or hit[0] is not dataset:
            cache[split] = (dataset, self.predict(dataset.x))
        return cache[split][1]

    def clear_cache(self) -> None:
        """Forget cached split predictions."""
        self.__dict__.pop("_cache", None)

    def config(self) -> dict[str, Any]:
        """The JSON that ``load_member`` needs besides the member's files."""
        return {"kind": self.kind, "name": self.name, "task": self.task}

    def save(self, directory: str | Path) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def load(cls, directory: str | Path, config: dict[str, Any], **options: Any) -> Member:  # pragma: no cover
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, task={self.task!r})"

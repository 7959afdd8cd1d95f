"""`BaggedMember`: k-fold bagging of any member, with out-of-fold predictions.

On a small table every row counts twice: a model needs it to learn, and the ensemble's weights
need it to be fitted honestly. k-fold bagging (AutoGluon's answer) gives both: the rows are
dealt into k folds; model j trains on the other k − 1 folds and predicts fold j, so every row
gets an *out-of-fold* (OOF) prediction from a model that never trained on it, and the weights
or the stacker are fitted on those. New rows get the mean of the k models' predictions.

Early stopping uses an inner slice of the k − 1 training folds, never the held-out fold, so not
even a stopping decision has looked at the rows a prediction is made for (AutoGluon stops on
the held-out fold; that leaks its labels into the iteration count). ``predict_split`` with the
very dataset the member was fitted on returns the OOF predictions, so an `Ensemble` fitted on
``Splits(blend=that dataset)`` fits its combiner on them.

Repeated bagging (AutoGluon's ``num_bag_sets``): with ``repeats`` > 1 and a time box
(``seconds``), the member deals the rows into new folds (another seed) and trains another k
models while one more set is expected to fit; each row's OOF prediction is then the mean over
the sets of predictions from models that never saw it, and new rows get the mean of all k × r
models. On a small table this spends the time a run has left on variance, where it pays.

Example:
    >>> import numpy as np
    >>> from topnet.data import Dataset
    >>> from topnet.ensemble.linear import LinearMember
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(60, 3)).astype(np.float32)
    >>> pool = Dataset(x=x, y=(x[:, 0] > 0).astype(np.int64))
    >>> bagged = BaggedMember(lambda name: LinearMember(name), name="linear-bag", num_folds=3).fit(pool)
    >>> bagged.predict_split("blend", pool).shape, len(bagged.members_)
    ((60, 2), 3)
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import time

import numpy as np

from topnet.atomic import atomic_write_bytes
from topnet.ensemble.member_base import Member
from topnet.ensemble.selection import fold_ids
from topnet.errors import format_message
from topnet.seeding import derive_seed

__all__ = ["BaggedMember", "OOF_FILE"]

OOF_FILE = "out_of_fold.npy"


class BaggedMember(Member):
    """``num_folds`` copies of a member, each trained without one fold.

    Args:
        factory: ``factory(name) -> Member``, an unfitted member (each fold gets a fresh one).
        name / task: as for every member.
        num_folds: k (fewer when the data has fewer than 2k rows).
        seed: seeds the folds and the inner early-stopping slices.
        inner_valid: the fraction of each fold model's training rows held back for its early
            stopping (0: no validation set is passed to the fold models).
        repeats: the most sets of k fold models (each set its own folds); more than one only
            with ``seconds``.
        seconds: the time box of ``fit``: another set starts only while the sets so far say it
            ends within it (None: exactly ``repeats`` sets).

    Attributes:
        members_: the fitted fold members, k per set, set after set.
        fold_ids_: each training row's fold in the first set; ``fold_sets_``: the folds of every set.
        oof_: the out-of-fold predictions of the training rows, ``(rows, classes)`` or ``(rows,)``
            (the mean over the sets).
        sets_: how many sets were trained; seconds_: how long ``fit`` took.
    """

    kind = "bagged"

    def __init__(self, factory: Callable[[str], Member] | None, name: str = "bagged", task: str = "classification",
                 *, num_folds: int = 5, seed: int = 0, inner_valid: float = 0.1, repeats: int = 1,
                 seconds: float | None = None):
        super().__init__(name, task)
        self.factory = factory
        self.num_folds = num_folds
        self.seed = seed
        self.inner_valid = inner_valid
        self.repeats = repeats
        self.seconds = seconds

    @property
    def is_fitted(self) -> bool:
        return bool(getattr(self, "members_", None))

    def fit(self, train: Any, valid: Any = None) -> BaggedMember:
        """Train the k fold members on ``train`` and record the out-of-fold predictions.

        ``valid`` is not used: every fold member stops early on a slice of its own training rows.

        Raises:
            ValueError: no factory, a bad ``num_folds``, ``inner_valid`` or ``repeats``.
        """
        self._check()
        if self.factory is None:
            raise ValueError(format_message("factory", None, "a callable name -> unfitted Member",
                                            "a loaded BaggedMember predicts; build a new one to fit"))
        if not 0 <= self.inner_valid < 0.5:
            raise ValueError(format_message("inner_valid", self.inner_valid, "a fraction in [0, 0.5)"))
        if isinstance(self.repeats, bool) or not isinstance(self.repeats, int) or self.repeats < 1:
            raise ValueError(format_message("repeats", self.repeats, "a positive int (sets of k fold models)"))
        started = time.monotonic()
        y = np.asarray(train.y)
        self.members_, self.fold_sets_, total = [], [], None
        while True:
            repeat = len(self.fold_sets_)
            folds = fold_ids(y, self.num_folds, seed=self.seed if repeat == 0 else derive_seed(self.seed, "set", repeat),
                             stratify=self.task == "classification", what="training rows")
            predicted = self._fit_set(train, folds, repeat)
            total = predicted if total is None else total + predicted
            self.fold_sets_.append(folds)
            took = time.monotonic() - started
            sets = len(self.fold_sets_)
            if sets >= self.repeats or (self.seconds is not None and took / sets > self.seconds - took):
                break
        self.fold_ids_, self.sets_, self.seconds_ = self.fold_sets_[0], len(self.fold_sets_), round(took, 3)
        self.oof_, self._fitted_on = total / len(self.fold_sets_), train
        self.clear_cache()
        return self

    def _fit_set(self, train: Any, folds: np.ndarray, repeat: int) -> np.ndarray:
        """One set of fold members (appended to ``members_``); the out-of-fold predictions it gives."""
        oof = None
        for fold in range(int(folds.max()) + 1):
            held = np.flatnonzero(folds == fold)
            fit_rows, stop_rows = self._inner_split(np.flatnonzero(folds != fold), fold + repeat * self.num_folds)
            member = self.factory(f"{self.name}-f{fold}" if repeat == 0 else f"{self.name}-r{repeat}-f{fold}")
            member.fit(train.take(fit_rows), train.take(stop_rows) if len(stop_rows) else None)
            predicted = np.asarray(member.predict(train.take(held).x), dtype=np.float64)
            if oof is None:
                oof = np.full((len(folds),) + predicted.shape[1:], np.nan)
            oof[held] = predicted
            self.members_.append(member)
        return oof

    def _inner_split(self, rows: np.ndarray, fold: int) -> tuple[np.ndarray, np.ndarray]:
        """``rows`` split into (training rows, early-stopping rows) for fold ``fold``'s member."""
        count = int(round(self.inner_valid * len(rows)))
        if count < 1:
            return rows, rows[:0]
        rng = np.random.default_rng(derive_seed(self.seed, "inner valid", fold))
        shuffled = rng.permutation(rows)
        return np.sort(shuffled[count:]), np.sort(shuffled[:count])

    def predict(self, x: Any) -> np.ndarray:
        """The mean of the fold members' predictions for new rows."""
        if not self.is_fitted:
            raise ValueError(f"bagged member {self.name!r} is not fitted yet; call fit(train) first")
        return np.mean([np.asarray(m.predict(x), dtype=np.float64) for m in self.members_], axis=0)

    def predict_split(self, split: str, dataset: Any) -> np.ndarray:
        """The out-of-fold predictions for the dataset the member was fitted on; otherwise the
        fold members' mean (cached per split, as for every member)."""
        if dataset is self.__dict__.get("_fitted_on"):
            return self.oof_
        return super().predict_split(split, dataset)

    def attach(self, dataset: Any) -> None:
        """Mark ``dataset`` as the rows this member was fitted on (a reloaded member: its
        ``predict_split`` then gives their out-of-fold predictions again).

        Raises:
            ValueError: ``dataset`` has another number of rows than the out-of-fold predictions.
        """
        if len(dataset) != len(self.oof_):
            raise ValueError(format_message("dataset", f"{len(dataset)} rows", f"the {len(self.oof_)} rows "
                                            f"bagged member {self.name!r} was fitted on"))
        self._fitted_on = dataset

    def set_out_of_fold(self, split: str, dataset: Any, rows: Any) -> None:
        """Let ``predict_split(split, dataset)`` give the out-of-fold predictions of ``rows`` (the
        fitted rows ``dataset`` holds): a part of the pool, scored by models that never saw it."""
        if not hasattr(self, "oof_"):
            raise ValueError(f"bagged member {self.name!r} has no out-of-fold predictions; fit it first")
        self.__dict__.setdefault("_cache", {})[split] = (dataset, self.oof_[np.asarray(rows)])

    def config(self) -> dict[str, Any]:
        return {**super().config(), "num_folds": self.num_folds, "seed": self.seed, "inner_valid": self.inner_valid,
                "repeats": self.repeats, "seconds": self.seconds, "sets": getattr(self, "sets_", None)}

    def save(self, directory: str | Path) -> dict[str, Any]:
        """Each fold member in ``fold-J/`` and the out-of-fold predictions; returns the JSON config."""
        if not self.is_fitted:
            raise ValueError(f"bagged member {self.name!r} is not fitted yet; fit it before saving")
        directory = Path(directory)
        folds = []
        for index, member in enumerate(self.members_):
            (directory / f"fold-{index}").mkdir(parents=True, exist_ok=True)
            folds.append(member.save(directory / f"fold-{index}"))
        buffer = _npy_bytes(self.oof_)
        atomic_write_bytes(directory / OOF_FILE, buffer)
        return {**self.config(), "folds": folds}

    @classmethod
    def load(cls, directory: str | Path, config: dict[str, Any], *, load_member: Callable[..., Member],
             **options: Any) -> BaggedMember:
        """A saved bagged member (``load_member`` restores each fold member by its kind)."""
        directory = Path(directory)
        member = cls(None, config["name"], config["task"], num_folds=config.get("num_folds", 5),
                     seed=config.get("seed", 0), inner_valid=config.get("inner_valid", 0.1),
                     repeats=config.get("repeats", 1), seconds=config.get("seconds"))
        member.sets_ = config.get("sets") or 1
        member.members_ = [load_member(directory / f"fold-{index}", fold, **options)
                           for index, fold in enumerate(config["folds"])]
        member.oof_ = np.load(directory / OOF_FILE, allow_pickle=False)
        return member


def _npy_bytes(array: np.ndarray) -> bytes:
    import io

    handle = io.BytesIO()
    np.save(handle, array, allow_pickle=False)
    return handle.getvalue()

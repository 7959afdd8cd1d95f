"""A k-nearest-neighbours member on standardised features, with k chosen on valid.

Neighbours see a table as distances between whole rows, unlike trees (one column at a time)
and networks; AutoGluon keeps them in its table ensembles for that reason. Categorical codes
are one-hot encoded and every feature is standardised with train's mean and spread (as in the
linear member). scikit-learn's ``NearestNeighbors`` finds the neighbours; the member averages
their targets itself (uniform weights, or ``1 / distance`` with exact matches taking all the
weight, scikit-learn's rule), so it can score every candidate k from one neighbour search.

With a valid split, k is chosen among ``candidates`` by valid log-loss (MSE for regression);
the valid rows are searched a block at a time until ``time_limit``. The member is its
(standardised) training rows: saving writes them and the statistics to safetensors, and
loading rebuilds the neighbour index from them, so nothing is pickled.

Example:
    >>> from topnet.data import Dataset
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(200, 2)); y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    >>> member = KNNMember(candidates=(3, 15)).fit(Dataset(x[:150], y[:150]), Dataset(x[150:], y[150:]))
    >>> member.num_neighbors_ in (3, 15), member.predict(x[:2]).shape
    (True, (2, 2))
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from topnet.ensemble._optional import require
from topnet.ensemble._tasks import TimeBox, classification_targets, not_fitted, regression_targets
from topnet.ensemble.features import categorical_sizes, design_matrix
from topnet.ensemble.member_base import Member
from topnet.errors import format_message

__all__ = ["KNNMember", "neighbour_average"]

ARRAYS_FILE = "neighbours.safetensors"
_ARRAYS = ("mean_", "scale_", "train_x_", "train_y_")
_ROWS_PER_STEP = 1024  # rows searched at once (predict and the valid search)
_EPS = 1e-15  # log-loss clip: a k-NN gives exact zeros


def neighbour_average(targets: np.ndarray, distances: np.ndarray, weights: str) -> np.ndarray:
    """The weighted mean of each row's neighbours' targets.

    Args:
        targets: ``(rows, k, outputs)``: one-hot classes, or regression values.
        distances: ``(rows, k)``.
        weights: ``"uniform"``, or ``"distance"`` (``1 / d``; a row with exact matches uses only them).

    Returns:
        ``(rows, outputs)``.

    Example:
        >>> neighbour_average(np.array([[[1.0], [3.0]]]), np.array([[1.0, 3.0]]), "distance").tolist()
        [[1.5]]
    """
    if weights == "uniform":
        return targets.mean(axis=1)
    with np.errstate(divide="ignore"):
        w = 1.0 / distances
    exact = np.isinf(w)
    matched = exact.any(axis=1)
    w[matched] = exact[matched]
    return (w[:, :, None] * targets).sum(axis=1) / w.sum(axis=1, keepdims=True)


class KNNMember(Member):
    """k nearest neighbours (scikit-learn's search) as an ensemble member.

    Args:
        name: member name.
        task: ``"classification"`` (neighbours' class frequencies) or ``"regression"`` (their
            mean target; several targets allowed).
        num_neighbors: k when ``fit`` gets no valid split (or ``candidates`` is empty).
        candidates: the values of k tried on valid; the lowest valid loss wins.
        weights: ``"uniform"`` or ``"distance"``.
        num_threads: parallel jobs of the neighbour search (0: all cores).
        time_limit: stop searching valid rows when the next block would end past this many
            seconds (None: no limit); k is chosen on the rows searched, at least one block.

    Attributes:
        num_neighbors_: the k used; valid_losses_: ``{k: loss}`` of the candidates;
        valid_rows_scored_; mean_, scale_: the standardisation; train_x_ (standardised),
        train_y_ (one-hot classes or values) ``(N, outputs)``; num_classes_; outputs_.
    """

    kind = "knn"

    def __init__(self, name: str = "knn", task: str = "classification", *, num_neighbors: int = 10,
                 candidates: Sequence[int] = (5, 10, 20, 40), weights: str = "uniform", num_threads: int = 0,
                 time_limit: float | None = None) -> None:
        super().__init__(name, task)
        for k in (num_neighbors, *candidates):
            if not isinstance(k, int) or k < 1:
                raise ValueError(format_message("num_neighbors / candidates", k, "positive ints"))
        if weights not in ("uniform", "distance"):
            raise ValueError(format_message("weights", weights, "'uniform' or 'distance'"))
        self.num_neighbors = num_neighbors
        self.candidates = tuple(candidates)
        self.weights = weights
        self.num_threads = num_threads
        self.time_limit = time_limit

    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "index_")

    def _standard(self, x: Any) -> np.ndarray:
        one_hot = self.categorical_sizes_ is not None
        return (design_matrix(x, self.categorical_sizes_, one_hot=one_hot) - self.mean_) / self.scale_

    def _build_index(self) -> None:
        neighbors = require("sklearn.neighbors", "scikit-learn", "the k-NN member")
        self.index_ = neighbors.NearestNeighbors(n_jobs=self.num_threads or -1).fit(self.train_x_)

    def _average(self, distances: np.ndarray, indices: np.ndarray, k: int) -> np.ndarray:
        return neighbour_average(self.train_y_[indices[:, :k]], distances[:, :k], self.weights)

    def _valid_loss(self, outputs: np.ndarray, y: np.ndarray) -> float:
        if self.task == "regression":
            return float(np.mean((outputs - y) ** 2))
        seen = y < outputs.shape[1]  # a valid class absent from train's ids gets probability 0
        p = np.where(seen, outputs[np.arange(len(y)), np.where(seen, y, 0)], 0.0)
        return float(-np.mean(np.log(np.clip(p, _EPS, 1.0))))

    def _choose_k(self, valid: Any, box: TimeBox) -> int:
        """The candidate with the lowest loss on the valid rows searched within the time limit."""
        candidates = sorted({k for k in self.candidates if k <= len(self.train_x_)}) or [len(self.train_x_)]
        x, y = self._standard(valid.x), np.asarray(valid.y)
        y = y.astype(np.int64) if self.task == "classification" else y.reshape(len(y), -1).astype(np.float64)
        totals = dict.fromkeys(candidates, 0.0)
        scored = 0
        while scored < len(x) and (scored == 0 or box.fits_another()):
            block = slice(scored, scored + _ROWS_PER_STEP)
            distances, indices = self.index_.kneighbors(x[block], n_neighbors=candidates[-1])
            for k in candidates:
                totals[k] += self._valid_loss(self._average(distances, indices, k), y[block]) * len(y[block])
            scored += len(y[block])
            box.step_done()
        self.valid_losses_ = {k: total / scored for k, total in totals.items()}
        self.valid_rows_scored_ = scored
        return min(candidates, key=self.valid_losses_.__getitem__)

    def fit(self, train: Any, valid: Any = None) -> KNNMember:
        """Keep ``train``'s standardised rows; with ``valid``, choose k among ``candidates``."""
        self._check()
        box = TimeBox(self.time_limit)
        self.categorical_sizes_ = categorical_sizes(train)
        features = design_matrix(train.x, self.categorical_sizes_, one_hot=self.categorical_sizes_ is not None)
        self.mean_, scale = features.mean(axis=0), features.std(axis=0)
        self.scale_ = np.where(scale > 0, scale, 1.0)
        self.train_x_ = (features - self.mean_) / self.scale_
        if self.task == "regression":
            y, self.num_classes_ = regression_targets(train, multi_output=True), 0
            self.outputs_ = y.shape[1] if y.ndim == 2 else 1
            self.train_y_ = y.reshape(len(y), -1)
        else:
            y, self.num_classes_ = classification_targets(train)
            self.outputs_, self.train_y_ = 1, np.eye(self.num_classes_)[y]
        self._build_index()
        self.valid_losses_, self.valid_rows_scored_ = {}, 0
        if valid is not None and len(valid) and self.candidates:
            self.num_neighbors_ = self._choose_k(valid, box)
        else:
            self.num_neighbors_ = min(self.num_neighbors, len(self.train_x_))
        self.clear_cache()
        return self

    def predict(self, x: Any) -> np.ndarray:
        if not self.is_fitted:
            raise not_fitted("k-NN", self.name)
        standard = self._standard(x)
        out = np.empty((len(standard), self.train_y_.shape[1]))
        for start in range(0, len(standard), _ROWS_PER_STEP):
            rows = standard[start:start + _ROWS_PER_STEP]
            distances, indices = self.index_.kneighbors(rows, n_neighbors=self.num_neighbors_)
            out[start:start + len(rows)] = self._average(distances, indices, self.num_neighbors_)
        return out[:, 0] if self.task == "regression" and self.outputs_ == 1 else out

    def config(self) -> dict[str, Any]:
        return {**super().config(), "num_neighbors": self.num_neighbors, "candidates": list(self.candidates),
                "weights": self.weights, "num_threads": self.num_threads, "time_limit": self.time_limit,
                "num_neighbors_chosen": getattr(self, "num_neighbors_", None),
                "num_classes": getattr(self, "num_classes_", None), "outputs": getattr(self, "outputs_", None),
                "categorical_sizes": getattr(self, "categorical_sizes_", None)}

    def save(self, directory: str | Path) -> dict[str, Any]:
        """Write the standardisation and training rows (``neighbours.safetensors``); return the JSON config."""
        from safetensors.numpy import save

        from topnet.io import atomic_write_bytes

        if not self.is_fitted:
            raise not_fitted("k-NN", self.name)
        arrays = {key.rstrip("_"): np.ascontiguousarray(getattr(self, key)) for key in _ARRAYS}
        Path(directory).mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(Path(directory) / ARRAYS_FILE, save(arrays))
        return self.config()

    @classmethod
    def load(cls, directory: str | Path, config: dict[str, Any], **options: Any) -> KNNMember:
        from safetensors.numpy import load

        member = cls(config["name"], config["task"], num_neighbors=config.get("num_neighbors", 10),
                     candidates=config.get("candidates", ()), weights=config.get("weights", "uniform"),
                     num_threads=config.get("num_threads", 0), time_limit=config.get("time_limit"))
        arrays = load((Path(directory) / ARRAYS_FILE).read_bytes())
        for key in _ARRAYS:
            setattr(member, key, arrays[key.rstrip("_")])
        member.num_neighbors_ = int(config["num_neighbors_chosen"])
        member.num_classes_, member.outputs_ = int(config.get("num_classes") or 0), int(config.get("outputs") or 1)
        member.categorical_sizes_ = config.get("categorical_sizes")
        member._build_index()
        return member

"""Combiners: how the members' predictions become one, fitted on the blend split only.

Every combiner takes the members' predictions stacked as ``(members, rows, columns)`` (class
probabilities, or regression values with one column per output) and the blend targets:

- ``UniformAverage``: the plain mean (nothing fitted).
- ``WeightedAverage``: weights on the simplex minimising the log-loss (MSE for regression),
  found by Nelder–Mead on a softmax parametrisation ``w = softmax([0, theta])`` (the first
  logit is pinned at 0, so the ``M - 1`` free parameters are identifiable).
- ``CaruanaSelection``: greedy forward selection with replacement (Caruana et al., 2004):
  each round adds the member that most lowers the loss of the running average; the weights
  are the counts of the best prefix of rounds.
- ``Stacking``: a logistic regression on the members' log-probabilities (a ridge on their values
  for regression).

``fit`` sees only what it is given: the ensemble passes blend predictions, so no weight can
depend on test labels. ``select_combiner`` (selection.py) cross-validates them within blend.

Example:
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 3, 200)
    >>> good, noise = 0.7 * np.eye(3)[y] + 0.1, np.full((200, 3), 1 / 3)
    >>> combiner = WeightedAverage().fit(np.stack([good, noise]), y)
    >>> bool(combiner.weights_[0] > 0.9), combiner.combine(np.stack([good, noise])).shape
    (True, (200, 3))
"""
from __future__ import annotations

import warnings

from typing import Any, ClassVar

import numpy as np

from topnet.ensemble._optional import require
from topnet.ensemble.temperature import (check_labels, log_loss, log_probabilities, mean_squared_error, softmax,
                                         true_class_log_loss)
from topnet.errors import format_message, unknown_name

__all__ = ["Combiner", "UniformAverage", "WeightedAverage", "CaruanaSelection", "Stacking", "COMBINERS",
           "get_combiner", "stack_predictions", "loss_function"]

TASKS = ("classification", "regression")


def stack_predictions(predictions: Any) -> np.ndarray:
    """Predictions as float64 ``(members, rows, columns)``; ``(members, rows)`` gets one column.

    C-contiguous: rows picked with a mask (``stacked[:, mask]``, cross-fitting) are not, and a
    combiner's ``tensordot`` would copy them on every call."""
    stacked = np.ascontiguousarray(predictions, dtype=np.float64)
    if stacked.ndim == 2:
        stacked = stacked[:, :, None]
    if stacked.ndim != 3 or 0 in stacked.shape or not np.all(np.isfinite(stacked)):
        raise ValueError(format_message("predictions", f"shape {stacked.shape}",
                                        "finite (members, rows, columns) values, none empty"))
    return stacked


def loss_function(task: str):
    """``log_loss`` for classification, ``mean_squared_error`` for regression."""
    if task not in TASKS:
        raise ValueError(format_message("task", task, "'classification' or 'regression'"))
    if task == "classification":
        return log_loss
    return lambda p, y: mean_squared_error(p, np.asarray(y, dtype=np.float64).reshape(p.shape))


class Combiner:
    """Base class: ``fit(predictions, y, task)`` then ``combine(predictions)``.

    Subclasses store constructor arguments as-is; learned attributes end in ``_``;
    ``state_dict`` / ``load_state_dict`` carry them as JSON (no pickle).
    """

    name: ClassVar[str] = ""
    _learned: ClassVar[tuple[str, ...]] = ("weights_",)

    def fit(self, predictions: Any, y: Any, task: str = "classification") -> Combiner:
        stacked = stack_predictions(predictions)
        self.task_, self.num_members_ = task, stacked.shape[0]
        self._fit(stacked, np.asarray(y), loss_function(task))
        return self

    def _fit(self, stacked: np.ndarray, y: np.ndarray, loss) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def combine(self, predictions: Any) -> np.ndarray:
        """The combined prediction ``(rows, columns)`` from ``(members, rows, columns)``."""
        if not hasattr(self, "num_members_"):
            raise ValueError(f"this {type(self).__name__} is not fitted yet; call fit(blend_predictions, y_blend) first")
        stacked = stack_predictions(predictions)
        if stacked.shape[0] != self.num_members_:
            raise ValueError(format_message("predictions", f"{stacked.shape[0]} members",
                                            f"the {self.num_members_} members it was fitted on, in the same order"))
        return self._combine(stacked)

    def _combine(self, stacked: np.ndarray) -> np.ndarray:
        return np.tensordot(self.weights_, stacked, axes=1)

    def get_params(self) -> dict[str, Any]:
        """The constructor arguments."""
        return {key: value for key, value in vars(self).items() if not key.endswith("_") and not key.startswith("_")}

    def state_dict(self) -> dict[str, Any]:
        """JSON-ready ``{"name", "params", "task", "num_members", learned arrays as lists}``."""
        state = {"name": self.name, "params": self.get_params(), "task": self.task_, "num_members": self.num_members_}
        state.update({key: np.asarray(getattr(self, key)).tolist() for key in self._learned})
        return state

    def load_state_dict(self, state: dict[str, Any]) -> Combiner:
        self.task_, self.num_members_ = state["task"], int(state["num_members"])
        for key in self._learned:
            setattr(self, key, np.asarray(state[key], dtype=np.float64))
        return self

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_params().items())})"


class UniformAverage(Combiner):
    """The mean of the members' predictions (Chollet's first ensemble)."""

    name = "uniform"

    def _fit(self, stacked, y, loss) -> None:
        self.weights_ = np.full(stacked.shape[0], 1.0 / stacked.shape[0])


class WeightedAverage(Combiner):
    """A weighted mean with weights on the simplex, fitted by Nelder–Mead on the blend loss.

    Args:
        max_iter: Nelder–Mead iterations per start (None: ``400 * members``).
        restarts: extra starts from the previous optimum (Nelder–Mead can stall; a restart
            rebuilds the simplex around the best point).
    """

    name = "weighted"

    def __init__(self, max_iter: int | None = None, restarts: int = 2) -> None:
        self.max_iter = max_iter
        self.restarts = restarts

    def _fit(self, stacked, y, loss) -> None:
        minimize = require("scipy.optimize", "scipy", "the weighted (Nelder–Mead) combiner").minimize
        num_members = stacked.shape[0]
        if num_members == 1:
            self.weights_ = np.ones(1)
            return
        objective = _weights_objective(stacked, y, loss, self.task_)
        theta = np.zeros(num_members - 1)  # the uniform average
        options = {"maxiter": self.max_iter or 400 * num_members, "xatol": 1e-6, "fatol": 1e-12,
                   "adaptive": num_members > 4}
        for _ in range(1 + self.restarts):
            result = minimize(objective, theta, method="Nelder-Mead", options=options)
            improved = objective(theta) - result.fun
            theta = result.x
            if improved < 1e-12:
                break
        self.weights_ = _simplex(theta)


def _weights_objective(stacked: np.ndarray, y: np.ndarray, loss, task: str):
    """``theta -> loss(weighted mean of the members, y)``, the weighted mean taken ``_simplex(theta)``.

    Nelder–Mead calls it thousands of times. For classification only each row's true-class
    probabilities enter the log-loss (a mean with weights summing to 1 is a distribution
    again), so they are picked once and the objective is a (members,) × (members, rows)
    product and a log: the same value as ``log_loss`` of the whole mean.
    """
    if task == "classification":
        labels = check_labels(y, stacked.shape[2], stacked.shape[1])
        true = np.ascontiguousarray(stacked[:, np.arange(len(labels)), labels])
        return lambda theta: true_class_log_loss(_simplex(theta) @ true)
    return lambda theta: loss(np.tensordot(_simplex(theta), stacked, axes=1), y)


def _simplex(theta: np.ndarray) -> np.ndarray:
    """Weights ``softmax([0, *theta])``: positive and summing to 1."""
    return softmax(np.concatenate([[0.0], theta]))


class CaruanaSelection(Combiner):
    """Caruana's greedy ensemble selection with replacement; weights are the best prefix's counts.

    Args:
        rounds: members added one at a time (with replacement); the prefix of rounds with the
            lowest blend loss is kept (earliest on ties).

    Attributes:
        weights_: counts of each member in the best prefix, divided by its length.
        losses_: the loss after each round.
    """

    name = "caruana"
    _learned = ("weights_", "losses_")

    def __init__(self, rounds: int = 25) -> None:
        self.rounds = rounds

    def _fit(self, stacked, y, loss) -> None:
        if not isinstance(self.rounds, int) or self.rounds < 1:
            raise ValueError(format_message("rounds", self.rounds, "a positive int", "e.g. rounds=25"))
        total = np.zeros_like(stacked[0])
        counts, history, losses = np.zeros(stacked.shape[0]), [], []
        for size in range(1, self.rounds + 1):
            candidates = [loss((total + member) / size, y) for member in stacked]
            best = int(np.argmin(candidates))  # first minimum: the lowest index wins ties
            counts[best] += 1
            total += stacked[best]
            history.append(counts.copy())
            losses.append(candidates[best])
        prefix = int(np.argmin(losses))
        self.weights_ = history[prefix] / (prefix + 1)
        self.losses_ = np.asarray(losses)


class Stacking(Combiner):
    """A second-level model on the members' predictions: multinomial logistic regression on
    their log-probabilities (classification) or a ridge regression on their values.

    Args:
        C: inverse L2 strength of the logistic regression (scikit-learn's meaning).
        alpha: L2 strength of the ridge (regression).
        max_iter: solver iterations.

    Attributes:
        coef_: ``(outputs, members * columns)``; intercept_: ``(outputs,)``;
        classes_: the class ids the logistic regression saw (columns of other classes get 0).
    """

    name = "stacking"
    _learned = ("coef_", "intercept_", "classes_", "num_columns_")

    def __init__(self, C: float = 1.0, alpha: float = 1.0, max_iter: int = 300) -> None:
        self.C = C
        self.alpha = alpha
        self.max_iter = max_iter

    def _features(self, stacked: np.ndarray) -> np.ndarray:
        # log-probabilities floored at log(1e-6): a tree member's near-zero probabilities would
        # otherwise give features of -30 and worse, which the solver struggles with
        values = np.maximum(log_probabilities(stacked), np.log(1e-6)) if self.task_ == "classification" else stacked
        return values.transpose(1, 0, 2).reshape(stacked.shape[1], -1)  # (rows, members * columns)

    def _fit(self, stacked, y, loss) -> None:
        linear_model = require("sklearn.linear_model", "scikit-learn", "the stacking combiner")
        features, self.num_columns_ = self._features(stacked), stacked.shape[2]
        if self.task_ == "regression":
            model = linear_model.Ridge(alpha=self.alpha).fit(features, y.reshape(len(features), -1))
            self.coef_, self.intercept_ = np.atleast_2d(model.coef_), np.atleast_1d(model.intercept_)
            self.classes_ = np.zeros(0)
            return
        self.classes_ = np.unique(y)
        if len(self.classes_) == 1:  # nothing to separate: predict that class
            self.coef_, self.intercept_ = np.zeros((1, features.shape[1])), np.zeros(1)
            return
        exceptions = require("sklearn.exceptions", "scikit-learn", "the stacking combiner")
        with warnings.catch_warnings():  # an unconverged fit is still a usable one; blend loss judges it
            warnings.simplefilter("ignore", exceptions.ConvergenceWarning)
            model = linear_model.LogisticRegression(C=self.C, max_iter=self.max_iter).fit(features, y)
        self.coef_, self.intercept_ = model.coef_, model.intercept_

    def _combine(self, stacked: np.ndarray) -> np.ndarray:
        scores = self._features(stacked) @ np.asarray(self.coef_).T + self.intercept_
        if self.task_ == "regression":
            return scores
        classes = np.asarray(self.classes_, dtype=np.int64)
        if len(classes) == 1:
            present = np.ones((len(scores), 1))
        elif len(classes) == 2:  # scikit-learn's binary model: one score, sigmoid
            positive = 1.0 / (1.0 + np.exp(-scores[:, 0]))
            present = np.stack([1.0 - positive, positive], axis=1)
        else:
            present = softmax(scores)
        out = np.zeros((len(scores), int(self.num_columns_)))
        out[:, classes] = present
        return out


COMBINERS: dict[str, type[Combiner]] = {cls.name: cls for cls in (UniformAverage, WeightedAverage, CaruanaSelection, Stacking)}


def get_combiner(name: str, **kwargs: Any) -> Combiner:
    """A new combiner by name (``uniform``, ``weighted``, ``caruana``, ``stacking``).

    Raises:
        ValueError: unknown name (lists the known ones).
    """
    if name not in COMBINERS:
        raise unknown_name("combiner", name, COMBINERS)
    return COMBINERS[name](**kwargs)


def combiner_from_state(state: dict[str, Any]) -> Combiner:
    """Rebuild a fitted combiner from its ``state_dict``."""
    return get_combiner(state["name"], **state.get("params", {})).load_state_dict(state)

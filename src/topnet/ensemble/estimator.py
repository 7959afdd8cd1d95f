"""The ensemble as a scikit-learn estimator (exported as ``topnet.sklearn.EnsembleClassifier``).

Like ``sklearn.ensemble.StackingClassifier``, the members' held-out predictions come from
cross-validation on the training data (``cv`` folds: each row is predicted by members that did
not see it), the combiner is picked and fitted on those out-of-fold predictions with
``select_combiner`` (cross-fitted again inside, so it is scored on rows it was not fitted on),
and the members are then refitted on all the data. Any estimators with ``predict_proba``
(``predict`` for regression) can be members: ``NetClassifier``, LightGBM's, scikit-learn's.

Example:
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(120, 3)); y = (X[:, 0] + X[:, 1] ** 2 > 1).astype(int)
    >>> model = EnsembleClassifier([("lr", LogisticRegression()), ("tree", DecisionTreeClassifier(max_depth=3))])
    >>> model.fit(X, y).predict_proba(X[:2]).shape, sorted(model.scores_)
    ((2, 2), ['caruana', 'stacking', 'uniform', 'weighted'])
"""
from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.utils.validation import check_is_fitted, validate_data

from topnet.ensemble.selection import select_combiner
from topnet.ensemble.temperature import TemperatureScaling, log_probabilities, softmax
from topnet.errors import format_message
from topnet.net_estimator import NetClassifier, NetRegressor, encode_classes

__all__ = ["EnsembleClassifier", "EnsembleRegressor"]


class _EnsembleEstimator(BaseEstimator):
    task = "classification"

    def __init__(self, estimators: list[tuple[str, Any]] | None = None, combiner: Any = "auto", cv: int = 3,
                 num_folds: int = 5, temperature: bool = False, seed: int = 0) -> None:
        self.estimators = estimators
        self.combiner = combiner
        self.cv = cv
        self.num_folds = num_folds
        self.temperature = temperature
        self.seed = seed

    def _named(self) -> list[tuple[str, Any]]:
        if self.estimators is None:
            return self._default_estimators()
        named = list(self.estimators)
        if not named or any(not isinstance(e, tuple) or len(e) != 2 for e in named):
            raise ValueError(format_message("estimators", self.estimators, "a non-empty list of (name, estimator) pairs"))
        return named

    def _member_output(self, estimator: Any, X: np.ndarray) -> np.ndarray:
        if self.task == "regression":
            return np.asarray(estimator.predict(X), dtype=np.float64)
        out = np.zeros((len(X), len(self.classes_)))
        columns = np.searchsorted(self.classes_, estimator.classes_)  # a fold may miss classes
        out[:, columns] = estimator.predict_proba(X)
        return out

    def _splitter(self, y: np.ndarray):
        if not isinstance(self.cv, int) or self.cv < 2:
            raise ValueError(format_message("cv", self.cv, "an int >= 2", "e.g. cv=3"))
        stratify = self.task == "classification" and np.bincount(y).min() >= self.cv
        kind = StratifiedKFold if stratify else KFold
        return kind(n_splits=min(self.cv, len(y)), shuffle=True, random_state=self.seed % 2**32)

    def _fit(self, X: np.ndarray, y: np.ndarray, targets: np.ndarray) -> None:
        named = self._named()
        needed = max(4, 2 * self.cv if isinstance(self.cv, int) else 4)
        if len(X) < needed:
            raise ValueError(format_message("X", f"{len(X)} sample(s)", f"at least {needed} samples for cv={self.cv!r} "
                                            "and cross-fitted combiners"))
        held_out = np.zeros((len(named), len(X)) + ((len(self.classes_),) if self.task == "classification" else ()))
        for train, test in self._splitter(y).split(X, y):
            for index, (_, estimator) in enumerate(named):
                held_out[index, test] = self._member_output(clone(estimator).fit(X[train], targets[train]), X[test])
        selection = select_combiner(held_out, y, self.task, self.combiner, num_folds=self.num_folds, seed=self.seed)
        self.combiner_, self.scores_ = selection.combiner, selection.scores
        weights = getattr(self.combiner_, "weights_", None)
        self.weights_ = None if weights is None else dict(zip([n for n, _ in named], weights.tolist()))
        self.temperature_ = None
        if self.temperature and self.task == "classification":
            self.temperature_ = TemperatureScaling().fit(log_probabilities(selection.out_of_fold), y).temperature_
        self.estimators_ = [clone(estimator).fit(X, targets) for _, estimator in named]

    def _combined(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "combiner_")
        X = validate_data(self, X, reset=False)
        return self.combiner_.combine(np.stack([self._member_output(e, X) for e in self.estimators_]))


class EnsembleClassifier(ClassifierMixin, _EnsembleEstimator):
    """Estimators combined by the ensemble's combiners, fitted on out-of-fold predictions.

    Args:
        estimators: ``[(name, classifier with predict_proba), ...]``; None: a ``NetClassifier``
            and a logistic regression.
        combiner: ``"auto"`` (picked by cross-fitted log-loss), a name, or a list of names.
        cv: folds for the members' out-of-fold predictions.
        num_folds: folds for scoring the combiners within those predictions.
        temperature: fit a temperature on the chosen combiner's out-of-fold probabilities.
        seed: fold assignment.

    Attributes:
        classes_, n_features_in_, estimators_ (refitted on all rows), combiner_, scores_,
        weights_ (``{name: weight}`` or None for stacking), temperature_.
    """

    def _default_estimators(self) -> list[tuple[str, Any]]:
        from sklearn.linear_model import LogisticRegression

        return [("net", NetClassifier(model_kwargs={"hidden": [32]}, epochs=20, lr=0.01, seed=self.seed)),
                ("logistic", LogisticRegression(max_iter=1000))]

    def fit(self, X: Any, y: Any) -> EnsembleClassifier:
        """Fit members, combiner and temperature on ``X``, ``y``."""
        X, y, encoded = encode_classes(self, X, y, "to ensemble")
        self._fit(X, encoded, y)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Combined class probabilities, columns in ``classes_`` order."""
        combined = self._combined(X)
        return combined if self.temperature_ is None else softmax(log_probabilities(combined) / self.temperature_)

    def predict(self, X: Any) -> np.ndarray:
        probabilities = self.predict_proba(X)  # raises NotFittedError before classes_ is read
        return self.classes_[probabilities.argmax(axis=1)]


class EnsembleRegressor(RegressorMixin, _EnsembleEstimator):
    """Regressors combined by the ensemble's combiners (MSE), fitted on out-of-fold predictions.

    Same arguments as ``EnsembleClassifier`` (``temperature`` does not apply); None for
    ``estimators`` gives a ``NetRegressor`` and a ridge regression.
    """

    task = "regression"

    def _default_estimators(self) -> list[tuple[str, Any]]:
        from sklearn.linear_model import Ridge

        return [("net", NetRegressor(model_kwargs={"hidden": [32]}, epochs=20, lr=0.01, seed=self.seed)),
                ("ridge", Ridge())]

    def fit(self, X: Any, y: Any) -> EnsembleRegressor:
        """Fit members and combiner on ``X`` and one target ``y`` per row."""
        X, y = validate_data(self, X, y, y_numeric=True)
        y = np.asarray(y, dtype=np.float64)
        self._fit(X, y, y)
        return self

    def predict(self, X: Any) -> np.ndarray:
        return self._combined(X)[:, 0]

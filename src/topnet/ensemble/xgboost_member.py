"""An XGBoost member: gradient-boosted trees with XGBoost's own choices (depth-wise growth).

Optional: it needs the ``xgboost`` module, which ``pip install xgboost-cpu`` brings without
the multi-GB NVIDIA libraries of the ``xgboost`` wheel. Like ``LightGBMMember`` it flattens
images and keeps a table's categorical codes, here declared as categorical features
(``feature_types="c"``) so XGBoost partitions them natively. With a valid split it stops early
on the valid loss and keeps the best iteration; a callback stops it when the next round
would pass ``time_limit``. The booster is saved in XGBoost's JSON format (``model.json``) and
reloaded from those bytes right after training, so a reloaded member predicts the same numbers.

Example:
    >>> from topnet.data import Dataset
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(120, 3)); y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 1)
    >>> member = XGBoostMember(num_boost_round=20, num_threads=1).fit(Dataset(x, y))  # doctest: +SKIP
    >>> member.predict(x[:4]).shape  # doctest: +SKIP
    (4, 3)
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from topnet.ensemble._optional import require
from topnet.ensemble._tasks import TimeBox, classification_targets, not_fitted, regression_targets
from topnet.ensemble.features import categorical_columns, categorical_sizes, design_matrix
from topnet.ensemble.boosting_base import BoostedTreesMember

__all__ = ["XGBoostMember"]

MODEL_FILE = "model.json"


def _xgboost() -> Any:
    return require("xgboost", "xgboost-cpu", "the XGBoost member")


def _stop_after(box: TimeBox) -> Any:
    """An XGBoost callback that ends training when the next round would end past ``box.limit``."""
    xgb = _xgboost()

    class StopAfter(xgb.callback.TrainingCallback):
        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            box.step_done()
            return not box.fits_another()  # True stops training

    return StopAfter()


class XGBoostMember(BoostedTreesMember):
    """Gradient-boosted trees (XGBoost) as an ensemble member.

    Args:
        name: member name.
        task: ``"classification"`` (``binary:logistic`` or ``multi:softprob``) or
            ``"regression"`` (squared error, one target).
        params: XGBoost parameters that override the defaults (eta 0.1, max_depth 6,
            ``tree_method="hist"``).
        num_boost_round: the most rounds.
        early_stopping_rounds: stop when the valid loss has not improved for this many rounds
            (only when ``fit`` gets a valid split; None: never).
        seed: XGBoost's seed.
        num_threads: XGBoost threads (0: all cores).
        time_limit: stop adding rounds when the next would end past this many seconds (None:
            no limit); the rounds so far are kept.

    Attributes:
        booster_: the ``xgboost.Booster`` (cut at the best iteration); best_iteration_;
        num_classes_; categorical_sizes_.
    """

    kind = "xgboost"

    default_rounds = 200

    def __init__(self, name: str = "xgboost", task: str = "classification", **settings: Any) -> None:
        super().__init__(name, task, **settings)

    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "booster_")

    def _params(self) -> dict[str, Any]:
        params = {"eta": 0.1, "max_depth": 6, "tree_method": "hist", "seed": self.seed, "verbosity": 0}
        if self.num_threads:
            params["nthread"] = self.num_threads
        if self.task == "regression":
            params["objective"] = "reg:squarederror"
        elif self.num_classes_ == 2:
            params["objective"] = "binary:logistic"
        else:
            params.update(objective="multi:softprob", num_class=self.num_classes_)
        return {**params, **(self.params or {})}

    def _matrix(self, x: Any, y: np.ndarray | None = None) -> Any:
        features = design_matrix(x, self.categorical_sizes_)
        columns = set(categorical_columns(x))
        types = ["c" if j in columns else "q" for j in range(features.shape[1])]
        return _xgboost().DMatrix(features, y, feature_types=types, enable_categorical=bool(columns))

    def _targets(self, dataset: Any) -> np.ndarray:
        if self.task == "regression":
            return regression_targets(dataset, multi_output=False)
        y, self.num_classes_ = classification_targets(dataset)
        return y

    def fit(self, train: Any, valid: Any = None) -> XGBoostMember:
        """Train on ``train``; with ``valid``, stop early on its loss and keep the best iteration."""
        xgb = _xgboost()
        self._check()
        box = TimeBox(self.time_limit)
        self.num_classes_ = 0
        self.categorical_sizes_ = categorical_sizes(train)
        train_matrix = self._matrix(train.x, self._targets(train))
        evals, stopping = [], None
        if valid is not None:
            y_valid = (regression_targets(valid, multi_output=False) if self.task == "regression"
                       else np.asarray(valid.y).astype(np.int64))
            evals, stopping = [(self._matrix(valid.x, y_valid), "valid")], self.early_stopping_rounds
        # Early stopping runs before the time box: XGBoost stops asking its callbacks after the
        # first that ends training, and early stopping must have recorded the round it ends on.
        callbacks = [xgb.callback.EarlyStopping(rounds=stopping)] if stopping else []
        callbacks += [] if self.time_limit is None else [_stop_after(box)]
        booster = xgb.train(self._params(), train_matrix, self.num_boost_round, evals=evals,
                            verbose_eval=False, callbacks=callbacks)
        best = booster.best_iteration if stopping else booster.num_boosted_rounds() - 1
        self.best_iteration_ = int(best) + 1  # rounds kept
        # Keep the saved form: a reloaded member then predicts exactly the same numbers.
        self.booster_ = xgb.Booster(model_file=bytearray(booster[: self.best_iteration_].save_raw("json")))
        self.clear_cache()
        return self

    def predict(self, x: Any) -> np.ndarray:
        if not self.is_fitted:
            raise not_fitted("XGBoost", self.name)
        raw = np.asarray(self.booster_.predict(self._matrix(x)), dtype=np.float64)
        if self.task == "regression":
            return raw.reshape(-1)
        if raw.ndim == 1:  # binary:logistic: probability of class 1
            return np.stack([1.0 - raw, raw], axis=1)
        return raw / raw.sum(axis=1, keepdims=True)  # float32 softmax: renormalise in float64

    def save(self, directory: str | Path) -> dict[str, Any]:
        """Write ``model.json`` (XGBoost's JSON format) and return the JSON config."""
        from topnet.io import atomic_write_bytes

        if not self.is_fitted:
            raise not_fitted("XGBoost", self.name)
        Path(directory).mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(Path(directory) / MODEL_FILE, bytes(self.booster_.save_raw("json")))
        return self.config()

    @classmethod
    def load(cls, directory: str | Path, config: dict[str, Any], **options: Any) -> XGBoostMember:
        xgb = _xgboost()
        member = cls.from_config(config)
        member.booster_ = xgb.Booster(model_file=bytearray((Path(directory) / MODEL_FILE).read_bytes()))
        return member

"""A CatBoost member: boosted oblivious trees with ordered target statistics for categories.

Optional: it needs ``pip install catboost`` (a large wheel, so topnet does not install it).
CatBoost encodes categorical columns with ordered target statistics rather than splitting on
codes, which makes its mistakes on tables differ from LightGBM's and XGBoost's. A table's
categorical codes go to it as integer columns of a pandas frame (pandas comes with CatBoost);
images are flattened to pixels. With a valid split it stops early on the valid loss and keeps
the best iteration; a callback stops it when the next iteration would pass ``time_limit``. The
model is saved in CatBoost's own binary format (``model.cbm``, not a pickle) and reloaded from
those bytes right after training, so a reloaded member predicts the same numbers.

Example:
    >>> from topnet.data import Dataset
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(120, 3)); y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 1)
    >>> member = CatBoostMember(num_boost_round=20, num_threads=1).fit(Dataset(x, y))  # doctest: +SKIP
    >>> member.predict(x[:4]).shape  # doctest: +SKIP
    (4, 3)
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from topnet.ensemble._optional import require
from topnet.ensemble._tasks import TimeBox, classification_targets, not_fitted, regression_targets
from topnet.ensemble.features import categorical_columns, categorical_sizes, design_matrix
from topnet.ensemble.boosting_base import BoostedTreesMember

__all__ = ["CatBoostMember"]

MODEL_FILE = "model.cbm"


def _catboost() -> Any:
    return require("catboost", "catboost", "the CatBoost member")


class _StopAfter:
    """A CatBoost callback: continue (True) while the next iteration fits in ``box.limit``."""

    def __init__(self, box: TimeBox) -> None:
        self.box = box

    def after_iteration(self, info: Any) -> bool:
        self.box.step_done()
        return self.box.fits_another()


def _model_bytes(model: Any) -> bytes:
    """The model in CatBoost's binary format (CatBoost writes only to files)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / MODEL_FILE
        model.save_model(str(path), format="cbm")
        return path.read_bytes()


class CatBoostMember(BoostedTreesMember):
    """Gradient-boosted oblivious trees (CatBoost) as an ensemble member.

    Args:
        name: member name.
        task: ``"classification"`` (``Logloss`` or ``MultiClass``) or ``"regression"``
            (``RMSE``, one target).
        params: CatBoost parameters that override the defaults (CatBoost's own: depth 6, a
            learning rate it picks from the data size).
        num_boost_round: the most iterations (trees).
        early_stopping_rounds: stop when the valid loss has not improved for this many
            iterations (only when ``fit`` gets a valid split; None: never).
        seed: CatBoost's ``random_seed``.
        num_threads: CatBoost threads (0: all cores).
        time_limit: stop adding trees when the next would end past this many seconds (None:
            no limit); the trees so far are kept.

    Attributes:
        model_: the ``catboost.CatBoost`` model; best_iteration_: trees kept; num_classes_;
        categorical_sizes_.
    """

    kind = "catboost"

    default_rounds = 500

    def __init__(self, name: str = "catboost", task: str = "classification", **settings: Any) -> None:
        super().__init__(name, task, **settings)

    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "model_")

    def _params(self) -> dict[str, Any]:
        params = {"iterations": self.num_boost_round, "random_seed": self.seed,
                  "thread_count": self.num_threads or -1, "logging_level": "Silent", "allow_writing_files": False}
        if self.task == "regression":
            params["loss_function"] = "RMSE"
        else:
            params.update(loss_function="Logloss" if self.num_classes_ == 2 else "MultiClass",
                          class_names=list(range(self.num_classes_)))
        return {**params, **(self.params or {})}

    def _pool(self, x: Any, y: np.ndarray | None = None) -> Any:
        """A ``catboost.Pool``: categorical columns as int64 columns of a frame, the rest as floats."""
        cb = _catboost()
        features = design_matrix(x, self.categorical_sizes_)
        columns = categorical_columns(x)
        if not columns:
            return cb.Pool(features, y)
        import pandas as pd  # a CatBoost dependency

        frame = pd.DataFrame(features, columns=[f"f{j}" for j in range(features.shape[1])])
        frame = frame.astype({f"f{j}": np.int64 for j in columns})
        return cb.Pool(frame, y, cat_features=columns)

    def fit(self, train: Any, valid: Any = None) -> CatBoostMember:
        """Train on ``train``; with ``valid``, stop early on its loss and keep the best iteration."""
        cb = _catboost()
        self._check()
        box = TimeBox(self.time_limit)
        self.categorical_sizes_, self.num_classes_ = categorical_sizes(train), 0
        if self.task == "regression":
            y = regression_targets(train, multi_output=False)
        else:
            y, self.num_classes_ = classification_targets(train)
        model = cb.CatBoost(self._params())
        kwargs: dict[str, Any] = {"callbacks": [] if self.time_limit is None else [_StopAfter(box)]}
        if valid is not None:
            y_valid = (regression_targets(valid, multi_output=False) if self.task == "regression"
                       else np.asarray(valid.y).astype(np.int64))
            kwargs.update(eval_set=self._pool(valid.x, y_valid), use_best_model=True,
                          early_stopping_rounds=self.early_stopping_rounds)
        model.fit(self._pool(train.x, y), **kwargs)
        # Keep the saved form: a reloaded member then predicts exactly the same numbers.
        self.model_ = cb.CatBoost().load_model(blob=_model_bytes(model))
        self.best_iteration_ = int(self.model_.tree_count_)
        self.clear_cache()
        return self

    def predict(self, x: Any) -> np.ndarray:
        if not self.is_fitted:
            raise not_fitted("CatBoost", self.name)
        if self.task == "regression":
            values = self.model_.predict(self._pool(x), prediction_type="RawFormulaVal")
            return np.asarray(values, dtype=np.float64).reshape(-1)
        return np.asarray(self.model_.predict(self._pool(x), prediction_type="Probability"), dtype=np.float64)

    def save(self, directory: str | Path) -> dict[str, Any]:
        """Write ``model.cbm`` (CatBoost's binary format) and return the JSON config."""
        from topnet.io import atomic_write_bytes

        if not self.is_fitted:
            raise not_fitted("CatBoost", self.name)
        Path(directory).mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(Path(directory) / MODEL_FILE, _model_bytes(self.model_))
        return self.config()

    @classmethod
    def load(cls, directory: str | Path, config: dict[str, Any], **options: Any) -> CatBoostMember:
        cb = _catboost()
        member = cls.from_config(config)
        member.model_ = cb.CatBoost().load_model(blob=(Path(directory) / MODEL_FILE).read_bytes())
        return member

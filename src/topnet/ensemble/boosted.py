"""A LightGBM member: gradient-boosted trees beside the networks.

Trees see the data differently from networks (axis-aligned splits on single pixels or columns),
which is what makes them worth their weight in an ensemble. Images are flattened to pixels;
tables keep their categorical columns as integer codes and LightGBM splits on them natively
(``categorical_feature``). The booster is saved in LightGBM's own text format (``model.txt``);
right after training it is reloaded from that text, so the in-memory member and a reloaded one
predict the same numbers.

Example:
    >>> from topnet.data import Dataset
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(120, 3)); y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 1)
    >>> member = LightGBMMember(num_boost_round=20, params={"min_data_in_leaf": 5}).fit(Dataset(x, y))
    >>> member.predict(x[:4]).shape
    (4, 3)
"""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from topnet.ensemble._optional import require
from topnet.ensemble.features import categorical_columns, categorical_sizes, design_matrix
from topnet.ensemble.member_base import Member
from topnet.errors import format_message

__all__ = ["LightGBMMember"]

MODEL_FILE = "model.txt"


def _lightgbm():
    return require("lightgbm", "lightgbm", "the LightGBM member")


def _stop_after(seconds: float) -> Any:
    """A LightGBM callback that ends training once ``seconds`` have passed since its first call."""
    lgb = _lightgbm()
    start: list[float] = []

    def callback(env: Any) -> None:
        if not start:
            start.append(time.monotonic())
        if time.monotonic() - start[0] > seconds:
            raise lgb.callback.EarlyStopException(env.iteration, env.evaluation_result_list or [])

    callback.order = 40  # after early stopping's own bookkeeping
    return callback


class LightGBMMember(Member):
    """Gradient-boosted trees (LightGBM) as an ensemble member.

    Args:
        name: member name.
        task: ``"classification"`` (binary or multiclass objective) or ``"regression"`` (L2).
        params: LightGBM parameters that override the defaults (learning_rate 0.1,
            num_leaves 31, deterministic row-wise training, silent).
        num_boost_round: the most trees (per class).
        early_stopping_rounds: stop when the valid loss has not improved for this many rounds
            (only when ``fit`` gets a valid split; None: never).
        seed: LightGBM's seed.
        num_threads: LightGBM threads (0: its default, all cores).
        time_limit: stop adding trees after this many seconds of training (None: no limit);
            the trees so far are kept.
        class_weight: ``{class index: weight}`` (classification): each training row's weight in
            LightGBM's loss is its class's weight (1.0 for classes left out), as ``topnet.fit``
            weights a network's rows; the valid split that stops early is not weighted.

    Attributes:
        booster_: the ``lightgbm.Booster``; num_classes_; categorical_sizes_; best_iteration_.
    """

    kind = "lightgbm"

    def __init__(self, name: str = "lightgbm", task: str = "classification", *, params: dict[str, Any] | None = None,
                 num_boost_round: int = 200, early_stopping_rounds: int | None = 20, seed: int = 0,
                 num_threads: int = 0, time_limit: float | None = None,
                 class_weight: dict[int, float] | None = None) -> None:
        super().__init__(name, task)
        self.params = params
        self.num_boost_round = num_boost_round
        self.early_stopping_rounds = early_stopping_rounds
        self.seed = seed
        self.num_threads = num_threads
        self.time_limit = time_limit
        if class_weight is not None and task != "classification":
            raise ValueError(format_message("class_weight", class_weight, f"None for a {task} member",
                                            "class weights need classes"))
        if class_weight is not None and not all(math.isfinite(float(v)) and float(v) >= 0 for v in class_weight.values()):
            raise ValueError(format_message("class_weight", class_weight, "finite weights >= 0"))
        self.class_weight = None if class_weight is None else {int(k): float(v) for k, v in class_weight.items()}

    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "booster_")

    def _params(self, num_classes: int) -> dict[str, Any]:
        params = {"learning_rate": 0.1, "num_leaves": 31, "verbosity": -1, "seed": self.seed,
                  "deterministic": True, "force_row_wise": True, "num_threads": self.num_threads}
        if self.task == "regression":
            params.update(objective="regression")
        elif num_classes == 2:
            params.update(objective="binary")
        else:
            params.update(objective="multiclass", num_class=num_classes)
        return {**params, **(self.params or {})}

    def _targets(self, dataset: Any) -> np.ndarray:
        y = np.asarray(dataset.y)
        if self.task == "regression":
            if y.ndim > 1 and y.shape[1] > 1:
                raise ValueError(format_message("y", f"shape {y.shape}", "one regression target per row",
                                                "LightGBM fits one output; use a network member for several"))
            return y.reshape(-1).astype(np.float64)
        return y.astype(np.int64)

    def _row_weights(self, y: np.ndarray) -> np.ndarray | None:
        """Each training row's class weight (LightGBM's ``weight``), or None without class weights."""
        if self.class_weight is None:
            return None
        unknown = sorted(k for k in self.class_weight if not 0 <= k < self.num_classes_)
        if unknown:
            raise ValueError(format_message("class_weight", self.class_weight,
                                            f"class indices in [0, {self.num_classes_ - 1}]", f"drop the keys {unknown}"))
        table = np.ones(self.num_classes_)
        table[list(self.class_weight)] = list(self.class_weight.values())
        return table[y]

    def fit(self, train: Any, valid: Any = None) -> LightGBMMember:
        """Train on ``train``; with ``valid``, stop early on its loss and keep the best iteration."""
        lgb = _lightgbm()
        self._check()
        y = self._targets(train)
        self.num_classes_ = 0 if self.task == "regression" else max(int(train.num_classes or 0), int(y.max()) + 1)
        if self.task == "classification" and self.num_classes_ < 2:
            raise ValueError(format_message("train.y", f"{self.num_classes_} class", "at least 2 classes"))
        self.categorical_sizes_ = categorical_sizes(train)
        columns = categorical_columns(train.x)
        train_set = lgb.Dataset(design_matrix(train.x, self.categorical_sizes_), y, weight=self._row_weights(y),
                                categorical_feature=columns or "auto", free_raw_data=True)
        callbacks, valid_sets = [], []
        if valid is not None:
            valid_sets = [lgb.Dataset(design_matrix(valid.x, self.categorical_sizes_), self._targets(valid),
                                      reference=train_set, categorical_feature=columns or "auto")]
            if self.early_stopping_rounds:
                callbacks.append(lgb.early_stopping(self.early_stopping_rounds, verbose=False))
        if self.time_limit is not None:
            callbacks.append(_stop_after(self.time_limit))
        booster = lgb.train(self._params(self.num_classes_), train_set, num_boost_round=self.num_boost_round,
                            valid_sets=valid_sets, callbacks=callbacks)
        self.best_iteration_ = int(booster.best_iteration or booster.current_iteration())
        # Keep the text-format model: a reloaded member then predicts exactly the same numbers.
        self.booster_ = lgb.Booster(model_str=booster.model_to_string(num_iteration=self.best_iteration_))
        self.clear_cache()
        return self

    def predict(self, x: Any) -> np.ndarray:
        if not self.is_fitted:
            raise ValueError(f"LightGBM member {self.name!r} is not fitted yet; call fit(train, valid) first")
        raw = np.asarray(self.booster_.predict(design_matrix(x, self.categorical_sizes_)), dtype=np.float64)
        if self.task == "regression":
            return raw.reshape(-1)
        if raw.ndim == 1:  # binary objective: probability of class 1
            return np.stack([1.0 - raw, raw], axis=1)
        return raw

    def config(self) -> dict[str, Any]:
        return {**super().config(), "num_classes": getattr(self, "num_classes_", None),
                "categorical_sizes": getattr(self, "categorical_sizes_", None),
                "best_iteration": getattr(self, "best_iteration_", None), "params": self.params,
                "num_boost_round": self.num_boost_round, "early_stopping_rounds": self.early_stopping_rounds,
                "seed": self.seed, "num_threads": self.num_threads, "time_limit": self.time_limit,
                "class_weight": self.class_weight}

    def save(self, directory: str | Path) -> dict[str, Any]:
        """Write ``model.txt`` (LightGBM's text format) and return the JSON config."""
        from topnet.io import atomic_write_text

        if not self.is_fitted:
            raise ValueError(f"LightGBM member {self.name!r} is not fitted yet; fit it before saving")
        atomic_write_text(Path(directory) / MODEL_FILE, self.booster_.model_to_string())
        return self.config()

    @classmethod
    def load(cls, directory: str | Path, config: dict[str, Any], **options: Any) -> LightGBMMember:
        lgb = _lightgbm()
        member = cls(config["name"], config["task"], params=config.get("params"),
                     num_boost_round=config.get("num_boost_round", 200),
                     early_stopping_rounds=config.get("early_stopping_rounds"), seed=config.get("seed", 0),
                     num_threads=config.get("num_threads", 0), time_limit=config.get("time_limit"),
                     class_weight=config.get("class_weight"))
        member.booster_ = lgb.Booster(model_str=(Path(directory) / MODEL_FILE).read_text(encoding="utf-8"))
        member.num_classes_ = config.get("num_classes") or 0
        member.categorical_sizes_ = config.get("categorical_sizes")
        member.best_iteration_ = config.get("best_iteration")
        return member

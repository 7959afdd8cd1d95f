"""Random forest and extra-trees members (scikit-learn), grown within a time limit.

Bagged deep trees are a different kind of model from boosted trees and from networks: their
errors are averaged out rather than corrected, which is why AutoGluon's tables ensemble both.
Tables keep their categorical columns as integer codes (trees split on them as numbers);
images are flattened to pixels. Trees are grown a step at a time (``warm_start``) until
``num_trees`` or until the next step would pass ``time_limit``. The member then keeps only
the trees' arrays (``tree_arrays.py``) and predicts with NumPy, so saving writes them to
safetensors beside the JSON config: no pickle, and a reloaded member predicts the same numbers.

Example:
    >>> from topnet.data import Dataset
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(120, 3)); y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 1)
    >>> member = RandomForestMember(num_trees=20, num_threads=1).fit(Dataset(x, y))
    >>> member.predict(x[:4]).shape, member.num_trees_
    ((4, 3), 20)
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from topnet.ensemble._optional import require
from topnet.ensemble._tasks import TimeBox, classification_targets, not_fitted, regression_targets
from topnet.ensemble.features import categorical_sizes, design_matrix
from topnet.ensemble.member_base import Member
from topnet.ensemble.tree_arrays import ARRAY_NAMES, pack_trees, predict_trees
from topnet.errors import format_message

__all__ = ["RandomForestMember", "ExtraTreesMember"]

ARRAYS_FILE = "forest.safetensors"
_MIN_TREES_PER_STEP = 8  # few enough to stop near the limit, enough that each refit's input checks are cheap


class _ForestMember(Member):
    """What the two forest kinds share; they differ only in the scikit-learn estimators.

    Args:
        name: member name.
        task: ``"classification"`` (mean of the trees' class frequencies) or ``"regression"``
            (mean of their leaf values; several targets allowed).
        num_trees: the most trees.
        max_features: features tried per split (scikit-learn's ``max_features``; None: its
            default, ``"sqrt"`` for classification and all features for regression).
        min_samples_leaf: the fewest training rows in a leaf (larger: smaller, smoother trees).
        params: other keyword arguments for the scikit-learn estimator (e.g. ``max_depth``).
        seed: the estimator's ``random_state``.
        num_threads: parallel jobs (0: all cores).
        time_limit: stop adding trees when the next step would end past this many seconds
            (None: no limit); the first step always runs.

    Attributes:
        forest_: the trees as arrays (``tree_arrays.pack_trees``); num_trees_: trees grown;
        num_classes_; outputs_: regression targets per row (1 for classification);
        categorical_sizes_.
    """

    kind: ClassVar[str] = ""
    label: ClassVar[str] = ""
    estimators: ClassVar[tuple[str, str]] = ("", "")  # (classifier, regressor) in sklearn.ensemble

    def __init__(self, name: str | None = None, task: str = "classification", *, num_trees: int = 300,
                 max_features: str | float | int | None = None, min_samples_leaf: int = 1,
                 params: dict[str, Any] | None = None, seed: int = 0, num_threads: int = 0,
                 time_limit: float | None = None) -> None:
        super().__init__(name or self.kind, task)
        if not isinstance(num_trees, int) or num_trees < 1:
            raise ValueError(format_message("num_trees", num_trees, "a positive int"))
        self.num_trees = num_trees
        self.max_features = max_features
        self.min_samples_leaf = min_samples_leaf
        self.params = params
        self.seed = seed
        self.num_threads = num_threads
        self.time_limit = time_limit

    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "forest_")

    def _estimator(self) -> Any:
        ensemble = require("sklearn.ensemble", "scikit-learn", f"the {self.label} member")
        estimator = getattr(ensemble, self.estimators[self.task == "regression"])
        kwargs = {"min_samples_leaf": self.min_samples_leaf, "random_state": self.seed,
                  "n_jobs": self.num_threads or -1, "warm_start": True, **(self.params or {})}
        if self.max_features is not None:
            kwargs["max_features"] = self.max_features
        return estimator(**kwargs)

    def fit(self, train: Any, valid: Any = None) -> _ForestMember:
        """Grow trees on ``train`` (``valid`` is not used: forests do not stop early)."""
        self._check()
        box = TimeBox(self.time_limit)
        self.categorical_sizes_ = categorical_sizes(train)
        # float32 is the trees' own dtype: scikit-learn then copies nothing at each step's fit.
        x = design_matrix(train.x, self.categorical_sizes_).astype(np.float32)
        if self.task == "regression":
            y, self.num_classes_ = regression_targets(train, multi_output=True), 0
        else:
            y, self.num_classes_ = classification_targets(train)
        self.outputs_ = y.shape[1] if y.ndim == 2 else 1
        model = self._estimator()
        from joblib import effective_n_jobs  # scikit-learn's dependency: importable once _estimator is

        step = max(_MIN_TREES_PER_STEP, effective_n_jobs(self.num_threads or -1))
        grown = 0
        while grown < self.num_trees:
            grown = min(self.num_trees, grown + step)
            model.set_params(n_estimators=grown).fit(x, y)  # warm_start: only the new trees are fitted
            box.step_done()
            if not box.fits_another():
                break
        classes = None if self.task == "regression" else model.classes_.astype(np.int64)
        self.forest_ = pack_trees(model.estimators_, classes=classes, num_classes=self.num_classes_)
        self.num_trees_ = len(model.estimators_)
        self.clear_cache()
        return self

    def predict(self, x: Any) -> np.ndarray:
        if not self.is_fitted:
            raise not_fitted(self.label, self.name)
        out = predict_trees(self.forest_, design_matrix(x, self.categorical_sizes_))
        return out[:, 0] if self.task == "regression" and self.outputs_ == 1 else out

    def config(self) -> dict[str, Any]:
        return {**super().config(), "num_trees": self.num_trees, "max_features": self.max_features,
                "min_samples_leaf": self.min_samples_leaf, "params": self.params, "seed": self.seed,
                "num_threads": self.num_threads, "time_limit": self.time_limit,
                "num_trees_grown": getattr(self, "num_trees_", None),
                "num_classes": getattr(self, "num_classes_", None), "outputs": getattr(self, "outputs_", None),
                "categorical_sizes": getattr(self, "categorical_sizes_", None)}

    def save(self, directory: str | Path) -> dict[str, Any]:
        """Write the trees' arrays (``forest.safetensors``) and return the JSON config."""
        from safetensors.numpy import save

        from topnet.io import atomic_write_bytes

        if not self.is_fitted:
            raise not_fitted(self.label, self.name)
        Path(directory).mkdir(parents=True, exist_ok=True)
        arrays = {name: np.ascontiguousarray(array) for name, array in self.forest_.items()}
        atomic_write_bytes(Path(directory) / ARRAYS_FILE, save(arrays))
        return self.config()

    @classmethod
    def load(cls, directory: str | Path, config: dict[str, Any], **options: Any) -> _ForestMember:
        from safetensors.numpy import load

        member = cls(config["name"], config["task"], num_trees=config.get("num_trees", 300),
                     max_features=config.get("max_features"), min_samples_leaf=config.get("min_samples_leaf", 1),
                     params=config.get("params"), seed=config.get("seed", 0),
                     num_threads=config.get("num_threads", 0), time_limit=config.get("time_limit"))
        arrays = load((Path(directory) / ARRAYS_FILE).read_bytes())
        member.forest_ = {name: arrays[name] for name in ARRAY_NAMES}
        member.num_trees_ = len(member.forest_["roots"])
        member.num_classes_, member.outputs_ = int(config.get("num_classes") or 0), int(config.get("outputs") or 1)
        member.categorical_sizes_ = config.get("categorical_sizes")
        return member


class RandomForestMember(_ForestMember):
    """A random forest (bootstrap rows, best split among ``max_features``). Arguments: see ``_ForestMember``."""

    kind = "random_forest"
    label = "random forest"
    estimators = ("RandomForestClassifier", "RandomForestRegressor")


class ExtraTreesMember(_ForestMember):
    """Extremely randomised trees (all rows, random thresholds). Arguments: see ``_ForestMember``."""

    kind = "extra_trees"
    label = "extra-trees"
    estimators = ("ExtraTreesClassifier", "ExtraTreesRegressor")

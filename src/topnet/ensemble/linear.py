"""A linear member: logistic regression (ridge regression for regression), the "wide" side.

Chollet's wide-and-deep advice: blend deep models with shallow ones, which make different
mistakes. Features are standardised with statistics from train (categorical codes one-hot
encoded first); scikit-learn fits the model; the member then keeps only arrays (mean, scale,
coefficients, intercept) and predicts with NumPy, so saving writes those arrays (safetensors)
and JSON, never a pickle.

Example:
    >>> from topnet.data import Dataset
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(90, 2)); y = np.digitize(x[:, 0], [-0.5, 0.5])
    >>> member = LinearMember().fit(Dataset(x, y))
    >>> float((member.predict(x).argmax(axis=1) == y).mean()) > 0.8
    True
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from topnet.ensemble._optional import require
from topnet.ensemble.features import categorical_sizes, design_matrix
from topnet.ensemble.member_base import Member
from topnet.ensemble.temperature import softmax
from topnet.errors import format_message

__all__ = ["LinearMember"]

ARRAYS_FILE = "arrays.safetensors"
_ARRAYS = ("mean_", "scale_", "coef_", "intercept_", "classes_")


class LinearMember(Member):
    """A standardised linear model as an ensemble member.

    Args:
        name: member name.
        task: ``"classification"`` (multinomial logistic regression) or ``"regression"`` (ridge).
        C: inverse L2 strength of the logistic regression.
        alpha: L2 strength of the ridge.
        max_iter: solver iterations.

    Attributes:
        mean_, scale_: the feature standardisation; coef_ ``(outputs, features)``; intercept_;
        classes_: the class ids seen in train; num_classes_: probability columns.
    """

    kind = "linear"

    def __init__(self, name: str = "linear", task: str = "classification", *, C: float = 1.0, alpha: float = 1.0,
                 max_iter: int = 1000) -> None:
        super().__init__(name, task)
        self.C = C
        self.alpha = alpha
        self.max_iter = max_iter

    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "coef_")

    def _matrix(self, x: Any) -> np.ndarray:
        return design_matrix(x, self.categorical_sizes_, one_hot=self.categorical_sizes_ is not None)

    def fit(self, train: Any, valid: Any = None) -> LinearMember:
        """Fit on ``train`` (``valid`` is not used: the L2 strength is a constructor argument)."""
        linear_model = require("sklearn.linear_model", "scikit-learn", "the linear member")
        self._check()
        self.categorical_sizes_ = categorical_sizes(train)
        features = self._matrix(train.x)
        self.mean_ = features.mean(axis=0)
        scale = features.std(axis=0)
        self.scale_ = np.where(scale > 0, scale, 1.0)
        standard = (features - self.mean_) / self.scale_
        y = np.asarray(train.y)
        if self.task == "regression":
            model = linear_model.Ridge(alpha=self.alpha).fit(standard, y.astype(np.float64))
            self.coef_, self.classes_, self.num_classes_ = np.atleast_2d(model.coef_), np.zeros(0), 0
            self.intercept_, self.outputs_ = np.atleast_1d(model.intercept_).astype(np.float64), y.ndim
        else:
            self.classes_ = np.unique(y).astype(np.int64)
            self.num_classes_ = max(int(train.num_classes or 0), int(y.max()) + 1)
            if len(self.classes_) < 2:
                raise ValueError(format_message("train.y", f"one class {self.classes_.tolist()}", "at least 2 classes"))
            model = linear_model.LogisticRegression(C=self.C, max_iter=self.max_iter).fit(standard, y)
            self.coef_, self.intercept_, self.outputs_ = model.coef_, model.intercept_, 1
        self.clear_cache()
        return self

    def predict(self, x: Any) -> np.ndarray:
        if not self.is_fitted:
            raise ValueError(f"linear member {self.name!r} is not fitted yet; call fit(train) first")
        scores = ((self._matrix(x) - self.mean_) / self.scale_) @ self.coef_.T + self.intercept_
        if self.task == "regression":
            return scores[:, 0] if self.outputs_ == 1 else scores
        if len(self.classes_) == 2:  # scikit-learn's binary model: one score, sigmoid
            positive = 1.0 / (1.0 + np.exp(-scores[:, 0]))
            present = np.stack([1.0 - positive, positive], axis=1)
        else:
            present = softmax(scores)
        out = np.zeros((len(scores), self.num_classes_))
        out[:, self.classes_] = present
        return out

    def config(self) -> dict[str, Any]:
        return {**super().config(), "C": self.C, "alpha": self.alpha, "max_iter": self.max_iter,
                "num_classes": getattr(self, "num_classes_", None), "outputs": getattr(self, "outputs_", None),
                "categorical_sizes": getattr(self, "categorical_sizes_", None)}

    def save(self, directory: str | Path) -> dict[str, Any]:
        """Write the arrays (``arrays.safetensors``) and return the JSON config."""
        from safetensors.numpy import save

        from topnet.io import atomic_write_bytes

        if not self.is_fitted:
            raise ValueError(f"linear member {self.name!r} is not fitted yet; fit it before saving")
        arrays = {key.rstrip("_"): np.ascontiguousarray(getattr(self, key)) for key in _ARRAYS}
        Path(directory).mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(Path(directory) / ARRAYS_FILE, save(arrays))
        return self.config()

    @classmethod
    def load(cls, directory: str | Path, config: dict[str, Any], **options: Any) -> LinearMember:
        from safetensors.numpy import load

        member = cls(config["name"], config["task"], C=config.get("C", 1.0), alpha=config.get("alpha", 1.0),
                     max_iter=config.get("max_iter", 1000))
        arrays = load((Path(directory) / ARRAYS_FILE).read_bytes())
        for key in _ARRAYS:
            setattr(member, key, arrays[key.rstrip("_")])
        member.classes_ = member.classes_.astype(np.int64)
        member.num_classes_, member.outputs_ = int(config.get("num_classes") or 0), int(config.get("outputs") or 1)
        member.categorical_sizes_ = config.get("categorical_sizes")
        return member

"""A topnet network as a scikit-learn estimator: ``NetClassifier`` and ``NetRegressor``.

Import them from ``topnet.sklearn``, which also has the ensemble's estimators; they live here so
that ``topnet.ensemble.estimator`` can use a network as a default member without importing the
module that re-exports it.

Training is reproducible from ``seed``: the initial weights and dropout draw from a private
generator (``torch.random.fork_rng``), so the caller's global torch RNG is left untouched.

Example:
    >>> X, y = np.random.default_rng(0).normal(size=(40, 3)), np.repeat([0.0, 1.0], 20)
    >>> NetRegressor(model_kwargs={"hidden": [4]}, epochs=1).fit(X, y).predict(X[:3]).shape
    (3,)
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_is_fitted, validate_data
except ImportError:
    raise ImportError("topnet.sklearn needs scikit-learn (1.6 or newer); install it with: pip install scikit-learn") from None

from topnet.ensemble.temperature import softmax
from topnet.errors import format_message
from topnet.seeding import derive_seed

__all__ = ["NetClassifier", "NetRegressor"]



def encode_classes(estimator: Any, X: Any, y: Any, purpose: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(X, y, y as codes 0..C-1)`` for a classifier's ``fit``, validated as scikit-learn does;
    sets ``estimator.classes_`` (and ``n_features_in_``).

    Raises:
        ValueError: targets that are not classes, or fewer than 2 of them (``purpose`` says why
            two are needed).
    """
    X, y = validate_data(estimator, X, y)
    check_classification_targets(y)
    estimator.classes_, encoded = np.unique(y, return_inverse=True)
    if len(estimator.classes_) < 2:
        raise ValueError(format_message("y", f"1 class {estimator.classes_.tolist()}", f"at least 2 classes {purpose}"))
    return X, y, encoded


class _NetEstimator(BaseEstimator):
    """What the classifier and the regressor share: build, train, predict."""

    def __init__(self, model: str = "mlp", model_kwargs: dict[str, Any] | None = None, epochs: int = 10,
                 batch_size: int = 32, optimizer: str = "adam", lr: float | None = None, seed: int = 0,
                 device: str = "cpu", verbose: int = 0) -> None:
        self.model = model
        self.model_kwargs = model_kwargs
        self.epochs = epochs
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.lr = lr
        self.seed = seed
        self.device = device
        self.verbose = verbose

    def _train(self, X: np.ndarray, targets: np.ndarray, num_outputs: int, loss: str) -> None:
        from topnet.nn.models import create_model
        from topnet.train.loop import fit, resolve_device

        device = resolve_device(self.device)
        devices = [device.index or 0] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):  # weights and dropout from the seed, global RNG untouched
            torch.manual_seed(derive_seed(self.seed, "sklearn estimator"))
            network = create_model(self.model, input_shape=(X.shape[1],), num_classes=num_outputs,
                                   **(self.model_kwargs or {}))
            history = fit(network, (X.astype(np.float32), targets), epochs=self.epochs, batch_size=self.batch_size,
                          loss=loss, optimizer=self.optimizer, lr=self.lr, seed=self.seed, device=device,
                          verbose=self.verbose)
        self.network_ = network.cpu().eval()
        self.history_ = {key: list(values) for key, values in history.history.items()}

    def _outputs(self, X: Any) -> np.ndarray:
        from topnet.train.loop import predict

        check_is_fitted(self, "network_")
        X = validate_data(self, X, reset=False)
        logits = predict(self.network_, np.array(X, dtype=np.float32), device=self.device)
        return logits.double().numpy()


class NetClassifier(ClassifierMixin, _NetEstimator):
    """A topnet network as a scikit-learn classifier.

    Args:
        model: a registered builder that takes ``input_shape`` and ``num_classes`` (``"mlp"``,
            ``"selu_mlp"``...); it gets ``input_shape=(n_features,)``.
        model_kwargs: the builder's other arguments, e.g. ``{"hidden": [64], "dropout": 0.2}``.
        epochs, batch_size, optimizer, lr: as in ``topnet.fit``.
        seed: initial weights, shuffling and dropout.
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``.
        verbose: ``topnet.fit``'s verbosity.

    Attributes:
        classes_: the class labels; n_features_in_; network_: the trained module (CPU, eval
        mode); history_: ``{metric: [value per epoch]}``.
    """

    def fit(self, X: Any, y: Any) -> NetClassifier:
        """Train on ``X`` ``(n_samples, n_features)`` and labels ``y`` of any hashable type."""
        X, _, encoded = encode_classes(self, X, y, "to train a classifier")
        self._train(X, encoded.astype(np.int64), len(self.classes_), "cross_entropy")
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities ``(n_samples, n_classes)``, columns in ``classes_`` order."""
        return softmax(self._outputs(X))

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class label of each row."""
        probabilities = self.predict_proba(X)  # raises NotFittedError before classes_ is read
        return self.classes_[probabilities.argmax(axis=1)]


class NetRegressor(RegressorMixin, _NetEstimator):
    """A topnet network as a scikit-learn regressor (one or several targets, MSE loss).

    Takes the same arguments as ``NetClassifier``; ``num_classes`` of the builder becomes the
    number of targets. Scale the targets (e.g. ``TransformedTargetRegressor``) for best results.
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def fit(self, X: Any, y: Any) -> NetRegressor:
        """Train on ``X`` and float targets ``y`` ``(n_samples,)`` or ``(n_samples, n_targets)``."""
        X, y = validate_data(self, X, y, y_numeric=True, multi_output=True)
        y = np.array(y, dtype=np.float32)  # a writable copy (torch warns on read-only memmaps)
        self.num_targets_ = 1 if y.ndim == 1 else y.shape[1]
        self._train(X, y, self.num_targets_, "mse")
        self.target_ndim_ = y.ndim
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Predicted targets, shaped like the ``y`` given to ``fit``."""
        outputs = self._outputs(X)
        return outputs[:, 0] if self.target_ndim_ == 1 else outputs

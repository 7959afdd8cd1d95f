"""Ensemble members: anything that gives class probabilities (or regression values) for a split.

Several kinds, one interface (``Member`` in member_base.py: ``fit(train, valid)``, ``predict(x)``,
``save(dir)`` / ``load``); this module defines the network kind and loads any kind by name:

- ``NetworkMember``: a trained ``torch.nn.Module`` (a study's top-k, or the user's own); saved
  as a topnet model directory (safetensors + JSON, no pickle).
- ``LightGBMMember`` (boosted.py): gradient-boosted trees on flattened pixels or on a table
  with native categorical splits; saved in LightGBM's own text format.
- ``LinearMember`` (linear.py): logistic regression (ridge for regression), the "wide" side;
  saved as arrays (safetensors) and JSON.
- ``RandomForestMember`` / ``ExtraTreesMember`` (forests.py): scikit-learn forests grown within a
  time limit; saved as the trees' arrays (safetensors).
- ``KNNMember`` (knn.py): k nearest neighbours on standardised features, k chosen on valid;
  saved as the training rows (safetensors).
- ``TfidfLinearMember`` (text_linear.py): TF-IDF of word unigrams and hashed bigrams of token
  ids, then logistic (ridge) regression, the text baseline; saved as arrays (safetensors) and JSON.
- ``XGBoostMember`` (xgboost_member.py) and ``CatBoostMember`` (catboost_member.py): when their
  optional libraries are installed; saved in XGBoost's JSON and CatBoost's binary format.

``predict`` returns float64 NumPy: ``(N, C)`` probabilities for classification, ``(N,)`` (or
``(N, K)``) values for regression. ``predict_split(name, dataset)`` caches each split's
predictions, so the combiners, the diversity table and the final scoring reuse them.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from topnet.ensemble.bagging import BaggedMember
from topnet.ensemble.boosted import LightGBMMember
from topnet.ensemble.catboost_member import CatBoostMember
from topnet.ensemble.features import design_matrix
from topnet.ensemble.forests import ExtraTreesMember, RandomForestMember
from topnet.ensemble.knn import KNNMember
from topnet.ensemble.linear import LinearMember
from topnet.ensemble.member_base import Member
from topnet.ensemble.temperature import softmax
from topnet.ensemble.text_linear import TfidfLinearMember
from topnet.ensemble.xgboost_member import XGBoostMember
from topnet.errors import format_message

__all__ = ["Member", "NetworkMember", "MEMBER_KINDS", "member_kinds", "load_member"]


def network_outputs(logits: Any, task: str) -> np.ndarray:
    """Logits as probabilities (softmax; sigmoid for one logit) or regression values (float64)."""
    if not isinstance(logits, torch.Tensor):
        raise TypeError(format_message("model output", type(logits).__name__, "one tensor of logits",
                                       "wrap a multi-output model so forward returns the output to ensemble"))
    z = logits.detach().double().numpy()
    if task == "regression":
        return z[:, 0] if z.ndim == 2 and z.shape[1] == 1 else z
    if z.ndim != 2:
        raise ValueError(format_message("model output", f"shape {z.shape}", "(N, classes) logits"))
    if z.shape[1] == 1:  # one binary logit
        positive = 1.0 / (1.0 + np.exp(-z[:, 0]))
        return np.stack([1.0 - positive, positive], axis=1)
    return softmax(z)


class NetworkMember(Member):
    """A trained network as a member (its logits become probabilities).

    Args:
        model: a ``torch.nn.Module`` returning logits (values for regression).
        name: member name.
        task: ``"classification"`` or ``"regression"``.
        features: ``"raw"`` (the inputs as the model takes them) or ``"flat"`` (a table dict
            one-hot encoded into one matrix, as ``topnet.data.flatten_tabular`` does for ``mlp``).
        categorical_sizes: vocabulary sizes for ``features="flat"``.
        fit_kwargs: None for a trained model (``fit`` does nothing); else ``fit`` trains it with
            ``topnet.fit(model, train, validation_data=valid, **fit_kwargs)``.
        batch_size: rows per prediction batch.
        device: where to predict (``"auto"``, ``"cpu"``, ``"cuda"``).

    Example:
        >>> member = NetworkMember(torch.nn.Linear(4, 3), name="linear_net")
        >>> member.predict(np.zeros((2, 4), np.float32)).sum(axis=1).round(6).tolist()
        [1.0, 1.0]
    """

    kind = "network"

    def __init__(self, model: torch.nn.Module, name: str = "network", task: str = "classification", *,
                 features: str = "raw", categorical_sizes: list[int] | None = None,
                 fit_kwargs: dict[str, Any] | None = None, batch_size: int = 256, device: str = "auto") -> None:
        super().__init__(name, task)
        self.model = model
        self.features = features
        self.categorical_sizes = categorical_sizes
        self.fit_kwargs = fit_kwargs
        self.batch_size = batch_size
        self.device = device

    @property
    def is_fitted(self) -> bool:
        return self.fit_kwargs is None or hasattr(self, "history_")

    def inputs(self, x: Any) -> Any:
        """``x`` as the network takes it: as given (``"raw"``), or a table one-hot flattened (``"flat"``)."""
        if self.features == "raw":
            return x
        if self.features == "flat":
            return design_matrix(x, self.categorical_sizes, one_hot=isinstance(x, dict)).astype(np.float32)
        raise ValueError(format_message("features", self.features, "'raw' or 'flat'"))

    def fit(self, train: Any, valid: Any = None) -> NetworkMember:
        """Train with ``topnet.fit`` when ``fit_kwargs`` is given; otherwise do nothing."""
        self._check()
        if self.fit_kwargs is not None:
            from topnet.train.loop import fit

            validation = None if valid is None else (self.inputs(valid.x), valid.y)
            self.history_ = fit(self.model, (self.inputs(train.x), train.y), validation_data=validation,
                                **{"verbose": 0, **self.fit_kwargs})
            self.clear_cache()
        return self

    def predict(self, x: Any) -> np.ndarray:
        from topnet.train.loop import predict

        self._check()
        logits = predict(self.model, self.inputs(x), batch_size=self.batch_size, device=self.device)
        return network_outputs(logits, self.task)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "features": self.features, "categorical_sizes": self.categorical_sizes,
                "batch_size": self.batch_size}

    def save(self, directory: str | Path) -> dict[str, Any]:
        """Write the model as a topnet model directory and return the member's JSON config."""
        from topnet.io import save_model

        save_model(self.model, directory, metadata={"task": self.task, "member": self.name})
        return self.config()

    @classmethod
    def load(cls, directory: str | Path, config: dict[str, Any], *, model: torch.nn.Module | None = None,
             device: str = "cpu") -> NetworkMember:
        """Rebuild from a model directory (``model``: the module to load into, for unregistered ones)."""
        from topnet.errors import CheckpointError
        from topnet.io import load_model, read_config

        if model is None and read_config(directory).get("builder") is None:
            raise CheckpointError(f"ensemble member {config['name']!r} is a {read_config(directory).get('class')} that no "
                                  "topnet builder made; pass the module to load its weights into: "
                                  f"Ensemble.load(path, models={{{config['name']!r}: YourModel(...)}})")
        network = load_model(directory, model=model, map_location=device)
        return cls(network, name=config["name"], task=config["task"], features=config.get("features", "raw"),
                   categorical_sizes=config.get("categorical_sizes"), batch_size=config.get("batch_size", 256),
                   device=device)

    @classmethod
    def from_dir(cls, path: str | Path, *, model: torch.nn.Module | None = None, name: str | None = None,
                 **kwargs: Any) -> NetworkMember:
        """A member from a directory written by ``topnet.io.save_model`` (e.g. a tuning trial's).

        The task comes from the directory's ``metadata["task"]`` when recorded (else
        classification); ``kwargs`` go to the constructor.
        """
        from topnet.io import load_model, read_config

        task = read_config(path).get("metadata", {}).get("task") or "classification"
        kwargs.setdefault("task", task)
        return cls(load_model(path, model=model), name=name or Path(path).name, **kwargs)


def member_kinds() -> dict[str, type[Member]]:
    """``{kind: class}`` of every member kind (their optional libraries are imported on first use)."""
    return {cls.kind: cls for cls in (NetworkMember, LightGBMMember, LinearMember, BaggedMember, RandomForestMember,
                                      ExtraTreesMember, KNNMember, XGBoostMember, CatBoostMember, TfidfLinearMember)}


MEMBER_KINDS = ("network", "lightgbm", "linear", "bagged", "random_forest", "extra_trees", "knn", "xgboost",
                "catboost", "tfidf_linear")


def load_member(directory: str | Path, config: dict[str, Any], *, models: dict[str, torch.nn.Module] | None = None,
                device: str = "cpu") -> Member:
    """Load a member saved by ``member.save(directory)`` from its files and JSON config.

    Raises:
        ValueError: an unknown member kind.
    """
    kinds = member_kinds()
    kind = config.get("kind")
    if kind not in kinds:
        raise ValueError(format_message("member kind", kind, f"one of {sorted(kinds)}", "the file may come from a newer topnet"))
    if kind == "network":
        return NetworkMember.load(directory, config, model=(models or {}).get(config["name"]), device=device)
    if kind == "bagged":  # its fold members are loaded by their own kinds
        return BaggedMember.load(directory, config, load_member=load_member, models=models, device=device)
    return kinds[kind].load(directory, config)

"""``Ensemble``: members + a combiner fitted on blend (+ a temperature); save, load, predict.

``fit(splits)`` trains the members that are not trained yet on ``splits.train`` (``valid`` for
early stopping), optionally keeps a diverse subset (picked on ``valid``), predicts ``blend``
once per member, picks the combiner by cross-fitted blend loss (selection.py) and fits the
temperature on that combiner's out-of-fold blend predictions. ``splits.test`` is never read.

A saved ensemble is a directory::

    ensemble.json       format, task, classes, member configs, combiner state, temperature, scores
    members/00/ ...     one directory per member: a topnet model directory (networks),
                        model.txt (LightGBM's text format), arrays.safetensors (linear)

Nothing is pickled. ``Ensemble.load(dir)`` rebuilds it in a fresh process.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from topnet.ensemble.combiners import Combiner, combiner_from_state
from topnet.ensemble.diversity import DiversityTable, diversity_table, select_diverse
from topnet.ensemble.members import Member, load_member
from topnet.ensemble.selection import select_combiner
from topnet.ensemble.temperature import TemperatureScaling, log_loss, log_probabilities, softmax
from topnet.errors import CheckpointError, DataError, format_message

__all__ = ["Ensemble"]

_FORMAT, _VERSION, _FILE = "topnet.ensemble", 1, "ensemble.json"


class Ensemble:
    """Diverse members combined with weights fitted on held-out (blend) data.

    Args:
        members: ``Member`` objects with different names (networks, LightGBM, linear).
        combiner: ``"auto"`` (pick among uniform, weighted, caruana, stacking by cross-fitted
            blend loss), one name, a list of names, or a ``Combiner``.
        temperature: fit a temperature on blend for the combined probabilities (classification).
        num_folds: folds within blend for cross-fitting.
        select: None (keep every member) or ``"diverse"`` (``select_diverse`` on valid).
        num_members: how many members ``select="diverse"`` keeps.
        diversity_tradeoff: the weight of error correlation in ``select_diverse``.
        seed: seeds the folds.

    Attributes:
        members_: the members kept; combiner_: the fitted combiner; combiner_name_;
        scores_: cross-fitted blend loss of each candidate combiner; weights_: ``{name: weight}``
        (None for stacking); temperature_: float or None; task_; num_classes_; class_names_.

    Example:
        >>> import torch
        >>> from topnet.data import Dataset, Splits
        >>> from topnet.ensemble import LinearMember, NetworkMember
        >>> rng = np.random.default_rng(0)
        >>> x = rng.normal(size=(80, 4)).astype(np.float32); y = (x[:, 0] > 0).astype(np.int64)
        >>> data = Splits(train=Dataset(x[:40], y[:40]), blend=Dataset(x[40:], y[40:]))
        >>> members = [NetworkMember(torch.nn.Linear(4, 2), name="net"), LinearMember()]
        >>> ensemble = Ensemble(members, combiner="weighted").fit(data)
        >>> ensemble.predict_proba(x[:3]).shape, sorted(ensemble.weights_)
        ((3, 2), ['linear', 'net'])
    """

    def __init__(self, members: Sequence[Member], *, combiner: str | Sequence[str] | Combiner = "auto",
                 temperature: bool = False, num_folds: int = 5, select: str | None = None,
                 num_members: int | None = None, diversity_tradeoff: float = 1.0, seed: int = 0) -> None:
        self.members = members
        self.combiner = combiner
        self.temperature = temperature
        self.num_folds = num_folds
        self.select = select
        self.num_members = num_members
        self.diversity_tradeoff = diversity_tradeoff
        self.seed = seed

    def _check_members(self) -> list[Member]:
        members = list(self.members)
        if not members or not all(isinstance(m, Member) for m in members):
            raise TypeError(format_message("members", [type(m).__name__ for m in members], "a non-empty list of Member objects"))
        names = [m.name for m in members]
        if len(set(names)) != len(names):
            raise ValueError(format_message("members", names, "different names", "pass name=... to each member"))
        if self.select not in (None, "diverse"):
            raise ValueError(format_message("select", self.select, "None or 'diverse'"))
        return members

    def fit(self, splits: Any) -> Ensemble:
        """Fit the members (those not fitted), the selection, the combiner and the temperature.

        Args:
            splits: ``topnet.data.Splits`` with ``blend`` (and ``train`` for unfitted members).

        Returns:
            self.

        Raises:
            DataError: no blend split, or members whose blend predictions disagree in shape.
        """
        members = self._check_members()
        blend = getattr(splits, "blend", None)
        if blend is None:
            raise DataError("splits.blend: got None; expected a blend split to fit the weights on; "
                            "use topnet.data.split(data, blend=0.1) or pass Splits(..., blend=...)")
        task = blend.task
        for member in members:
            if member.task != task:
                raise ValueError(format_message(f"member {member.name!r} task", member.task, f"{task!r} like the blend targets"))
            if not member.is_fitted:
                member.fit(splits.train, splits.valid)
        if self.select == "diverse":
            on_name, on = ("valid", splits.valid) if splits.valid is not None else ("blend", blend)
            keep = select_diverse({m.name: m.predict_split(on_name, on) for m in members}, on.y,
                                  self.num_members or len(members), task, self.diversity_tradeoff)
            members = [m for m in members if m.name in keep]
        stacked = self.stack({m.name: m.predict_split("blend", blend) for m in members}, members)
        result = select_combiner(stacked, blend.y, task, self.combiner, num_folds=self.num_folds, seed=self.seed)
        self.members_, self.combiner_, self.combiner_name_, self.scores_ = members, result.combiner, result.name, result.scores
        self.task_, self.class_names_ = task, blend.class_names
        self.num_classes_ = stacked.shape[2] if task == "classification" else None
        self.temperature_ = None
        if self.temperature:
            if task != "classification":
                raise ValueError(format_message("temperature", True, "False for regression (it rescales class probabilities)"))
            self.temperature_ = TemperatureScaling().fit(log_probabilities(result.out_of_fold), blend.y).temperature_
        self._set_weights()
        return self

    def _set_weights(self) -> None:
        weights = getattr(self.combiner_, "weights_", None)
        self.weights_ = None if weights is None else {m.name: float(w) for m, w in zip(self.members_, weights)}

    @staticmethod
    def stack(outputs: dict[str, np.ndarray], members: Sequence[Member]) -> np.ndarray:
        """The members' outputs as one ``(members, rows, columns)`` array, in ``members`` order.

        Raises:
            DataError: outputs of different shapes.
        """
        arrays = [np.asarray(outputs[m.name], dtype=np.float64) for m in members]
        arrays = [a[:, None] if a.ndim == 1 else a for a in arrays]
        shapes = {m.name: a.shape for m, a in zip(members, arrays)}
        if len(set(shapes.values())) != 1:
            raise DataError(format_message("member predictions", shapes, "the same (rows, classes) shape for every member",
                                           "check that every member was trained on the same classes"))
        return np.stack(arrays)

    def _check_fitted(self) -> None:
        if not hasattr(self, "combiner_"):
            raise ValueError("this Ensemble is not fitted yet; call fit(splits) or Ensemble.load(path) first")

    def member_outputs(self, x: Any) -> dict[str, np.ndarray]:
        """Each kept member's predictions for ``x``: ``{name: (N, C) probabilities or values}``."""
        self._check_fitted()
        return {m.name: m.predict(x) for m in self.members_}

    def combine(self, outputs: dict[str, np.ndarray]) -> np.ndarray:
        """The ensemble's prediction from the members' outputs (e.g. cached test predictions)."""
        self._check_fitted()
        missing = [m.name for m in self.members_ if m.name not in outputs]
        if missing:
            raise ValueError(format_message("outputs", sorted(outputs), f"predictions of every member, missing {missing}"))
        combined = self.combiner_.combine(self.stack(outputs, self.members_))
        if self.task_ == "regression":
            return combined[:, 0] if combined.shape[1] == 1 and np.ndim(outputs[self.members_[0].name]) == 1 else combined
        return combined if self.temperature_ is None else softmax(log_probabilities(combined) / self.temperature_)

    def predict_proba(self, x: Any) -> np.ndarray:
        """Class probabilities ``(N, C)`` (float64)."""
        self._check_fitted()
        if self.task_ != "classification":
            raise TypeError("predict_proba is for classification ensembles; this one does regression: use predict(x)")
        return self.combine(self.member_outputs(x))

    def predict(self, x: Any) -> np.ndarray:
        """Class ids (argmax of ``predict_proba``) or regression values."""
        combined = self.combine(self.member_outputs(x))
        return combined.argmax(axis=1) if self.task_ == "classification" else combined

    def evaluate(self, dataset: Any, split: str = "test") -> dict[str, dict[str, float]]:
        """Loss and accuracy (MSE and MAE for regression) of every member and of the ensemble.

        Member predictions are cached under ``split``; call this once on test, at the end.
        """
        self._check_fitted()
        outputs = {m.name: m.predict_split(split, dataset) for m in self.members_}
        rows = {**outputs, "ensemble": self.combine(outputs)}
        y = np.asarray(dataset.y)
        if self.task_ == "classification":
            return {n: {"nll": log_loss(p, y), "accuracy": float(np.mean(p.argmax(axis=1) == y))} for n, p in rows.items()}
        return {n: {"mse": float(np.mean((np.asarray(p) - y.reshape(np.shape(p))) ** 2)),
                    "mae": float(np.mean(np.abs(np.asarray(p) - y.reshape(np.shape(p)))))} for n, p in rows.items()}

    def diversity(self, dataset: Any, split: str = "blend") -> DiversityTable:
        """The pairwise diversity of the kept members on ``dataset`` (cached under ``split``)."""
        self._check_fitted()
        return diversity_table({m.name: m.predict_split(split, dataset) for m in self.members_}, dataset.y, self.task_)

    def save(self, path: str | Path) -> Path:
        """Write the ensemble directory (members first, ``ensemble.json`` last) and return it."""
        from topnet.io import atomic_write_text

        self._check_fitted()
        directory = Path(path)
        entries = []
        for index, member in enumerate(self.members_):
            folder = f"members/{index:02d}"
            entries.append({"dir": folder, **member.save(directory / folder)})
        document = {"format": _FORMAT, "version": _VERSION, "task": self.task_, "num_classes": self.num_classes_,
                    "class_names": self.class_names_, "members": entries, "combiner": self.combiner_.state_dict(),
                    "combiner_name": self.combiner_name_, "scores": self.scores_, "temperature": self.temperature_,
                    "settings": {"combiner": self.combiner if isinstance(self.combiner, (str, list, tuple))
                                 else self.combiner_name_,
                                 "temperature": bool(self.temperature), "num_folds": self.num_folds, "select": self.select,
                                 "num_members": self.num_members, "diversity_tradeoff": self.diversity_tradeoff,
                                 "seed": self.seed}}
        atomic_write_text(directory / _FILE, json.dumps(document, indent=2) + "\n")
        return directory

    @classmethod
    def load(cls, path: str | Path, *, models: dict[str, Any] | None = None, device: str = "cpu") -> Ensemble:
        """Load an ensemble saved by ``save``.

        Args:
            path: the ensemble directory.
            models: ``{member name: module}`` for networks no registered builder made.
            device: where network members run.

        Raises:
            CheckpointError: a missing or foreign ``ensemble.json``.
        """
        file = Path(path) / _FILE
        try:
            document = json.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise CheckpointError(f"{str(path)!r} has no {_FILE}; expected a directory written by Ensemble.save") from None
        if not isinstance(document, dict) or document.get("format") != _FORMAT:
            raise CheckpointError(f"{str(file)!r} is not a topnet ensemble (expected format {_FORMAT!r})")
        members = [load_member(Path(path) / entry["dir"], entry, models=models, device=device) for entry in document["members"]]
        ensemble = cls(members, **document["settings"])
        ensemble.members_, ensemble.combiner_ = members, combiner_from_state(document["combiner"])
        ensemble.combiner_name_, ensemble.scores_ = document["combiner_name"], document["scores"]
        ensemble.task_, ensemble.num_classes_ = document["task"], document["num_classes"]
        ensemble.class_names_ = tuple(document["class_names"]) if document["class_names"] else None
        ensemble.temperature_ = document["temperature"]
        ensemble._set_weights()
        return ensemble

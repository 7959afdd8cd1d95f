"""`BoostedTreesMember`: what the XGBoost and CatBoost members share (settings, config, restore).

Both take the same settings (rounds, early stopping, seed, threads, a time limit, library
parameters), record the same fitted facts (classes, categorical sizes, best iteration) in their
JSON config, and rebuild themselves from it before reading their own model file.
"""
from __future__ import annotations

from typing import Any, TypeVar

from topnet.ensemble.member_base import Member

__all__ = ["BoostedTreesMember"]

_M = TypeVar("_M", bound="BoostedTreesMember")


class BoostedTreesMember(Member):
    """Base of the gradient-boosted tree members of optional libraries (see their own docs)."""

    default_rounds = 200

    def __init__(self, name: str, task: str = "classification", *, params: dict[str, Any] | None = None,
                 num_boost_round: int | None = None, early_stopping_rounds: int | None = 20, seed: int = 0,
                 num_threads: int = 0, time_limit: float | None = None) -> None:
        super().__init__(name, task)
        self.params = params
        self.num_boost_round = self.default_rounds if num_boost_round is None else num_boost_round
        self.early_stopping_rounds = early_stopping_rounds
        self.seed = seed
        self.num_threads = num_threads
        self.time_limit = time_limit

    def config(self) -> dict[str, Any]:
        return {**super().config(), "num_classes": getattr(self, "num_classes_", None),
                "categorical_sizes": getattr(self, "categorical_sizes_", None),
                "best_iteration": getattr(self, "best_iteration_", None), "params": self.params,
                "num_boost_round": self.num_boost_round, "early_stopping_rounds": self.early_stopping_rounds,
                "seed": self.seed, "num_threads": self.num_threads, "time_limit": self.time_limit}

    @classmethod
    def from_config(cls: type[_M], config: dict[str, Any]) -> _M:
        """The member ``config`` describes, with its fitted facts, before its model is read."""
        member = cls(config["name"], config["task"], params=config.get("params"),
                     num_boost_round=config.get("num_boost_round", cls.default_rounds),
                     early_stopping_rounds=config.get("early_stopping_rounds"), seed=config.get("seed", 0),
                     num_threads=config.get("num_threads", 0), time_limit=config.get("time_limit"))
        member.num_classes_ = config.get("num_classes") or 0
        member.categorical_sizes_ = config.get("categorical_sizes")
        member.best_iteration_ = config.get("best_iteration")
        return member

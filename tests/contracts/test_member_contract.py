"""Contract: every ensemble member kind fits a table, predicts in the right shape, round-trips
through save/load, and (where it takes a ``time_limit``) stops early on a tiny budget.

``SMALL`` has one entry per kind in ``member_kinds()``: how to make a small member of it, the
library it needs when that is optional, and for a time-boxed kind what it trained.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from topnet.data import Dataset
from topnet.ensemble import (CatBoostMember, ExtraTreesMember, KNNMember, LightGBMMember, LinearMember,
                             NetworkMember, RandomForestMember, XGBoostMember, load_member)
from topnet.ensemble.bagging import BaggedMember
from topnet.ensemble.members import MEMBER_KINDS, member_kinds
from topnet.nn import create_model

NUM_CLASSES = 3
VOCABULARY = ["<missing>", *"abcdef"]
SERIAL = {"num_threads": 1}


@dataclass(frozen=True)
class Kind:
    """make(name, task, **overrides) -> an unfitted member; budget: overrides that ask for far
    more training than a tiny time limit allows, and trained(member): how much it did."""

    make: Callable[..., Any]
    requires: str | None = None
    budget: dict[str, Any] | None = None
    trained: Callable[[Any], int] | None = None


def _network(name: str, task: str, **overrides: Any) -> NetworkMember:
    outputs = 1 if task == "regression" else NUM_CLASSES
    model = create_model("mlp", input_shape=(2 + len(VOCABULARY),), num_classes=outputs, hidden=(8,))
    fit_kwargs = {"epochs": 2, "lr": 0.01, **({"loss": "mse"} if task == "regression" else {})}
    return NetworkMember(model, name, task, features="flat", categorical_sizes=[len(VOCABULARY)],
                         fit_kwargs=fit_kwargs, **overrides)


SMALL: dict[str, Kind] = {
    "network": Kind(_network),
    "lightgbm": Kind(lambda name, task, **o: LightGBMMember(name, task, **{
        "num_boost_round": 20, "params": {"min_data_in_leaf": 3, "num_leaves": 7}, "num_threads": 1, **o}),
        budget={"num_boost_round": 10_000}, trained=lambda m: m.best_iteration_),
    "linear": Kind(lambda name, task, **o: LinearMember(name, task, **o)),
    "bagged": Kind(lambda name, task, **o: BaggedMember(lambda fold: LinearMember(fold, task), name, task,
                                                        **{"num_folds": 3, **o})),
    "random_forest": Kind(lambda name, task, **o: RandomForestMember(name, task, **{"num_trees": 10, **SERIAL, **o}),
                          budget={"num_trees": 10_000}, trained=lambda m: m.num_trees_),
    "extra_trees": Kind(lambda name, task, **o: ExtraTreesMember(name, task, **{"num_trees": 10, **SERIAL, **o}),
                        budget={"num_trees": 10_000}, trained=lambda m: m.num_trees_),
    "knn": Kind(lambda name, task, **o: KNNMember(name, task, **{"candidates": (3, 9), "num_threads": 1, **o}),
                budget={}, trained=lambda m: m.valid_rows_scored_),
    "xgboost": Kind(lambda name, task, **o: XGBoostMember(name, task, **{"num_boost_round": 20, **SERIAL, **o}),
                    requires="xgboost", budget={"num_boost_round": 10_000}, trained=lambda m: m.best_iteration_),
    "catboost": Kind(lambda name, task, **o: CatBoostMember(name, task, **{"num_boost_round": 20, **SERIAL, **o}),
                     requires="catboost", budget={"num_boost_round": 10_000}, trained=lambda m: m.best_iteration_),
}


def table(rows: int, task: str = "classification", seed: int = 0) -> Dataset:
    """Two numeric columns and one categorical; the class depends on the category (code % 3)."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(1, len(VOCABULARY), size=(rows, 1))
    numeric = rng.normal(size=(rows, 2)).astype(np.float32)
    if task == "regression":
        y = (codes[:, 0] % 3 + numeric[:, 0]).astype(np.float32)
    else:
        y = ((codes[:, 0] + (numeric[:, 0] > 1.0)) % NUM_CLASSES).astype(np.int64)
    return Dataset({"numeric": numeric, "categorical": codes}, y,
                   meta={"categorical_columns": ["c"], "vocabularies": {"c": VOCABULARY}})


def make(kind: str, task: str = "classification", **overrides: Any) -> Any:
    entry = SMALL[kind]
    if entry.requires:
        pytest.importorskip(entry.requires)
    return entry.make(f"{kind}_member", task, **overrides)


def test_registry_covers_every_kind():
    assert len(member_kinds()) >= 9 and set(member_kinds()) == set(MEMBER_KINDS)
    assert {cls.kind for cls in member_kinds().values()} == set(MEMBER_KINDS)


@pytest.mark.parametrize("kind", MEMBER_KINDS)
def test_classification_probabilities_and_round_trip(kind, tmp_path):
    assert kind in SMALL, f"add a small {kind!r} member to SMALL"
    train, valid = table(240), table(120, seed=1)
    member = make(kind).fit(train, valid)
    assert member.is_fitted
    p = member.predict(valid.x)
    assert p.shape == (120, NUM_CLASSES) and p.dtype == np.float64
    assert np.all(p >= 0) and np.allclose(p.sum(axis=1), 1.0)
    config = json.loads(json.dumps(member.save(tmp_path / kind)))
    assert config["kind"] == kind and config["name"] == f"{kind}_member"
    reloaded = load_member(tmp_path / kind, config)
    assert type(reloaded) is type(member) and reloaded.name == member.name
    np.testing.assert_allclose(reloaded.predict(valid.x), p, rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", MEMBER_KINDS)
def test_regression_values(kind, tmp_path):
    train, valid = table(240, "regression"), table(60, "regression", seed=1)
    member = make(kind, "regression").fit(train, valid)
    values = member.predict(valid.x)
    assert values.shape == (60,) and values.dtype == np.float64 and np.all(np.isfinite(values))
    reloaded = load_member(tmp_path / kind, json.loads(json.dumps(member.save(tmp_path / kind))))
    np.testing.assert_allclose(reloaded.predict(valid.x), values, rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", [kind for kind in MEMBER_KINDS if SMALL[kind].budget is not None])
def test_time_limit_is_honoured_on_a_tiny_budget(kind):
    entry = SMALL[kind]
    # k-NN spends its time searching valid (more rows than one block); the others get no valid
    # split, so only the time limit can stop them before their 10,000 trees or rounds.
    valid, most = (table(3000, seed=1), 3000) if kind == "knn" else (None, 10_000)
    member = make(kind, time_limit=0.0, **entry.budget).fit(table(240), valid)
    assert 1 <= entry.trained(member) < most
    assert member.predict(table(5).x).shape == (5, NUM_CLASSES)


@pytest.mark.parametrize("kind", [kind for kind in MEMBER_KINDS if kind != "network"])
def test_predict_before_fit_says_so(kind):
    with pytest.raises(ValueError, match="not fitted"):
        make(kind).predict(table(3).x)

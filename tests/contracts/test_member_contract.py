"""Contract: every ensemble member kind fits a table, predicts in the right shape, round-trips
through save/load, and (where it takes a ``time_limit``) stops early on a tiny budget.

``SMALL`` has one entry per kind in ``member_kinds()``: how to make a small member of it, the
library it needs when that is optional, for a time-boxed kind what it trained, and for a kind
that takes other inputs than a table (token ids) a small dataset of them.
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
                             NetworkMember, RandomForestMember, TfidfLinearMember, XGBoostMember, load_member)
from topnet.ensemble.bagging import BaggedMember
from topnet.ensemble.members import MEMBER_KINDS, member_kinds
from topnet.nn import create_model

NUM_CLASSES = 3
VOCABULARY = ["<missing>", *"abcdef"]
SERIAL = {"num_threads": 1}
TEXT_VOCAB = 30  # token ids 0 (PAD), 1 (UNK), 2 .. 29


@dataclass(frozen=True)
class Kind:
    """make(name, task, **overrides) -> an unfitted member; budget: overrides that ask for far
    more training than a tiny time limit allows, trained(member): how much it did (fewer than
    most), valid_rows: the valid split the time-limit test gives (0: none); data(rows, task,
    seed) -> the kind's inputs (None: ``table``)."""

    make: Callable[..., Any]
    requires: str | None = None
    budget: dict[str, Any] | None = None
    trained: Callable[[Any], int] | None = None
    most: int = 10_000
    valid_rows: int = 0
    data: Callable[..., Dataset] | None = None


def _network(name: str, task: str, **overrides: Any) -> NetworkMember:
    outputs = 1 if task == "regression" else NUM_CLASSES
    model = create_model("mlp", input_shape=(2 + len(VOCABULARY),), num_classes=outputs, hidden=(8,))
    fit_kwargs = {"epochs": 2, "lr": 0.01, **({"loss": "mse"} if task == "regression" else {})}
    return NetworkMember(model, name, task, features="flat", categorical_sizes=[len(VOCABULARY)],
                         fit_kwargs=fit_kwargs, **overrides)


def documents(rows: int, task: str = "classification", seed: int = 0) -> Dataset:
    """Post-padded token ids ``(rows, 12)``; one marker token (2, 3 or 4) says the class."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(5, TEXT_VOCAB, size=(rows, 12))
    label = rng.integers(0, NUM_CLASSES, rows)
    ids[np.arange(rows), rng.integers(0, 4, rows)] = 2 + label
    ids[np.arange(12)[None, :] >= rng.integers(4, 13, rows)[:, None]] = 0
    if task == "regression":
        return Dataset(ids, (label + 0.1 * rng.normal(size=rows)).astype(np.float32))
    return Dataset(ids, label.astype(np.int64))


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
                budget={}, trained=lambda m: m.valid_rows_scored_, most=3000, valid_rows=3000),
    "xgboost": Kind(lambda name, task, **o: XGBoostMember(name, task, **{"num_boost_round": 20, **SERIAL, **o}),
                    requires="xgboost", budget={"num_boost_round": 10_000}, trained=lambda m: m.best_iteration_),
    "catboost": Kind(lambda name, task, **o: CatBoostMember(name, task, **{"num_boost_round": 20, **SERIAL, **o}),
                     requires="catboost", budget={"num_boost_round": 10_000}, trained=lambda m: m.best_iteration_),
    # C (alpha) chosen from a grid of 5 (3) on valid; the time limit stops the grid.
    "tfidf_linear": Kind(lambda name, task, **o: TfidfLinearMember(name, task, vocab_size=TEXT_VOCAB, **o),
                         budget={}, trained=lambda m: len(m.valid_losses_), most=5, valid_rows=120,
                         data=documents),
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


def data(kind: str, rows: int, task: str = "classification", seed: int = 0) -> Dataset:
    """A small dataset of the inputs ``kind`` takes (a table, unless it says otherwise)."""
    return (SMALL[kind].data or table)(rows, task, seed=seed)


def make(kind: str, task: str = "classification", **overrides: Any) -> Any:
    entry = SMALL[kind]
    if entry.requires:
        pytest.importorskip(entry.requires)
    return entry.make(f"{kind}_member", task, **overrides)


def test_registry_covers_every_kind():
    assert len(member_kinds()) >= 10 and set(member_kinds()) == set(MEMBER_KINDS)
    assert {cls.kind for cls in member_kinds().values()} == set(MEMBER_KINDS)


@pytest.mark.parametrize("kind", MEMBER_KINDS)
def test_classification_probabilities_and_round_trip(kind, tmp_path):
    assert kind in SMALL, f"add a small {kind!r} member to SMALL"
    train, valid = data(kind, 240), data(kind, 120, seed=1)
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
    train, valid = data(kind, 240, "regression"), data(kind, 60, "regression", seed=1)
    member = make(kind, "regression").fit(train, valid)
    values = member.predict(valid.x)
    assert values.shape == (60,) and values.dtype == np.float64 and np.all(np.isfinite(values))
    reloaded = load_member(tmp_path / kind, json.loads(json.dumps(member.save(tmp_path / kind))))
    np.testing.assert_allclose(reloaded.predict(valid.x), values, rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", [kind for kind in MEMBER_KINDS if SMALL[kind].budget is not None])
def test_time_limit_is_honoured_on_a_tiny_budget(kind):
    entry = SMALL[kind]
    # k-NN spends its time searching valid (more rows than one block) and TF-IDF + linear its
    # time trying C on valid; the others get no valid split, so only the time limit can stop them
    # before their 10,000 trees or rounds.
    valid = data(kind, entry.valid_rows, seed=1) if entry.valid_rows else None
    member = make(kind, time_limit=0.0, **entry.budget).fit(data(kind, 240), valid)
    assert 1 <= entry.trained(member) < entry.most
    assert member.predict(data(kind, 5).x).shape == (5, NUM_CLASSES)


@pytest.mark.parametrize("kind", [kind for kind in MEMBER_KINDS if kind != "network"])
def test_predict_before_fit_says_so(kind):
    with pytest.raises(ValueError, match="not fitted"):
        make(kind).predict(data(kind, 3).x)

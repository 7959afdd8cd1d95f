"""`topnet run --set bagging=k` on a table: k-fold members, out-of-fold scores, test read once."""
from __future__ import annotations

import json

import numpy as np
import pytest

from topnet.ensemble.bagging import BaggedMember
from topnet.pipeline import RunConfig, run
from topnet.pipeline.bagged import bagging_folds, classic_kinds, pool_of
from topnet.pipeline.data import prepare

QUICK = {"budget": "40s", "lr_find_steps": 40, "top_k": 2, "mc_samples": 0, "max_epochs": 6, "verbose": 0,
         "tensorboard": False, "bagging": 3}


@pytest.fixture(scope="module")
def bagged_run(tmp_path_factory, table_csv):
    root = tmp_path_factory.mktemp("bagged")
    data = table_csv(root / "table.csv", "classification")
    out = root / "run"
    metrics = run(RunConfig(data=str(data), out=str(out), target="target", **QUICK))
    return data, out, metrics


@pytest.mark.slow
def test_every_member_is_k_fold_models_fitted_on_train_valid_and_blend(bagged_run):
    data, out, metrics = bagged_run
    models = json.loads((out / "models.json").read_text())
    names = [row["name"] for row in models["models"]]
    assert set(classic_kinds()) <= set(names) and not any(name.startswith("search-") for name in names)
    assert {"lightgbm", "extra_trees", "random_forest", "knn", "linear"} <= set(classic_kinds())
    for name in names:
        config = json.loads((out / "models" / name / "member.json").read_text())
        sets = config["sets"]  # repeated bagging: sets of 3 fold models while the member's time box has room
        assert config["kind"] == "bagged" and sets >= 1 and len(config["folds"]) == 3 * sets
        assert all((out / "models" / name / f"fold-{i}").is_dir() for i in range(3 * sets))
    assert metrics["phases"]["retrain"]["folds"] == 3
    assert 0.0 <= metrics["test"]["accuracy"] <= 1.0


@pytest.mark.slow
def test_valid_and_blend_scores_are_out_of_fold(bagged_run):
    from topnet.ensemble.members import load_member

    data, out, _ = bagged_run
    run_data = prepare(RunConfig(data=str(data), out=str(out), target="target", **QUICK))
    pool = pool_of(run_data)
    models = json.loads((out / "models.json").read_text())
    row = next(r for r in models["models"] if r["name"] == "lightgbm")
    member = load_member(out / "models" / "lightgbm", json.loads((out / "models" / "lightgbm" / "member.json").read_text()))
    assert isinstance(member, BaggedMember) and len(member.oof_) == len(pool.dataset)
    blend = pool.rows["blend"]
    expected = float(np.mean(member.oof_[blend].argmax(axis=1) == np.asarray(pool.dataset.y)[blend]))
    assert row["blend"] == pytest.approx(expected)  # the blend column comes from models that never saw those rows
    pooled = float(np.mean(member.oof_.argmax(axis=1) == np.asarray(pool.dataset.y)))
    assert row["oof"] == pytest.approx(pooled) and "oof" in models["ensemble"]  # scored over every pooled row
    assert "out-of-fold" in (out / "report.html").read_text()


def test_bagging_is_refused_with_the_fix():
    for bad in (1, -2, "yes", True):
        with pytest.raises(ValueError, match="bagging=5"):
            RunConfig(bagging=bad)


def test_auto_bagging_bags_small_tables_only():
    assert RunConfig().bagging == "auto"
    assert bagging_folds("auto", "tabular", 50_000) == 5 and bagging_folds("auto", "tabular", 50_001) == 0
    assert bagging_folds("auto", "images", 100) == 0 and bagging_folds(3, "text", 100) == 0
    assert bagging_folds(0, "tabular", 100) == 0 and bagging_folds(8, "tabular", 10**6) == 8


def test_class_weight_keeps_the_classic_members_that_take_it():
    assert classic_kinds({0: 1.0, 1: 3.0}) == ["lightgbm"]

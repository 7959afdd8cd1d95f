"""`topnet run --set bagging=k` on a table: k-fold members, out-of-fold scores, test read once."""
from __future__ import annotations

import json

import numpy as np
import pytest

from topnet.ensemble.bagging import BaggedMember
from topnet.pipeline import RunConfig, run
from topnet.pipeline.bagged import bagging_folds, classic_kinds, pool_of
from topnet.pipeline.data import prepare

QUICK = {"budget": "30s", "lr_find_steps": 40, "top_k": 2, "mc_samples": 0, "max_epochs": 6, "verbose": 0,
         "tensorboard": False, "bagging": 3, "search": True}  # the bagged search's path ("auto" skips it at 30 s)


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
def test_the_search_scores_its_trials_out_of_fold(bagged_run):
    from topnet.tune._optuna import import_optuna
    from topnet.tune.study import ATTR_FIT

    _, out, metrics = bagged_run
    optuna = import_optuna()
    study = optuna.load_study(study_name="topnet-run", storage=f"sqlite:///{out / 'search' / 'study.db'}")
    assert json.loads(study.user_attrs[ATTR_FIT])["folds"] == 3  # the run's folds, recorded for workers too
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert all(len(t.user_attrs["fold_values"]) == 3 for t in complete)  # (a 30 s run may complete none)
    assert metrics["search"]["scored_on"] == "out-of-fold"
    assert "scored out of fold" in (out / "report.html").read_text()


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


def test_threads_reach_every_classic_member_that_takes_them():
    from topnet.pipeline.bagged import classic_factory

    for kind in set(classic_kinds()) - {"linear"}:
        assert classic_factory(kind, "classification", seconds=1.0, seed=0, threads=1)(kind).num_threads == 1, kind
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="threads=1"):
            RunConfig(threads=bad)


def test_class_weight_keeps_the_classic_members_that_take_it():
    assert classic_kinds({0: 1.0, 1: 3.0}) == ["lightgbm"]


@pytest.mark.slow
def test_a_bagged_run_killed_among_its_classic_members_resumes_without_redoing_them(tmp_path, table_csv, kill_run):
    from topnet.report.schema import read_run

    data, out = table_csv(tmp_path / "table.csv", "classification"), tmp_path / "run"
    settings = ["--set", "lr_find_steps=40", "--set", "top_k=2", "--set", "mc_samples=0", "--set", "max_epochs=6",
                "--set", "tensorboard=false", "--set", "search_epochs=1"]

    def finished() -> list[str]:
        try:
            return json.loads((out / "state.json").read_text()).get("classic", [])
        except (OSError, ValueError):  # not written yet, or caught mid-write
            return []

    # the kill lands after two classic members are saved, before the networks
    kill_run(["--data", str(data), "--target", "target", "--out", str(out), "--budget", "30s", "--quiet",
              *settings], lambda: len(finished()) >= 2)
    done = finished()
    stamps = {kind: (out / "models" / kind / "out_of_fold.npy").stat().st_mtime_ns for kind in done}
    config = RunConfig(data=str(data), out=str(out), target="target", budget="30s", lr_find_steps=40, top_k=2,
                       mc_samples=0, max_epochs=6, tensorboard=False, search_epochs=1, verbose=0)  # as the command's
    metrics = run(config, resume=True)
    state = json.loads((out / "state.json").read_text())
    assert state["classic"][:len(done)] == done and set(classic_kinds()) <= set(state["classic"])
    for kind, stamp in stamps.items():  # a saved member is loaded, never trained again
        assert (out / "models" / kind / "out_of_fold.npy").stat().st_mtime_ns == stamp
    names = {row["name"] for row in json.loads((out / "models.json").read_text())["models"]}
    assert set(classic_kinds()) <= names and any(name.startswith("00-") for name in names)
    assert read_run(out).notes == {} and 0.0 <= metrics["test"]["accuracy"] <= 1.0
    # the default ("auto") on a bagged table under 30 minutes: no search trials (zero-shot)
    assert state["phases"]["search"]["status"] == "skipped" and "bagged table" in state["phases"]["search"]["reason"]
    assert metrics["search"]["zero_shot"] is True and "No search trials." in (out / "report.html").read_text()


@pytest.mark.slow
def test_a_classic_library_refusing_the_table_leaves_out_that_member_only(tmp_path, table_csv, monkeypatch):
    import importlib

    run_module = importlib.import_module("topnet.pipeline.run")  # the module (the package exports the function)
    real = run_module.bag_classic

    def refusing(kind, *args, **kwargs):
        if kind == "catboost":
            from catboost import CatBoostError

            raise CatBoostError("a refusal made by the test")
        return real(kind, *args, **kwargs)

    monkeypatch.setattr(run_module, "bag_classic", refusing)
    out = tmp_path / "run"
    run(RunConfig(data=str(table_csv(tmp_path / "table.csv", "regression")), out=str(out), target="target",
                  **{**QUICK, "budget": "20s"}))
    names = {row["name"] for row in json.loads((out / "models.json").read_text())["models"]}
    assert "catboost" not in names and set(classic_kinds()) - {"catboost"} <= names
    assert "catboost" not in json.loads((out / "state.json").read_text())["classic"]


def test_untried_configs_are_the_portfolio_then_seeded_draws_never_a_tried_one(capfd):
    from types import SimpleNamespace as S

    from topnet.pipeline.bagged import member_name, untried_configs
    from topnet.tune.space import Categorical, Float, SearchSpace

    space = SearchSpace({"family": Categorical(["mlp"]), "width": Categorical([8, 16, 32, 64]),
                         "lr": Float(1e-4, 1e-2, log=True)},
                        baseline={"width": 8, "lr": 1e-3}, portfolio=[{"width": 16, "lr": 3e-3}, {"width": 64}])
    tried = S(records=[S(params={"family": "mlp", "width": 8, "lr": 1e-3}),   # the baseline ran
                       S(params={"family": "mlp", "width": 16, "lr": 3e-3})])  # so did the first portfolio entry
    drawn = untried_configs(space, tried, 4, seed=7, epochs=3)
    assert [r.number for r in drawn] == [-2, -3, -4, -5] and all(r.value is None for r in drawn)
    assert drawn[0].config["width"] == 64  # the portfolio entry no trial ran comes first
    assert all(1e-4 <= r.config["lr"] <= 1e-2 and r.config["width"] in (8, 16, 32, 64) for r in drawn)
    again = untried_configs(space, tried, 4, seed=7, epochs=3)  # a resumed run draws the same configurations
    assert [r.config for r in again] == [r.config for r in drawn]
    assert untried_configs(space, tried, 0, seed=7, epochs=3) == []
    assert member_name(5, drawn[1]) == "05-mlp-draw1"
    assert "study created" not in capfd.readouterr().err  # Optuna's INFO line stays out of a run's output

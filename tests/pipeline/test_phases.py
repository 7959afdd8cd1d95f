"""Unit checks of single phases of `topnet run` (the whole run is tested in test_run.py)."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from topnet.callbacks import Deadline
from topnet.callbacks.epoch_progress import EpochProgress
from topnet.data import Dataset, Splits
from topnet.ensemble import NetworkMember
from topnet.pipeline.evaluate import mc_dropout_scores


def _data(rows=300):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(rows, 5)).astype(np.float32), rng.integers(0, 3, rows)
    blend = Dataset(x=x, y=y)
    return SimpleNamespace(task="classification", splits=Splits(train=blend, valid=blend, blend=blend))


def _members():
    torch.manual_seed(0)
    dropout = torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.ReLU(), torch.nn.Dropout(0.3), torch.nn.Linear(16, 3))
    return [NetworkMember(dropout, name="dropout", device="cpu"),
            NetworkMember(torch.nn.Linear(5, 3), name="plain", device="cpu")]


def test_mc_dropout_scores_dropout_members_with_the_samples_asked():
    scores = mc_dropout_scores(_members(), _data(), samples=8, seconds=60, seed=0)
    assert set(scores) == {"dropout"}  # no dropout layers: nothing to sample
    assert scores["dropout"]["samples"] == 8 and np.isfinite(scores["dropout"]["blend_nll_mc"])
    assert scores["dropout"]["blend_nll"] != scores["dropout"]["blend_nll_mc"]


def test_mc_dropout_takes_fewer_samples_when_time_is_short():
    scores = mc_dropout_scores(_members(), _data(20000), samples=10**6, seconds=1.0, seed=0)
    assert 2 <= scores["dropout"]["samples"] < 10**6 and scores["dropout"]["seconds"] < 5
    assert mc_dropout_scores(_members(), _data(), samples=30, seconds=0.0, seed=0) == {
        "dropout": {"status": "skipped: out of time"}}


@pytest.mark.parametrize("metric, values, best", [("val_accuracy", [0.5, 0.7, 0.6], 0.7),
                                                   ("val_loss", [0.5, 0.3, 0.4], 0.3),
                                                   ("val_mae", [2.0, 1.0, 3.0], 1.0), ("val_r2", [0.2, 0.5, 0.4], 0.5)])
def test_retrain_progress_keeps_the_best_in_the_metric_s_direction(metric, values, best):
    progress = EpochProgress("m", metric, Deadline(None), verbose=0)
    for epoch, value in enumerate(values):
        progress.on_epoch_end(SimpleNamespace(logs={metric: value}, epoch=epoch, epochs=3))
    assert progress.best == best


@pytest.mark.parametrize("hours, widths", [(0.25, [16, 32]), (1, [16, 32]), (5, [16, 32, 64])])
def test_cpu_searches_leave_out_width_64_convnets_under_four_hours(hours, widths):
    from topnet.pipeline.search import search_space

    space = search_space(SimpleNamespace(kind="images"), hours * 3600, device="cpu")
    assert list(space.params["width"].choices) == widths


def test_the_ensemble_floor_is_left_by_the_phases_before_it():
    from topnet.budget import PHASE_FLOORS, BudgetPlan, phase_shares

    plan = BudgetPlan(240.0, phase_shares(240.0), floors=PHASE_FLOORS, clock=lambda: 0.0)
    assert plan.reserve(["lightgbm", "ensemble"]) == pytest.approx(0.07 * 240 + 60.0)  # 5% would be 12 s
    assert plan.allowance("ensemble") == pytest.approx(60.0)
    small = BudgetPlan(40.0, phase_shares(40.0), floors=PHASE_FLOORS, clock=lambda: 0.0)
    assert small.floor("ensemble") == 10.0  # at most a quarter of the budget
    assert small.allowance("search") > 0


def test_the_ensemble_floor_follows_its_members_once_they_are_known():
    from topnet.budget import PHASE_FLOORS, BudgetPlan, ensemble_floor, phase_shares

    plan = BudgetPlan(300.0, phase_shares(300.0), floors=PHASE_FLOORS, clock=lambda: 0.0)
    # one retrained model of 20 s an epoch, a search checkpoint of unknown speed, LightGBM
    plan.set_floor("ensemble", ensemble_floor([20.0, None], classic=1, predicted_rows=0.5))
    assert plan.reserve(["lightgbm", "ensemble"]) == pytest.approx(0.07 * 300 + 8.0 + 10.0 + 5.0 + 1.0)
    plan.set_floor("ensemble", ensemble_floor([None] * 30))
    assert plan.floor("ensemble") == 75.0  # still at most a quarter of the budget
    assert PHASE_FLOORS["ensemble"] == 60.0  # the plan's own copy changed, not the module's


def test_lightgbm_takes_the_time_above_the_ensembles_floor_and_the_ensemble_what_is_left():
    """The ensemble is fixed work sized by its floor, not a share of the budget: the phase before
    it may use everything above that floor, and the ensemble then gets all that is left (runs
    ended 5-6% under budget when the ensemble had a 5% share and used half of it)."""
    from topnet.budget import BudgetPlan, phase_shares

    now = [0.0]
    plan = BudgetPlan(300.0, phase_shares(300.0), floors={"ensemble": 25.0}, clock=lambda: now[0])
    for phase in ("lr_find", "search", "retrain"):
        plan.skip(phase, "not in this test")
    now[0] = 230.0
    assert plan.start("lightgbm") == pytest.approx(70.0 - 25.0)
    now[0] = 262.0  # LightGBM stopped early: the ensemble has 38 s, not only its floor
    plan.finish("lightgbm")
    assert plan.start("ensemble") == pytest.approx(38.0)


@pytest.mark.parametrize("setting", [{"precision": "half"}, {"ensemble_size": 0}])
def test_run_settings_are_checked(setting):
    from topnet.pipeline import RunConfig

    with pytest.raises(ValueError, match=next(iter(setting))):
        RunConfig(**setting)


def _probe_data(rows):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(rows, 5)).astype(np.float32), rng.integers(0, 3, rows)
    train, valid = Dataset(x=x, y=y), Dataset(x=x[:50], y=y[:50])
    return SimpleNamespace(splits=Splits(train=train, valid=valid))


def test_probe_times_steps_after_the_warm_up_and_scales_them_to_a_full_epoch():
    from topnet.configs.settings import FitSettings
    from topnet.pipeline import retrain as retrain_module

    ticks = iter(range(10**6))  # each reading of the clock is one second later
    config = {"family": "mlp", "batch_size": 32, "depth": 1, "width": 8}
    settings = FitSettings(epochs=20, metric="val_accuracy", device="cpu", patience=3, subset=0.5, subset_epochs=2)
    seconds = retrain_module.probe_epoch_seconds(config, _probe_data(2000), settings, seed=0, batches=12, warm=3,
                                                clock=lambda: float(next(ticks)))
    # one second per timed step, times ceil(2000 / 32) = 63 steps, plus one second of validation
    assert seconds == 64.0


def test_probe_gives_up_on_an_epoch_of_a_few_batches():
    from topnet.configs.settings import FitSettings
    from topnet.pipeline.retrain import probe_epoch_seconds

    settings = FitSettings(metric="val_accuracy", device="cpu")
    assert probe_epoch_seconds({"family": "mlp", "batch_size": 32}, _probe_data(150), settings, seed=0) is None
    assert probe_epoch_seconds({"family": "mlp", "batch_size": 8}, _probe_data(150), settings, seed=0, batches=4) > 0

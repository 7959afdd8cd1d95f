"""The retrain phase's promises: a decaying schedule trains every planned epoch, and a retrained
model is never worse on valid than the search trial it copies."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from topnet.configs.data_spec import TrialData
from topnet.configs.settings import FitSettings
from topnet.configs.training import train_config
from topnet.data import Dataset, Splits
from topnet.io import load_model, save_model
from topnet.pipeline.retrain import RetrainPlan, retrain
from topnet.train import evaluate


def _data(rows=600, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=2.0, size=(3, 8))
    y = rng.integers(0, 3, rows)
    x = (centres[y] + rng.normal(size=(rows, 8))).astype(np.float32)
    part = lambda lo, hi: Dataset(x=x[lo:hi], y=y[lo:hi])  # noqa: E731
    splits = Splits(train=part(0, 400), valid=part(400, 500), blend=part(500, 600))
    return SimpleNamespace(splits=splits, task="classification", info={"class_names": None})


CONFIG = {"family": "mlp", "depth": 1, "width": 16, "optimizer": "adam", "lr": 0.01, "schedule": "constant",
          "batch_size": 32}


def _trial(run, data, config, epochs, number=0):
    """A search trial's checkpoint, as `CheckpointKeeper` leaves it: ``run/search/trials/N``."""
    outcome = train_config(config, TrialData(data.splits), FitSettings(epochs=epochs, device="cpu"), seed=1)
    save_model(outcome.model, run / "search" / "trials" / str(number),
               metadata={"trial": number, "value": outcome.value, "config": config})
    return outcome.value


def _retrain(run, data, config, epochs, trial_value, patience=6):
    plan = RetrainPlan("00-mlp-t0", 0, dict(config), seed=5, epochs=epochs, trial_value=trial_value)
    settings = FitSettings(metric="val_accuracy", device="cpu")
    return retrain(plan, data, run, settings, patience=patience, seconds=600, tensorboard=False, verbose=0,
                   label="test")


def _valid_accuracy(model, data):
    return evaluate(model, data.splits.valid, metrics=["accuracy"], device="cpu")["accuracy"]


def test_a_retrained_model_worse_than_its_trial_gives_way_to_the_trial_s_weights(tmp_path):
    data = _data()
    trial_value = _trial(tmp_path, data, CONFIG, epochs=30)
    weak = {**CONFIG, "lr": 1e-5}  # one epoch at a tiny rate: far below the trial
    model, record = _retrain(tmp_path, data, weak, epochs=1, trial_value=trial_value)
    assert record["retrained_valid"] < trial_value
    assert record["weights"] == "search trial 0" and record["valid"] == trial_value
    assert _valid_accuracy(model, data) == pytest.approx(trial_value)
    assert _valid_accuracy(load_model(tmp_path / "models" / "00-mlp-t0"), data) == pytest.approx(trial_value)


def test_a_retrained_model_at_least_as_good_as_its_trial_is_kept(tmp_path):
    data = _data()
    trial_value = _trial(tmp_path, data, {**CONFIG, "lr": 1e-3}, epochs=1)
    model, record = _retrain(tmp_path, data, CONFIG, epochs=30, trial_value=trial_value)
    assert record["weights"] == "retrained" and record["valid"] == record["retrained_valid"] >= trial_value
    assert _valid_accuracy(model, data) == pytest.approx(record["valid"])


@pytest.mark.parametrize("schedule, epochs_run", [("cosine", 8), ("one_cycle", 8), ("constant", 2)])
def test_a_decaying_schedule_trains_every_planned_epoch(tmp_path, schedule, epochs_run):
    # a rate of 1e-12 changes nothing: valid never improves, so early stopping (patience 1) stops at epoch 2
    _, record = _retrain(tmp_path, _data(), {**CONFIG, "lr": 1e-12, "schedule": schedule}, epochs=8,
                         trial_value=None, patience=1)
    assert record["epochs_run"] == epochs_run and record["weights"] == "retrained"


def test_plans_of_configurations_of_different_speeds_train_the_same_epochs_in_the_time():
    from topnet.pipeline.retrain import make_plans
    from topnet.tune.checkpoints import TrialRecord

    deep, small = (TrialRecord(n, "COMPLETE", 0.9, {**CONFIG, "depth": d}) for n, d in ((-2, 3), (-1, 1)))
    # 30 s and 20 s an epoch: 8 epochs each of deep, small, deep take 640 s of the 700 s (95%: 665 s)
    plans = make_plans([deep, small, deep], {}, _data(), seed=0, seconds=700, max_epochs=60, trial_rows=400,
                       per_epoch={-2: 30.0, -1: 20.0}, margin=0.95)
    assert [p.epochs for p in plans] == [8, 8, 8]
    assert [p.trial for p in plans] == [-2, -1, -2] and len({p.seed for p in plans}) == 3
    # one configuration (search off, or one chosen): an equal share each, as before
    same = make_plans([small, small], {}, _data(), seed=0, seconds=400, max_epochs=60, trial_rows=400,
                      per_epoch={-1: 20.0})
    assert [p.epochs for p in same] == [9, 9]  # floor(0.9 * 200 / 20)

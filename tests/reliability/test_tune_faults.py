"""Scenario 7: a worker killed mid-trial is detected by its heartbeat, the trial is retried once
with the same parameters and continues from its own backup (ending with the value an unbroken
run gives); trials that raise, return NaN or ±inf, or run out of memory are marked FAIL with the
reason and never become the best."""
from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

import topnet.tune.trial_objective as objective_module
from topnet.data import Dataset, split, standardize
from topnet.errors import TrainingInterrupted
from topnet.tune import Categorical, DataSpec, Fixed, Float, SearchSpace, tune
from topnet.tune._optuna import import_optuna
from topnet.configs.builders import build_model
from topnet.configs.data_spec import TrialData, model_arguments, prepare_splits
from topnet.configs.settings import FitSettings
from topnet.configs.training import TrainOutcome, train_config
from topnet.callbacks.trial_pruning import PruningCallback
from topnet.tune.study import make_storage

optuna = import_optuna()


def _blobs(n=200, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(3, 6)) * 2.0
    y = rng.integers(0, 3, n)
    return (centers[y] + rng.normal(size=(n, 6))).astype(np.float32), y.astype(np.int64)


def _raise(error):
    def fail():
        raise error
    return fail


# what each trial's training does, in trial order
FAULTS = [0.5, _raise(ValueError("a configuration that cannot train")), math.nan, math.inf, -math.inf,
          _raise(torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")),
          _raise(MemoryError("cannot allocate the activations")), 0.7]
REASONS = ["ValueError: a configuration that cannot train", "val_accuracy is nan (the training diverged)",
           "val_accuracy is inf (the training diverged)", "val_accuracy is -inf (the training diverged)",
           "OutOfMemoryError: CUDA out of memory", "MemoryError: cannot allocate the activations"]


@pytest.mark.slow
def test_failing_trials_are_marked_failed_with_the_reason_and_never_best(tmp_path, monkeypatch):
    faults = iter(FAULTS)

    def scripted_training(config, data, settings, *, seed, callbacks=(), backup_dir=None):
        fault = next(faults)
        value = fault() if callable(fault) else fault
        model = build_model(config, model_arguments("mlp", data.for_family("mlp").train, data.width))
        return TrainOutcome(model, value, 0, {"val_accuracy": [value]}, 1)

    monkeypatch.setattr(objective_module, "train_config", scripted_training)
    x, y = _blobs()
    splits, _ = standardize(split(Dataset(x=x, y=y), valid=0.2, blend=0.2, test=0.0, seed=0))
    space = SearchSpace({"family": Fixed("mlp"), "lr": Float(1e-3, 1e-1, log=True)})
    result = tune(space, splits, num_trials=len(FAULTS), epochs=1, sampler="random", pruner="none", out=tmp_path,
                  plots=False, verbose=0)
    trials = sorted(result.study.trials, key=lambda t: t.number)
    assert [t.state.name for t in trials] == ["COMPLETE"] + ["FAIL"] * 6 + ["COMPLETE"]
    for trial, reason in zip(trials[1:7], REASONS):
        assert reason in trial.user_attrs["error"], trial.user_attrs
    assert result.best_trial == 7 and result.best_value == 0.7  # +inf is not the best (Optuna alone would say so)
    assert sorted(int(p.name) for p in (tmp_path / "trials").iterdir()) == [0, 7]  # no checkpoint of a failure
    assert json.loads((tmp_path / "tune.json").read_text())["best_trial"] == 7


def _start_worker(storage, out):
    command = [sys.executable, "-m", "topnet.cli", "worker", "--study", "crash", "--storage", storage, "--out", str(out),
               "--quiet", "--heartbeat-interval", "1", "--grace-period", "2"]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})


def _wait_for_epochs(storage, epochs, worker, timeout=180):
    """The number of the running trial once it has reported ``epochs`` epochs (its backup is past epoch 1)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.poll() is not None:  # it ended (or finished the trial) before we saw that epoch
            _, stderr = worker.communicate()
            pytest.fail(f"the worker ended (exit {worker.returncode}) before a trial reached epoch {epochs}: {stderr}")
        study = optuna.load_study(study_name="crash", storage=storage)
        running = [t for t in study.get_trials(deepcopy=False)
                   if t.state.name == "RUNNING" and len(t.intermediate_values) >= epochs]
        if running:
            return running[0].number
        time.sleep(0.05)
    pytest.fail("no trial reached the epoch in time")


@pytest.mark.slow
def test_a_killed_trial_is_retried_once_with_its_parameters_and_continues_from_its_backup(tmp_path):
    x, y = _blobs(8000)  # epochs long enough (~0.3 s) that the trial is still running when we look
    np.savez(tmp_path / "d.npz", x=x, y=y)
    spec = DataSpec(str(tmp_path / "d.npz"))
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    space = SearchSpace({"family": Fixed("mlp"), "width": Categorical([16, 32]), "lr": Float(1e-3, 1e-2, log=True),
                         "batch_size": Fixed(16)})
    tune(space, spec, num_trials=1, max_trials=0, epochs=20, study_name="crash", storage=storage, pruner="none",
         out=tmp_path / "main", plots=False, verbose=0, device="cpu", heartbeat_interval=1, grace_period=2)
    victim = _start_worker(storage, tmp_path / "worker")
    killed = _wait_for_epochs(storage, 3, victim)
    os.kill(victim.pid, signal.SIGKILL)
    victim.communicate(timeout=60)
    assert list((tmp_path / "worker" / "backups").iterdir())  # its backup is on disk
    time.sleep(3)  # past the grace period: the heartbeat is stale
    again = _start_worker(storage, tmp_path / "worker")  # the same machine and --out
    _, stderr = again.communicate(timeout=600)
    assert again.returncode == 0, stderr

    study = optuna.load_study(study_name="crash", storage=make_storage(storage, heartbeat_interval=1))
    trials = sorted(study.get_trials(), key=lambda t: t.number)
    assert [t.state.name for t in trials] == ["FAIL", "COMPLETE"] and trials[0].number == killed
    retry = trials[1]
    assert retry.system_attrs["failed_trial"] == killed and retry.params == trials[0].params
    assert retry.user_attrs["resumed"] is True and min(retry.intermediate_values) >= 2  # not from epoch 0
    assert list((tmp_path / "worker" / "backups").iterdir()) == []  # removed when the trial ended
    splits, _ = prepare_splits(spec)
    unbroken = train_config(retry.user_attrs["config"], TrialData(splits), FitSettings(epochs=20, device="cpu"),
                            seed=retry.user_attrs["seed"])
    assert retry.value == unbroken.value and retry.user_attrs["curve"] == unbroken.curve


def test_a_trial_stopped_by_sigterm_continues_from_its_backup_when_the_search_resumes(tmp_path, monkeypatch):
    x, y = _blobs(600)
    splits, _ = standardize(split(Dataset(x=x, y=y), valid=0.2, blend=0.2, test=0.0, seed=0))
    space = SearchSpace({"family": Fixed("mlp"), "width": Categorical([16, 32]), "lr": Float(1e-3, 1e-2, log=True),
                         "batch_size": Fixed(16)})
    options = dict(num_trials=2, epochs=6, pruner="none", out=tmp_path, plots=False, verbose=0, device="cpu")
    report = PruningCallback.on_epoch_end

    def terminate_in_trial_1(self, state):
        report(self, state)
        if self.trial.number == 1 and state.epoch == 2:
            os.kill(os.getpid(), signal.SIGTERM)  # BackupAndRestore turns it into TrainingInterrupted

    monkeypatch.setattr(PruningCallback, "on_epoch_end", terminate_in_trial_1)
    with pytest.raises(TrainingInterrupted):
        tune(space, splits, **options)
    assert list((tmp_path / "backups").iterdir())  # trial 1's backup is kept
    monkeypatch.undo()
    result = tune(space, splits, **options)  # the same call again: the search resumes
    trials = sorted(result.study.trials, key=lambda t: t.number)
    assert [t.state.name for t in trials] == ["COMPLETE", "FAIL", "COMPLETE"]
    assert trials[1].user_attrs["stopped"] == "sigterm" and trials[2].system_attrs["failed_trial"] == 1
    retry = trials[2]
    assert retry.params == trials[1].params and retry.user_attrs["resumed"] is True
    assert min(retry.intermediate_values) >= 2 and "stopped" not in retry.user_attrs
    unbroken = train_config(retry.user_attrs["config"], TrialData(splits), FitSettings(epochs=6, device="cpu"),
                            seed=retry.user_attrs["seed"])
    assert retry.value == unbroken.value and retry.user_attrs["curve"] == unbroken.curve
    assert result.counts["COMPLETE"] == 2 and not list((tmp_path / "backups").iterdir())

"""Scenario 11: the same seed gives bit-identical weights and metrics on CPU, another seed differs;
a TPE study killed mid-trial and resumed proposes the same sequence as an uninterrupted one."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch import nn

import topnet
from topnet.tune._optuna import import_optuna
from reliability_helpers import differences

TUNE_SCRIPT = Path(__file__).with_name("tune_script.py")


def _train(seed):
    torch.manual_seed(seed)  # the initial weights: the caller's choice, as in Keras
    g = torch.Generator().manual_seed(0)
    x = torch.randn(96, 5, generator=g)
    y = (x[:, 0] - x[:, 1] > 0).long()
    model = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 2))

    def augment(xb, generator):
        return xb + 0.1 * torch.randn(xb.shape, generator=generator)

    history = topnet.fit(model, (x[:64], y[:64]), validation_data=(x[64:], y[64:]), epochs=3, batch_size=8,
                         metrics=["accuracy"], seed=seed, augment=augment, device="cpu", verbose=0)
    return {"weights": model.state_dict(), "history": history.history}


def test_the_same_seed_is_bit_identical_and_another_seed_differs():
    first, again, other = _train(3), _train(3), _train(4)
    assert differences(first, again) == []
    assert any(path.startswith("/weights") for path in differences(first, other))
    assert first["history"]["loss"] != other["history"]["loss"]


def _tune(out, *args):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(TUNE_SCRIPT), str(out), *map(str, args)], capture_output=True,
                          text=True, timeout=600, env=env)


def _proposals(out):
    """(params, value) of the completed trials, in the order they were proposed; and all trial states."""
    study = import_optuna().load_study(study_name="topnet", storage=f"sqlite:///{out / 'study.db'}")
    trials = sorted(study.get_trials(), key=lambda t: t.number)
    done = [(t.params, t.value) for t in trials if t.state.name == "COMPLETE"]
    return done, [t.state.name for t in trials], trials


@pytest.mark.slow
def test_a_killed_and_resumed_tpe_study_proposes_the_same_sequence(tmp_path):
    reference = _tune(tmp_path / "a")
    assert reference.returncode == 0, reference.stderr
    killed = _tune(tmp_path / "b", "--kill-trial", 4)
    assert killed.returncode == -9, killed.stderr
    time.sleep(3)  # past the 2 s grace period: the killed trial's heartbeat is stale
    resumed = _tune(tmp_path / "b")
    assert resumed.returncode == 0, resumed.stderr
    expected, _, _ = _proposals(tmp_path / "a")
    got, states, trials = _proposals(tmp_path / "b")
    assert len(expected) == 12 and states.count("FAIL") == 1 and states[4] == "FAIL"
    assert trials[5].system_attrs["failed_trial"] == 4  # retried right away, with the same parameters
    assert got == expected  # the same configurations in the same order, with the same values

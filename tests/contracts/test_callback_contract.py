"""Contract: every callback is exported and follows the hook order (its state: test_callback_state.py)."""
from __future__ import annotations

import inspect

import pytest
import torch
from torch import nn

import topnet
import topnet.callbacks as callbacks_module
from topnet.callbacks import HOOKS, Callback

EXPECTED = {"History", "BackupAndRestore", "CSVLogger", "EarlyStopping", "LearningRateScheduler",
            "ModelCheckpoint", "ProgressBar", "ReduceLROnPlateau", "TerminateOnNaN", "MaxNorm", "Pruning",
            "Diagnostics", "TensorBoard", "ActivationLogger", "LearningRateLog"}


def all_callback_classes():
    return {name: obj for name, obj in vars(callbacks_module).items()
            if inspect.isclass(obj) and issubclass(obj, Callback) and obj is not Callback}


def test_every_documented_callback_is_exported():
    assert EXPECTED <= set(all_callback_classes())
    assert len(all_callback_classes()) >= 15


class Recorder(Callback):
    def __init__(self):
        self.calls = []

    def __getattribute__(self, name):
        if name in HOOKS:
            calls = object.__getattribute__(self, "calls")
            return lambda state: calls.append((name, state.epoch, state.batch))
        return object.__getattribute__(self, name)


def data(n=10):
    return torch.randn(n, 3), torch.randint(0, 2, (n,))


def test_hooks_run_in_the_documented_order():
    recorder = Recorder()
    topnet.fit(nn.Linear(3, 2), data(), validation_data=data(4), epochs=2, batch_size=5, callbacks=[recorder], verbose=0)
    names = [c[0] for c in recorder.calls]
    per_batch = ["on_batch_begin", "on_after_backward", "on_batch_end"]
    epoch = ["on_epoch_begin", *per_batch, *per_batch, "on_epoch_end"]
    assert names == ["on_fit_begin", *epoch, *epoch, "on_fit_end"]
    assert [c[1:] for c in recorder.calls if c[0] == "on_batch_end"] == [(0, 0), (0, 1), (1, 0), (1, 1)]


def test_on_fit_end_runs_after_an_exception():
    recorder = Recorder()

    class Boom(Callback):
        def on_batch_end(self, state):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        topnet.fit(nn.Linear(3, 2), data(), epochs=1, callbacks=[recorder, Boom()], verbose=0)
    assert recorder.calls[-1][0] == "on_fit_end"


def test_stop_training_stops_after_the_current_batch_and_still_ends_the_epoch():
    recorder = Recorder()

    class Stop(Callback):
        def on_batch_end(self, state):
            state.stop_training = True

    history = topnet.fit(nn.Linear(3, 2), data(), epochs=3, batch_size=2, callbacks=[Stop(), recorder], verbose=0)
    names = [c[0] for c in recorder.calls]
    assert names.count("on_batch_end") == 1 and names.count("on_epoch_end") == 1  # Keras 3's behaviour
    assert history.epoch == [0]

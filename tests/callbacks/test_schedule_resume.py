"""A 1cycle run interrupted in epoch 2 and resumed with BackupAndRestore gets the same rates.

Schedules are pure functions of ``state.step``; BackupAndRestore restores the step, the epoch
and the optimizer, so the resumed run must set exactly the learning rate and momentum, step by
step, that an uninterrupted run sets.
"""
from __future__ import annotations

import pytest
import torch
from torch import nn

import topnet
from topnet.callbacks import BackupAndRestore, Callback, LearningRateScheduler
from topnet.train.schedules import one_cycle

EPOCHS, SAMPLES, BATCH = 4, 48, 8  # 6 steps per epoch, 24 in all
TOTAL = EPOCHS * SAMPLES // BATCH


class RecordRates(Callback):
    """The rate and momentum (beta1 for Adam) each optimizer step uses, keyed by global step."""

    def __init__(self):
        self.rates: dict[int, tuple[float, float]] = {}

    def on_after_backward(self, state):
        group = state.optimizer.param_groups[0]
        momentum = group["betas"][0] if "betas" in group else group["momentum"]
        self.rates[state.step] = (group["lr"], momentum)


class CrashAt(Callback):
    def __init__(self, epoch=None, batch=None):
        self.epoch, self.batch = epoch, batch

    def on_batch_begin(self, state):
        if (state.epoch, state.batch) == (self.epoch, self.batch):
            raise RuntimeError("simulated crash")


def run(optimizer_name, backup_dir, crash=CrashAt()):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.2), nn.Linear(8, 3))
    if optimizer_name == "sgd":
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    else:
        optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(SAMPLES, 4, generator=g), torch.randint(0, 3, (SAMPLES,), generator=g)
    cycle = one_cycle(0.5, TOTAL, annihilation=0.1)
    recorder = RecordRates()
    callbacks = [BackupAndRestore(backup_dir), LearningRateScheduler(cycle, per="step", momentum_schedule=cycle.momentum),
                 recorder, crash]
    try:
        topnet.fit(model, (x, y), epochs=EPOCHS, batch_size=BATCH, optimizer=optimizer, callbacks=callbacks,
                   device="cpu", verbose=0)
    except RuntimeError:
        pass
    return recorder.rates, model, cycle


@pytest.mark.parametrize("optimizer_name", ["sgd", "adam"])
def test_interrupted_one_cycle_run_resumes_with_the_same_rates(tmp_path, optimizer_name):
    reference, reference_model, cycle = run(optimizer_name, tmp_path / "a")
    assert sorted(reference) == list(range(TOTAL))
    assert [reference[t][0] for t in range(TOTAL)] == pytest.approx([cycle(t) for t in range(TOTAL)])
    assert [reference[t][1] for t in range(TOTAL)] == pytest.approx([cycle.momentum(t) for t in range(TOTAL)])

    before, _, _ = run(optimizer_name, tmp_path / "b", CrashAt(epoch=2, batch=3))
    assert max(before) == 2 * 6 + 2  # crashed before step 15 (epoch 2, batch 3)
    after, resumed_model, _ = run(optimizer_name, tmp_path / "b")
    assert min(after) == 2 * 6  # resumed from the backup written at the start of epoch 2
    combined = {**{t: v for t, v in before.items() if t < min(after)}, **after}
    assert combined == reference  # exactly: the same floats, step by step
    assert all(before[t] == after[t] for t in before if t >= min(after))
    for key, value in reference_model.state_dict().items():
        torch.testing.assert_close(resumed_model.state_dict()[key], value, rtol=0, atol=1e-6)

"""LearningRateScheduler against PyTorch's own schedulers (ExponentialLR, StepLR)."""
import functools
import math

import numpy as np
import pytest
import torch

from topnet.callbacks.learning_rate_scheduler import LearningRateScheduler
from topnet.callbacks.state import TrainState


def make_state(lr=0.1, steps_per_epoch=3, groups=None):
    model = torch.nn.Linear(2, 1)
    params = groups(model) if groups else model.parameters()
    return TrainState(model=model, optimizer=torch.optim.SGD(params, lr=lr), epochs=10, steps_per_epoch=steps_per_epoch)


def run(callback, state, epochs):
    """Drive the hooks as train/loop.py does; return the rate of every optimizer step, per epoch."""
    rates = []
    callback.on_fit_begin(state)
    for epoch in range(epochs):
        state.epoch = epoch
        callback.on_epoch_begin(state)
        per_step = []
        for batch in range(state.steps_per_epoch):
            state.batch = batch
            callback.on_batch_begin(state)
            per_step.append(state.learning_rate)  # the rate optimizer.step() would use
            state.step += 1
            callback.on_batch_end(state)
        state.logs = {"loss": 1.0}
        callback.on_epoch_end(state)
        assert state.logs["learning_rate"] == state.learning_rate
        rates.append(per_step)
    callback.on_fit_end(state)
    return rates


def torch_rates(make_scheduler, lr, count):
    """The rate PyTorch's scheduler gives at each of ``count`` scheduler periods."""
    optimizer = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=lr)
    scheduler = make_scheduler(optimizer)
    rates = []
    for _ in range(count):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


@pytest.mark.parametrize("schedule", [
    lambda epoch, lr: lr if epoch == 0 else lr * 0.9,   # Keras's (epoch, lr) form
    lambda epoch: 0.1 * 0.9 ** epoch,                    # a pure epoch -> lr function
])
def test_per_epoch_matches_exponential_lr(schedule):
    expected = torch_rates(lambda opt: torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.9), 0.1, 6)
    rates = run(LearningRateScheduler(schedule), make_state(lr=0.1), epochs=6)
    assert [r[0] for r in rates] == pytest.approx(expected, rel=1e-12)
    assert all(len(set(r)) == 1 for r in rates)  # constant within an epoch


def test_per_epoch_matches_step_lr():
    expected = torch_rates(lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5), 0.1, 7)
    rates = run(LearningRateScheduler(lambda epoch: 0.1 * 0.5 ** (epoch // 2)), make_state(lr=0.1), epochs=7)
    assert [r[0] for r in rates] == pytest.approx(expected, rel=1e-12)


def test_per_step_matches_step_lr_stepped_every_batch():
    # 3 epochs x 3 batches = 9 optimizer steps; the step index continues across epochs.
    expected = torch_rates(lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5), 0.1, 9)
    rates = run(LearningRateScheduler(lambda step: 0.1 * 0.5 ** (step // 2), per="step"), make_state(lr=0.1), epochs=3)
    assert [r for epoch in rates for r in epoch] == pytest.approx(expected, rel=1e-12)


def test_per_step_two_argument_form_matches_exponential_lr():
    expected = torch_rates(lambda opt: torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.5), 1.0, 6)
    scheduler = LearningRateScheduler(lambda step, lr: lr if step == 0 else lr * 0.5, per="step")
    rates = run(scheduler, make_state(lr=1.0, steps_per_epoch=2), epochs=3)
    assert [r for epoch in rates for r in epoch] == pytest.approx(expected, rel=1e-12)


def test_arity_comes_from_the_signature():
    def with_default(epoch, lr=None):
        return 0.5 if lr is not None else 0.0

    def one(epoch, *, gamma):
        return gamma ** epoch

    state = make_state()
    run(LearningRateScheduler(with_default), state, epochs=1)
    assert state.learning_rate == 0.5
    run(LearningRateScheduler(functools.partial(one, gamma=0.5)), state, epochs=2)
    assert state.learning_rate == 0.5


def test_numpy_floats_and_ints_are_accepted():
    state = make_state()
    run(LearningRateScheduler(lambda epoch: np.float32(0.25)), state, epochs=1)
    assert state.learning_rate == 0.25 and isinstance(state.optimizer.param_groups[0]["lr"], float)
    run(LearningRateScheduler(lambda epoch: 1), state, epochs=1)
    assert state.learning_rate == 1.0


@pytest.mark.parametrize("value", [math.nan, math.inf, -0.1, "0.1", None, torch.tensor(0.1), True])
def test_invalid_values_name_the_epoch(value):
    scheduler = LearningRateScheduler(lambda epoch: 0.1 if epoch < 2 else value)
    with pytest.raises(ValueError, match="schedule at epoch 2: got"):
        run(scheduler, make_state(), epochs=3)


def test_invalid_values_name_the_step():
    scheduler = LearningRateScheduler(lambda step: 0.1 if step < 4 else math.nan, per="step")
    with pytest.raises(ValueError, match="schedule at step 4: got nan"):
        run(scheduler, make_state(), epochs=3)


def test_param_group_ratios_are_kept():
    groups = lambda m: [{"params": [m.weight], "lr": 0.1}, {"params": [m.bias], "lr": 0.01}]
    state = make_state(groups=groups)
    run(LearningRateScheduler(lambda epoch: 0.05), state, epochs=1)
    assert [g["lr"] for g in state.optimizer.param_groups] == pytest.approx([0.05, 0.005])


def test_bad_arguments_and_verbose(capsys):
    with pytest.raises(TypeError):
        LearningRateScheduler(0.1)
    with pytest.raises(ValueError, match="did you mean 'step'"):
        LearningRateScheduler(lambda e: 0.1, per="steps")
    run(LearningRateScheduler(lambda epoch: 0.5, verbose=1), make_state(), epochs=1)
    assert "Epoch 1: LearningRateScheduler setting learning rate to 0.5." in capsys.readouterr().out

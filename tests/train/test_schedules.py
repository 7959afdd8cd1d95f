"""Schedules against their closed forms and PyTorch's own schedulers, step by step."""
import math

import pytest
import torch
from torch.optim import lr_scheduler as torch_schedulers

from topnet.callbacks.learning_rate_scheduler import LearningRateScheduler
from topnet.train.schedules import (cosine_decay, exponential_decay, one_cycle, piecewise_constant,
                                    power_decay)
from topnet.train.state import TrainState


def torch_sequence(make_scheduler, lr, count, optimizer_cls=torch.optim.SGD, key="lr", **options):
    """``key`` of the first param group at each of ``count`` steps of PyTorch's scheduler."""
    optimizer = optimizer_cls(torch.nn.Linear(2, 1).parameters(), lr=lr, **options)
    scheduler = make_scheduler(optimizer)
    values = []
    for _ in range(count):
        values.append(optimizer.param_groups[0][key])
        optimizer.step()
        scheduler.step()
    return values


def test_power_decay_closed_form_and_lambda_lr():
    schedule = power_decay(0.1, s=7, c=2.0)
    assert [schedule(t) for t in range(30)] == pytest.approx([0.1 / (1 + t / 7) ** 2 for t in range(30)], rel=1e-15)
    expected = torch_sequence(lambda opt: torch_schedulers.LambdaLR(opt, lambda t: 1 / (1 + t / 7) ** 2), 0.1, 30)
    assert [schedule(t) for t in range(30)] == pytest.approx(expected, rel=1e-12)


def test_exponential_decay_closed_form_and_exponential_lr():
    schedule = exponential_decay(0.01, s=20)
    assert [schedule(t) for t in range(60)] == pytest.approx([0.01 * 0.1 ** (t / 20) for t in range(60)], rel=1e-15)
    assert schedule(20) == pytest.approx(0.001) and schedule(40) == pytest.approx(0.0001)
    expected = torch_sequence(lambda opt: torch_schedulers.ExponentialLR(opt, gamma=0.1 ** (1 / 20)), 0.01, 60)
    assert [schedule(t) for t in range(60)] == pytest.approx(expected, rel=1e-12)  # torch multiplies: drift ~1e-15


def test_piecewise_constant_matches_multistep_lr():
    schedule = piecewise_constant([5, 15, 16], [0.1, 0.05, 0.025, 0.0125])
    expected = torch_sequence(lambda opt: torch_schedulers.MultiStepLR(opt, [5, 15, 16], gamma=0.5), 0.1, 25)
    assert [schedule(t) for t in range(25)] == pytest.approx(expected, rel=1e-15)
    assert schedule(4) == 0.1 and schedule(5) == 0.05  # changes at the boundary (Géron, MultiStepLR)


@pytest.mark.parametrize("boundaries, values", [([5, 5], [1, 2, 3]), ([5], [1.0]), ([3, 1], [1, 2, 3]),
                                                ([1], [1.0, math.nan])])
def test_piecewise_constant_rejects_bad_arguments(boundaries, values):
    with pytest.raises(ValueError):
        piecewise_constant(boundaries, values)


def test_cosine_decay_matches_cosine_annealing_lr():
    schedule = cosine_decay(0.1, total_steps=40, final_lr=0.001)
    expected = torch_sequence(lambda opt: torch_schedulers.CosineAnnealingLR(opt, T_max=40, eta_min=0.001), 0.1, 41)
    assert [schedule(t) for t in range(41)] == pytest.approx(expected, rel=1e-9)


def test_cosine_decay_with_warmup_matches_linear_then_cosine():
    warmup, total = 5, 30

    def make(opt):
        return torch_schedulers.SequentialLR(opt, [
            torch_schedulers.LinearLR(opt, start_factor=1 / warmup, total_iters=warmup - 1),
            torch_schedulers.CosineAnnealingLR(opt, T_max=total - warmup)], milestones=[warmup])

    schedule = cosine_decay(0.1, total_steps=total, warmup_steps=warmup)
    assert [schedule(t) for t in range(total)] == pytest.approx(torch_sequence(make, 0.1, total), rel=1e-9, abs=1e-15)


@pytest.mark.parametrize("total, annihilation", [(100, 0.1), (57, 0.05), (12, 0.2)])
def test_one_cycle_closed_form(total, annihilation):
    cycle = one_cycle(0.5, total, div_factor=10, final_div_factor=1000, annihilation=annihilation)
    up = cycle.up_steps
    assert up == (total - 1 - round(annihilation * total)) // 2
    assert total - 1 - 2 * up >= round(annihilation * total)  # the annihilation phase
    assert (cycle(0), cycle(up), cycle(2 * up)) == pytest.approx((0.05, 0.5, 0.05), rel=1e-12)
    assert cycle(total - 1) == pytest.approx(0.05 / 1000, rel=1e-12)
    assert cycle(total + 50) == cycle(total - 1)  # stays at the final rate
    for t in range(total):
        if t <= up:
            closed = 0.05 + (0.5 - 0.05) * t / up
        elif t <= 2 * up:
            closed = 0.5 - (0.5 - 0.05) * (t - up) / up
        else:
            closed = 0.05 + (0.05 / 1000 - 0.05) * (t - 2 * up) / (total - 1 - 2 * up)
        assert cycle(t) == pytest.approx(closed, rel=1e-12)
    momenta = [cycle.momentum(t) for t in range(total)]
    assert momenta[0] == momenta[2 * up] == momenta[-1] == 0.95 and momenta[up] == pytest.approx(0.85)
    assert min(momenta) == pytest.approx(0.85) and max(momenta) == pytest.approx(0.95)
    lrs = [cycle(t) for t in range(total)]
    assert lrs.index(max(lrs)) == momenta.index(min(momenta)) == up  # momentum cycles inversely


@pytest.mark.parametrize("optimizer_cls, key, options", [
    (torch.optim.SGD, "momentum", {"momentum": 0.9}),
    (torch.optim.Adam, "betas", {}),
])
def test_one_cycle_matches_torch_one_cycle_lr_three_phase_linear(optimizer_cls, key, options):
    total = 50
    cycle = one_cycle(0.3, total, div_factor=25, final_div_factor=1e4, annihilation=0.1)

    def make(opt):
        return torch_schedulers.OneCycleLR(opt, max_lr=0.3, total_steps=total, pct_start=(cycle.up_steps + 1) / total,
                                           anneal_strategy="linear", three_phase=True, div_factor=25,
                                           final_div_factor=1e4, base_momentum=0.85, max_momentum=0.95)

    lrs = torch_sequence(make, 0.3, total, optimizer_cls, **options)
    momenta = torch_sequence(make, 0.3, total, optimizer_cls, key=key, **options)
    momenta = [m[0] if isinstance(m, tuple) else m for m in momenta]
    assert [cycle(t) for t in range(total)] == pytest.approx(lrs, rel=1e-9)
    assert [cycle.momentum(t) for t in range(total)] == pytest.approx(momenta, rel=1e-9)


@pytest.mark.parametrize("kwargs", [{"max_lr": 0}, {"total_steps": 2}, {"total_steps": 10.0},
                                    {"annihilation": 1.0}, {"max_momentum": 1.0}, {"div_factor": -1}])
def test_one_cycle_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        one_cycle(**{"max_lr": 0.1, "total_steps": 100, **kwargs})


@pytest.mark.parametrize("bad", [lambda: power_decay(0, 1), lambda: exponential_decay(0.1, 0),
                                 lambda: power_decay(0.1, 10, c=True)])
def test_decays_reject_bad_arguments(bad):
    with pytest.raises(ValueError):
        bad()


# -- momentum scheduling in LearningRateScheduler ------------------------------------------------


def drive(callback, optimizer, steps_per_epoch=4, epochs=3):
    """Run the callback's hooks as the loop does; the (lr, momentum-like) group values per step."""
    state = TrainState(model=torch.nn.Linear(2, 1), optimizer=optimizer, epochs=epochs, steps_per_epoch=steps_per_epoch)
    seen, logs = [], []
    callback.on_fit_begin(state)
    for state.epoch in range(epochs):
        callback.on_epoch_begin(state)
        for state.batch in range(steps_per_epoch):
            callback.on_batch_begin(state)
            group = optimizer.param_groups[0]
            seen.append((group["lr"], group["betas"][0] if "betas" in group else group.get("momentum")))
            state.step += 1
            callback.on_batch_end(state)
        state.logs = {}
        callback.on_epoch_end(state)
        logs.append(dict(state.logs))
    return seen, logs


@pytest.mark.parametrize("optimizer_cls, options", [(torch.optim.SGD, {"momentum": 0.9}), (torch.optim.RMSprop, {}),
                                                    (torch.optim.Adam, {}), (torch.optim.NAdam, {})])
def test_scheduler_sets_momentum_or_beta1_per_step(optimizer_cls, options):
    cycle = one_cycle(0.1, total_steps=12, annihilation=0.2)
    optimizer = optimizer_cls(torch.nn.Linear(2, 1).parameters(), lr=1.0, **options)
    seen, logs = drive(LearningRateScheduler(cycle, per="step", momentum_schedule=cycle.momentum), optimizer)
    assert [s[0] for s in seen] == pytest.approx([cycle(t) for t in range(12)], rel=1e-15)
    assert [s[1] for s in seen] == pytest.approx([cycle.momentum(t) for t in range(12)], rel=1e-15)
    assert logs[-1]["momentum"] == pytest.approx(cycle.momentum(11))
    if "betas" in optimizer.param_groups[0]:
        assert optimizer.param_groups[0]["betas"][1] == 0.999  # beta2 untouched


def test_scheduler_momentum_per_epoch_and_no_momentum_log_without_it():
    optimizer = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=1.0, momentum=0.5)
    seen, logs = drive(LearningRateScheduler(lambda e: 0.1, momentum_schedule=lambda e: 0.9 - 0.1 * e), optimizer)
    assert [s[1] for s in seen] == pytest.approx([0.9] * 4 + [0.8] * 4 + [0.7] * 4)
    _, logs = drive(LearningRateScheduler(lambda e: 0.1), torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=1.0))
    assert "momentum" not in logs[0]


def test_scheduler_momentum_errors():
    with pytest.raises(TypeError, match="momentum_schedule"):
        LearningRateScheduler(lambda e: 0.1, momentum_schedule=0.9)
    adagrad = torch.optim.Adagrad(torch.nn.Linear(2, 1).parameters())
    with pytest.raises(ValueError, match="without momentum"):
        drive(LearningRateScheduler(lambda e: 0.1, momentum_schedule=lambda e: 0.9), adagrad)
    sgd = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=1.0)
    with pytest.raises(ValueError, match="momentum_schedule at step 0"):
        drive(LearningRateScheduler(lambda e: 0.1, per="step", momentum_schedule=lambda e: 1.5), sgd)

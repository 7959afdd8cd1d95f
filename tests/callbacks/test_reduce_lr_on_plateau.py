"""ReduceLROnPlateau against Keras 3's rules, on scripted metric sequences.

Keras 3's rule at each epoch end:
    logs["learning_rate"] = lr (the rate used during the epoch)
    if cooldown_counter > 0: cooldown_counter -= 1; wait = 0
    if current < best - min_delta (min mode): best = current; wait = 0
    elif cooldown_counter == 0:
        wait += 1
        if wait >= patience and lr > min_lr:
            lr = max(lr * factor, min_lr); cooldown_counter = cooldown; wait = 0
"""
import io

import pytest
import torch

from topnet.callbacks.reduce_lr_on_plateau import ReduceLROnPlateau
from topnet.callbacks.state import TrainState


def make_state(lr=1.0, groups=None):
    model = torch.nn.Linear(2, 1)
    params = groups(model) if groups else model.parameters()
    return TrainState(model=model, optimizer=torch.optim.SGD(params, lr=lr), epochs=20)


def run(callback, values, state=None, monitor="val_loss", start=0, restore=None):
    """Drive the hooks as train/loop.py does; return logs["learning_rate"] of each epoch (the
    rate used in it). ``restore`` is loaded at the first epoch begin, as BackupAndRestore does."""
    state = state or make_state()
    state.epoch = start
    used = []
    callback.on_fit_begin(state)
    for epoch in range(state.epoch, start + len(values)):
        state.epoch = epoch
        if restore is not None and epoch == start:
            callback.load_state_dict(restore)
        callback.on_epoch_begin(state)
        callback.on_batch_begin(state)
        state.step += 1
        callback.on_batch_end(state)
        state.logs = {"loss": 1.0, monitor: values[epoch - start]}
        callback.on_epoch_end(state)
        used.append(state.logs["learning_rate"])
    callback.on_fit_end(state)
    return used


def test_exact_rate_sequence_with_cooldown_and_min_lr():
    # patience=2, factor=0.5, cooldown=2, min_lr=0.2, a flat metric:
    # e0 best | e1 wait1 | e2 wait2: 1 -> .5, cd=2 | e3 cd=1, skip | e4 cd=0, wait1 |
    # e5 wait2: .5 -> .25, cd=2 | e6 cd=1 | e7 wait1 | e8 wait2: .25 -> max(.125, .2) = .2 |
    # e9 cd=1 | e10 wait1 | e11 wait2 but lr .2 is not > min_lr: unchanged | e12 unchanged
    state = make_state(lr=1.0)
    reduce = ReduceLROnPlateau(factor=0.5, patience=2, cooldown=2, min_lr=0.2)
    used = run(reduce, [1.0] * 13, state=state)
    assert used == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.2, 0.2, 0.2, 0.2]
    assert state.learning_rate == 0.2


def test_cooldown_one_has_no_effect_as_in_keras():
    # The epoch after a reduction leaves its cooldown (1 -> 0) and then counts wait at once.
    with_cooldown = run(ReduceLROnPlateau(factor=0.5, patience=2, cooldown=1), [1.0] * 7)
    without = run(ReduceLROnPlateau(factor=0.5, patience=2, cooldown=0), [1.0] * 7)
    assert with_cooldown == without == [1.0, 1.0, 1.0, 0.5, 0.5, 0.25, 0.25]


def test_improvement_resets_wait():
    # e0 best 1 | e1 .9 best | e2 wait1 | e3 .8 best, wait0 | e4 wait1 | e5 wait2: 1 -> .5
    state = make_state(lr=1.0)
    used = run(ReduceLROnPlateau(factor=0.5, patience=2, min_delta=0), [1.0, 0.9, 0.95, 0.8, 0.85, 0.85, 0.85], state=state)
    assert used == [1.0] * 6 + [0.5]


def test_min_delta():
    # min_delta=0.125: e1 0.875 is not < 1 - 0.125, so wait=1 >= 1: reduce at e1
    used = run(ReduceLROnPlateau(factor=0.5, patience=1, min_delta=0.125), [1.0, 0.875, 0.5])
    assert used == [1.0, 1.0, 0.5]


def test_max_mode_for_accuracy():
    # e0 best .5 | e1 .4 worse, wait1: reduce
    used = run(ReduceLROnPlateau(monitor="val_accuracy", factor=0.5, patience=1), [0.5, 0.4, 0.6], monitor="val_accuracy")
    assert used == [1.0, 1.0, 0.5]


def test_every_param_group_keeps_its_ratio():
    groups = lambda m: [{"params": [m.weight], "lr": 1.0}, {"params": [m.bias], "lr": 0.1}]
    state = make_state(groups=groups)
    run(ReduceLROnPlateau(factor=0.5, patience=1), [1.0, 1.0], state=state)
    assert [g["lr"] for g in state.optimizer.param_groups] == pytest.approx([0.5, 0.05])


def test_state_dict_round_trip():
    # Uninterrupted: see test_exact_rate_sequence... Interrupted after e3 (cd=1), resumed at e4.
    values = [1.0] * 8
    full = run(ReduceLROnPlateau(factor=0.5, patience=2, cooldown=2), values)
    first, state = ReduceLROnPlateau(factor=0.5, patience=2, cooldown=2), make_state()
    head = run(first, values[:4], state=state)
    buffer = io.BytesIO()
    torch.save(first.state_dict(), buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    assert saved == {"wait": 0, "cooldown_counter": 1, "best": 1.0}
    resumed = ReduceLROnPlateau(factor=0.5, patience=2, cooldown=2)
    tail = run(resumed, values[4:], state=state, start=4, restore=saved)  # the optimizer state is restored elsewhere
    assert head + tail == full


def test_fresh_fit_resets_counters():
    reduce = ReduceLROnPlateau(factor=0.5, patience=2)
    run(reduce, [1.0, 1.0])
    assert reduce.wait == 1
    run(reduce, [5.0])
    assert reduce.wait == 0 and reduce.best == 5.0


def test_bad_arguments_and_missing_monitor():
    with pytest.raises(ValueError, match="factor"):
        ReduceLROnPlateau(factor=1.0)
    with pytest.raises(ValueError, match="factor"):
        ReduceLROnPlateau(factor=-0.5)
    with pytest.raises(ValueError, match="min_lr"):
        ReduceLROnPlateau(min_lr=-1)
    with pytest.raises(ValueError, match="mode"):
        ReduceLROnPlateau(mode="up")
    with pytest.raises(ValueError, match="monitor='val_loss' is not in the logs"):
        run(ReduceLROnPlateau(), [1.0], monitor="loss_other")


def test_verbose(capsys):
    run(ReduceLROnPlateau(factor=0.5, patience=1, verbose=1), [1.0, 1.0])
    assert "Epoch 2: ReduceLROnPlateau reducing learning rate to 0.5." in capsys.readouterr().out

"""EarlyStopping against Keras 3's rules, on scripted metric sequences.

Keras 3's rule at each epoch end (epochs before start_from_epoch are skipped):
    wait += 1
    if current improves on best by more than min_delta (always true for the first value):
        best = current; wait = 0 only if current also beats baseline (when given); continue
    elif wait >= patience and epoch > 0: stop
Each expected stop epoch below is derived by hand from that rule, step by step.
"""
import io
import math

import pytest
import torch

from topnet.callbacks.early_stopping import EarlyStopping
from topnet.callbacks.state import TrainState


def make_state(epochs=20):
    torch.manual_seed(0)
    model = torch.nn.Linear(2, 1)
    return TrainState(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), epochs=epochs)


def run(callback, values, state=None, monitor="val_loss", start=0, restore=None):
    """Drive the hooks in the order train/loop.py calls them; the weight is set to the epoch
    index in each epoch. ``restore`` is loaded at the first epoch begin, after on_fit_begin, as
    BackupAndRestore does. Returns the epochs that ran.
    """
    state = state or make_state(epochs=len(values))
    state.epoch = start
    ran = []
    callback.on_fit_begin(state)
    try:
        for epoch in range(state.epoch, len(values)):
            state.epoch = epoch
            if restore is not None and epoch == start:
                callback.load_state_dict(restore)
            callback.on_epoch_begin(state)
            for batch in range(2):
                state.batch = batch
                callback.on_batch_begin(state)
                with torch.no_grad():
                    state.model.weight.fill_(float(epoch))  # stands in for an optimizer step
                state.step += 1
                callback.on_batch_end(state)
            state.logs = {"loss": 1.0, monitor: values[epoch]}
            callback.on_epoch_end(state)
            ran.append(epoch)
            if state.stop_training:
                break
    finally:
        callback.on_fit_end(state)
    return ran


def test_patience():
    # e0 best=1.0 wait=0 | e1 0.9 better, wait=0 | e2 0.95 wait=1 | e3 0.92 wait=2 >= 2: stop
    stopper = EarlyStopping(patience=2)
    assert run(stopper, [1.0, 0.9, 0.95, 0.92, 0.5, 0.4]) == [0, 1, 2, 3]
    assert stopper.stopped_epoch == 3 and stopper.best == 0.9 and stopper.best_epoch == 1 and stopper.wait == 2


def test_patience_zero_stops_at_the_first_non_improvement():
    # e0 best | e1 0.5 better | e2 0.5 not strictly better, wait=1 >= 0: stop
    stopper = EarlyStopping(patience=0)
    assert run(stopper, [1.0, 0.5, 0.5, 0.1]) == [0, 1, 2]


def test_min_delta():
    # min_delta=0.125 (exact in binary). e0 best=1 | e1 0.5 + 0.125 < 1: better | e2 0.4375 + 0.125
    # = 0.5625 not < 0.5, wait=1 >= 1: stop (without min_delta it would have improved)
    assert run(EarlyStopping(patience=1, min_delta=0.125), [1.0, 0.5, 0.4375, 0.25]) == [0, 1, 2]
    assert run(EarlyStopping(patience=1), [1.0, 0.5, 0.4375, 0.25]) == [0, 1, 2, 3]
    # an improvement of exactly min_delta does not count: e1 0.875 + 0.125 = 1.0 not < 1.0, stop
    assert run(EarlyStopping(patience=1, min_delta=0.125), [1.0, 0.875, 0.5]) == [0, 1]


def test_max_mode_is_inferred_for_accuracy():
    # e0 best=0.5 | e1 0.6 better | e2 0.55 wait=1 >= 1: stop
    stopper = EarlyStopping(monitor="val_accuracy", patience=1)
    assert run(stopper, [0.5, 0.6, 0.55, 0.9], monitor="val_accuracy") == [0, 1, 2]
    assert stopper.best == 0.6


def test_baseline_never_beaten_runs_patience_epochs():
    # Keras's doc: "If no epoch improves on baseline, training will run for patience epochs".
    # e0 wait=1, first best but 0.9 does not beat baseline 0.5: wait stays 1 | e1 wait=2 |
    # e2 wait=3 >= 3: stop after three epochs.
    stopper = EarlyStopping(patience=3, baseline=0.5)
    assert run(stopper, [0.9] * 10) == [0, 1, 2]


def test_baseline_improving_but_not_beaten_does_not_stop():
    # Improvements over best return before the patience check, even when wait >= patience.
    # e0 wait=1 best=.9 | e1 wait=2 best=.8 | e2 wait=3 best=.7 | e3 wait=4, 0.75 worse: stop
    assert run(EarlyStopping(patience=2, baseline=0.5), [0.9, 0.8, 0.7, 0.75, 0.6]) == [0, 1, 2, 3]


def test_baseline_beaten_resets_the_counter():
    # e0 wait=1 | e1 wait=2 (better, baseline not beaten) | e2 0.4 beats both: wait=0 |
    # e3 wait=1 | e4 wait=2 >= 2: stop
    assert run(EarlyStopping(patience=2, baseline=0.5), [0.9, 0.8, 0.4, 0.45, 0.45, 0.45]) == [0, 1, 2, 3, 4]


def test_baseline_in_max_mode():
    # e0 wait=1 best=.5 | e1 wait=2 best=.6 | e2 wait=3, worse, >= 1: stop
    stopper = EarlyStopping(monitor="val_accuracy", patience=1, baseline=0.9)
    assert run(stopper, [0.5, 0.6, 0.55, 0.95], monitor="val_accuracy") == [0, 1, 2]


def test_start_from_epoch():
    # e0..e2 not monitored | e3 first best=4 | e4 5 worse, wait=1 >= 1: stop
    stopper = EarlyStopping(patience=1, start_from_epoch=3)
    assert run(stopper, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]) == [0, 1, 2, 3, 4]
    assert stopper.best == 4.0 and stopper.best_epoch == 3
    # without the warm-up it stops at e1
    assert run(EarlyStopping(patience=1), [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]) == [0, 1]


def test_never_stops_at_the_first_epoch():
    # A NaN first value is no improvement; wait=1 >= 0 but epoch 0 never stops (Keras's epoch > 0).
    # e1 1.0 is the first best | e2 1.0 wait=1: stop
    assert run(EarlyStopping(patience=0), [math.nan, 1.0, 1.0, 0.5]) == [0, 1, 2]


def test_restore_best_weights_when_stopped_early():
    # Stops at e3 (see test_patience); the best epoch is e1, whose weight was filled with 1.0.
    stopper = EarlyStopping(patience=2, restore_best_weights=True)
    state = make_state()
    assert run(stopper, [1.0, 0.9, 0.95, 0.92, 0.5], state=state) == [0, 1, 2, 3]
    assert torch.equal(state.model.weight, torch.full((1, 2), 1.0))
    assert stopper.best_weights["weight"].device.type == "cpu"


def test_restore_best_weights_also_when_training_runs_to_the_end():
    # Keras 3 restores at train end whether or not it stopped training; best is e2 (0.2).
    stopper = EarlyStopping(patience=5, restore_best_weights=True)
    state = make_state()
    assert run(stopper, [1.0, 0.5, 0.2, 0.3, 0.4], state=state) == [0, 1, 2, 3, 4]
    assert stopper.stopped_epoch == 0
    assert torch.equal(state.model.weight, torch.full((1, 2), 2.0))


def test_best_weights_are_a_copy_not_a_reference():
    stopper = EarlyStopping(patience=5, restore_best_weights=True)
    state = make_state()
    run(stopper, [1.0, 2.0], state=state)  # best is e0; e1 filled the weight with 1.0 afterwards
    assert torch.equal(stopper.best_weights["weight"], torch.zeros(1, 2))
    assert stopper.best_weights["weight"].data_ptr() != state.model.weight.data_ptr()


def test_without_restore_the_last_weights_stay():
    state = make_state()
    run(EarlyStopping(patience=2), [1.0, 0.9, 0.95, 0.92], state=state)
    assert torch.equal(state.model.weight, torch.full((1, 2), 3.0))


def test_instances_are_reset_between_fits():
    stopper = EarlyStopping(patience=0)
    assert run(stopper, [1.0, 1.0]) == [0, 1]
    assert run(stopper, [5.0, 4.0, 3.0]) == [0, 1, 2]  # best from the first fit (1.0) is forgotten
    assert stopper.stopped_epoch == 0


def test_state_dict_round_trip_resumes_the_counter():
    # Uninterrupted: stops at e3 (see test_patience). Interrupted after e2 (wait=1), resumed at e3.
    values = [1.0, 0.9, 0.95, 0.92, 0.5]
    first, state = EarlyStopping(patience=2, restore_best_weights=True), make_state()
    run(first, values[:3], state=state)
    buffer = io.BytesIO()
    torch.save(first.state_dict(), buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    assert saved["wait"] == 1 and saved["best"] == 0.9 and saved["best_epoch"] == 1
    resumed = EarlyStopping(patience=2, restore_best_weights=True)
    state = make_state()
    assert run(resumed, values, state=state, start=3, restore=saved) == [3]
    assert resumed.stopped_epoch == 3
    assert torch.equal(state.model.weight, torch.full((1, 2), 1.0))  # e1's weights, from the backup


def test_missing_monitor_is_an_error_at_the_first_epoch_end():
    with pytest.raises(ValueError, match=r"monitor='val_acc' is not in the logs; available: \['loss', 'val_accuracy'\]"):
        run(EarlyStopping(monitor="val_acc", mode="max"), [0.5], monitor="val_accuracy")


def test_bad_arguments():
    with pytest.raises(ValueError, match="mode"):
        EarlyStopping(mode="lowest")
    with pytest.raises(ValueError, match="mode='max'"):
        EarlyStopping(monitor="val_widgets")
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(patience=-1)
    with pytest.raises(ValueError, match="start_from_epoch"):
        EarlyStopping(start_from_epoch=1.5)


def test_verbose_messages(capsys):
    run(EarlyStopping(patience=0, verbose=1, restore_best_weights=True), [1.0, 2.0])
    out = capsys.readouterr().out
    assert "Epoch 2: early stopping" in out
    assert "Restoring model weights from the end of the best epoch: 1." in out

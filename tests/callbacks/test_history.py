"""History: per-epoch lists aligned with .epoch, and a resumed run keeps every epoch once."""
import io
import math

import torch

from topnet.callbacks.history import History
from topnet.callbacks.state import TrainState


def make_state(epochs=5):
    model = torch.nn.Linear(2, 1)
    return TrainState(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), epochs=epochs)


def run(history, state, logs_per_epoch, start=0):
    state.epoch = start
    history.on_fit_begin(state)
    for epoch, logs in enumerate(logs_per_epoch, start=start):
        state.epoch = epoch
        history.on_epoch_begin(state)
        state.logs = dict(logs)
        history.on_epoch_end(state)
    history.on_fit_end(state)


def test_records_each_epoch():
    history = History()
    run(history, make_state(), [{"loss": 1.0, "val_loss": 2.0}, {"loss": 0.5, "val_loss": 1.5}])
    assert history.epoch == [0, 1]
    assert history.history == {"loss": [1.0, 0.5], "val_loss": [2.0, 1.5]}
    assert "epochs=2" in repr(history) and "'val_loss': 1.5" in repr(history)


def test_keys_appearing_late_or_missing_are_padded_with_nan():
    history = History()
    run(history, make_state(), [{"loss": 1.0}, {"loss": 0.5, "val_loss": 1.5}, {"loss": 0.25}])
    assert history.history["loss"] == [1.0, 0.5, 0.25]
    val = history.history["val_loss"]
    assert math.isnan(val[0]) and val[1] == 1.5 and math.isnan(val[2])


def test_a_fresh_fit_starts_empty():
    history, state = History(), make_state()
    run(history, state, [{"loss": 1.0}, {"loss": 0.5}])
    run(history, state, [{"loss": 3.0}])
    assert history.epoch == [0] and history.history == {"loss": [3.0]}


def test_resume_keeps_epochs_before_the_resume_point_once():
    # A run logs epochs 0..3, but its last backup was taken after epoch 1: the resumed run
    # restores the History state from that backup and re-runs epochs 2, 3, 4.
    first, state = History(), make_state()
    run(first, state, [{"loss": 1.0}, {"loss": 0.5}])
    saved = first.state_dict()
    buffer = io.BytesIO()
    torch.save(saved, buffer)  # survives the weights-only checkpoint format
    buffer.seek(0)
    restored = History()
    restored.load_state_dict(torch.load(buffer, weights_only=True))
    run(restored, make_state(), [{"loss": 0.25}, {"loss": 0.125}, {"loss": 0.0625}], start=2)
    assert restored.epoch == [0, 1, 2, 3, 4]
    assert restored.history["loss"] == [1.0, 0.5, 0.25, 0.125, 0.0625]


def test_fit_begin_drops_epochs_that_will_run_again():
    history, state = History(), make_state()
    run(history, state, [{"loss": 1.0}, {"loss": 0.5}, {"loss": 0.25}])
    run(history, state, [{"loss": 0.3}], start=2)  # e.g. a run restored to epoch 2
    assert history.epoch == [0, 1, 2] and history.history["loss"] == [1.0, 0.5, 0.3]

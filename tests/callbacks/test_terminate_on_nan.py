"""TerminateOnNaN: stops on the first NaN/inf batch loss, reading the device flag only every check_every batches."""
import math

import pytest
import torch

from topnet.callbacks.terminate_on_nan import TerminateOnNaN
from topnet.callbacks.state import TrainState


def make_state():
    model = torch.nn.Linear(2, 1)
    return TrainState(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), epochs=10)


def run(callback, losses_per_epoch):
    """Drive the hooks as train/loop.py does (step += 1 before on_batch_end; the loop breaks
    after on_batch_end and after on_epoch_end when stop_training is set).
    Returns (state, where): where = (epoch, batch or "end") at which training stopped."""
    state = make_state()
    where = None
    callback.on_fit_begin(state)
    for epoch, losses in enumerate(losses_per_epoch):
        state.epoch = epoch
        state.steps_per_epoch = len(losses)
        callback.on_epoch_begin(state)
        for batch, loss in enumerate(losses):
            state.batch = batch
            callback.on_batch_begin(state)
            state.loss = torch.tensor(loss, requires_grad=True) * 1.0  # a graph-attached loss tensor
            callback.on_after_backward(state)
            state.step += 1
            callback.on_batch_end(state)
            if state.stop_training:
                where = (epoch, batch)
                break
        state.logs = {"loss": 1.0}
        callback.on_epoch_end(state)
        if state.stop_training:
            where = where or (epoch, "end")
            break
    callback.on_fit_end(state)
    return state, where


def test_no_invalid_loss_no_stop():
    callback = TerminateOnNaN()
    state, where = run(callback, [[1.0, 2.0], [0.5, 0.25]])
    assert where is None and not state.stop_training and callback.message is None


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_stops_at_the_invalid_batch_by_default(bad):
    callback = TerminateOnNaN()
    with pytest.warns(RuntimeWarning, match=r"Epoch 2, batch 1 \(step 5\): invalid loss"):
        state, where = run(callback, [[1.0, 2.0, 3.0], [1.0, bad, 3.0], [1.0]])
    assert where == (1, 1)
    # state.step after the bad batch's optimizer step: 3 (epoch 0) + 2
    assert (callback.stopped_epoch, callback.stopped_batch, callback.stopped_step) == (1, 1, 5)
    assert "step 5" in callback.message


def test_check_every_reads_the_flag_every_n_batches_but_records_the_first_bad_step():
    # Bad loss at batch 4; with check_every=3 the flag is read after batches 2, 5, 8: stop at 5.
    callback = TerminateOnNaN(check_every=3)
    losses = [1.0] * 4 + [math.nan] + [1.0] * 5
    with pytest.warns(RuntimeWarning, match=r"batch 4 \(step 5\)"):
        _, where = run(callback, [losses])
    assert where == (0, 5)
    assert (callback.stopped_batch, callback.stopped_step) == (4, 5)


def test_check_every_reads_at_least_once_per_epoch():
    callback = TerminateOnNaN(check_every=100)
    with pytest.warns(RuntimeWarning):
        _, where = run(callback, [[1.0, 1.0], [1.0, 1.0, math.inf], [1.0]])
    assert where == (1, "end")
    assert (callback.stopped_epoch, callback.stopped_batch, callback.stopped_step) == (1, 2, 5)


def test_host_reads_happen_only_at_checks(monkeypatch):
    reads = []
    original = TerminateOnNaN._check
    monkeypatch.setattr(TerminateOnNaN, "_check", lambda self, state: reads.append(state.batch) or original(self, state))
    run(TerminateOnNaN(check_every=4), [[1.0] * 10])
    assert reads == [3, 7, 9]  # after batches 3 and 7, and at the epoch end


def test_a_new_fit_forgets_the_last_stop():
    callback = TerminateOnNaN()
    with pytest.warns(RuntimeWarning):
        run(callback, [[math.nan]])
    _, where = run(callback, [[1.0, 1.0]])
    assert where is None and callback.stopped_step is None and callback.message is None


def test_bad_argument():
    with pytest.raises(ValueError, match="check_every"):
        TerminateOnNaN(check_every=0)

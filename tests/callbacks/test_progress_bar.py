"""ProgressBar: the plain line format, throttled progress lines, and a rich bar only on a terminal."""
import io

import pytest
import torch

from topnet.callbacks import progress_bar
from topnet.callbacks.progress_bar import ProgressBar, format_seconds, format_value
from topnet.callbacks.state import TrainState


class FakeClock:
    """Stands in for time.monotonic: each on_batch_end advances it by ``per_batch`` seconds."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class Terminal(io.StringIO):
    def isatty(self):
        return True


def run(bar, epochs, steps, clock, per_batch, epoch_seconds=0.0, running=None):
    model = torch.nn.Linear(2, 1)
    calls = []

    def running_logs():
        calls.append(clock.now)
        return running or {"loss": 0.5}

    state = TrainState(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.001), epochs=epochs,
                       steps_per_epoch=steps, running_logs=running_logs)
    bar.on_fit_begin(state)
    for epoch in range(epochs):
        state.epoch = epoch
        bar.on_epoch_begin(state)
        for batch in range(steps):
            state.batch = batch
            bar.on_batch_begin(state)
            clock.now += per_batch
            state.step += 1
            bar.on_batch_end(state)
        clock.now += epoch_seconds
        state.logs = {"loss": 0.43214, "accuracy": 0.87654, "learning_rate": 0.001, "val_loss": 0.5}
        bar.on_epoch_end(state)
    bar.on_fit_end(state)
    return calls


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(progress_bar, "_now", fake)
    return fake


def test_plain_epoch_line(clock):
    out = io.StringIO()
    run(ProgressBar(verbose=2, file=out), epochs=2, steps=3, clock=clock, per_batch=4.0, epoch_seconds=0.3)
    assert out.getvalue().splitlines() == [
        "Epoch 1/2 - 12.3s - loss: 0.4321 - accuracy: 0.8765 - val_loss: 0.5000 - learning_rate: 0.001",
        "Epoch 2/2 - 12.3s - loss: 0.4321 - accuracy: 0.8765 - val_loss: 0.5000 - learning_rate: 0.001",
    ]


def test_plain_progress_lines_at_most_every_ten_seconds(clock):
    # Batches end at 4, 8, 12, ..., 24 s: progress lines at 12 s (>= 10 after the epoch start)
    # and 24 s (>= 10 after the last line); running_logs is read only for those lines.
    out = io.StringIO()
    calls = run(ProgressBar(verbose=1, file=out), epochs=1, steps=6, clock=clock, per_batch=4.0)
    lines = out.getvalue().splitlines()
    assert lines[0] == "Epoch 1/1 - 3/6 - 12.0s - ETA 12.0s - loss: 0.5000"
    assert lines[1] == "Epoch 1/1 - 6/6 - 24.0s - ETA 0.0s - loss: 0.5000"
    assert lines[2].startswith("Epoch 1/1 - 24.0s - loss: 0.4321")
    assert calls == [12.0, 24.0]


def test_short_epochs_print_one_line_each(clock):
    out = io.StringIO()
    calls = run(ProgressBar(file=out), epochs=3, steps=50, clock=clock, per_batch=0.01)
    assert len(out.getvalue().splitlines()) == 3 and calls == []


def test_verbose_zero_is_silent(clock):
    out = Terminal()
    calls = run(ProgressBar(verbose=0, file=out), epochs=2, steps=3, clock=clock, per_batch=20.0)
    assert out.getvalue() == "" and calls == []


def test_verbose_two_on_a_terminal_is_plain(clock):
    out = Terminal()
    run(ProgressBar(verbose=2, file=out), epochs=1, steps=3, clock=clock, per_batch=20.0)
    assert out.getvalue().startswith("Epoch 1/1 - 1m00s - loss: 0.4321")


def test_rich_bar_on_a_terminal_reads_running_logs_at_most_refresh_per_second(clock):
    # 40 batches of 0.1 s = 4 s at 4 refreshes a second: at most 16 reads, not 40.
    out = Terminal()
    calls = run(ProgressBar(verbose=1, refresh_per_second=4, file=out), epochs=1, steps=40, clock=clock, per_batch=0.1)
    assert 1 <= len(calls) <= 16
    assert all(b - a >= 0.25 - 1e-9 for a, b in zip(calls, calls[1:]))
    assert "Epoch 1/1 - 4.0s - loss: 0.4321 - accuracy: 0.8765" in out.getvalue()


def test_formatting_helpers():
    assert format_value("loss", 0.43214) == "0.4321"
    assert format_value("loss", 2e-5) == "2.0000e-05"
    assert format_value("loss", 0.0) == "0.0000"
    assert format_value("loss", float("nan")) == "nan"
    assert format_value("learning_rate", 3e-4) == "0.0003"
    assert [format_seconds(s) for s in (12.34, 65, 3725)] == ["12.3s", "1m05s", "1h02m"]


def test_bad_arguments():
    with pytest.raises(ValueError, match="verbose"):
        ProgressBar(verbose=3)
    with pytest.raises(ValueError, match="refresh_per_second"):
        ProgressBar(refresh_per_second=0)

"""Budgets: durations, trial counts, and the in-trial deadline."""
import pytest
import torch

import topnet
from topnet.callbacks import Callback
from topnet.tune import Budget, Deadline, parse_budget, parse_duration


@pytest.mark.parametrize("text, seconds", [("90", 90.0), (90, 90.0), ("30s", 30.0), ("10m", 600.0), ("2h", 7200.0),
                                           ("1.5h", 5400.0), (" 10 min ", 600.0), ("1d", 86400.0), (2.5, 2.5)])
def test_durations(text, seconds):
    assert parse_budget(text) == Budget(seconds=seconds)
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text, trials", [("20 trials", 20), ("20trials", 20), ("5t", 5), ("1 trial", 1)])
def test_trial_counts(text, trials):
    assert parse_budget(text) == Budget(trials=trials)


def test_no_budget():
    assert parse_budget(None) == Budget()


@pytest.mark.parametrize("bad", ["", "ten minutes", "10 parsecs", "-5m", "0", "0s", "2.5 trials", True, [10]])
def test_bad_budgets_name_the_value_and_the_forms(bad):
    with pytest.raises(ValueError, match="budget: got .*expected"):
        parse_budget(bad)


def test_a_trial_count_is_not_a_duration():
    with pytest.raises(ValueError, match="duration"):
        parse_duration("20 trials")


def test_deadline_stops_fit_at_the_next_batch():
    now = [0.0]
    deadline = Deadline(5.0, clock=lambda: now[0])

    class Tick(Callback):
        def on_batch_end(self, state):
            now[0] += 1.0  # each batch takes "one second"

    x, y = torch.randn(40, 3), torch.randint(0, 2, (40,))
    history = topnet.fit(torch.nn.Linear(3, 2), (x, y), epochs=10, batch_size=4, callbacks=[Tick(), deadline],
                         verbose=0)
    assert deadline.expired and deadline.expired_during_fit
    assert len(history.history["loss"]) == 1  # 10 batches per epoch; stopped after the 5th
    assert deadline.remaining() == 0.0


def test_no_deadline_never_expires():
    deadline = Deadline(None)
    assert not deadline.expired and deadline.remaining() is None

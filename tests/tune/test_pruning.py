"""The pruning callback: reports each epoch, stops through the flag, the trial ends PRUNED."""
import pytest
import torch

import topnet
from topnet.callbacks import Callback
from topnet.tune import PruningCallback, tune
from topnet.tune._optuna import import_optuna

optuna = import_optuna()


class PruneTrial(optuna.pruners.BasePruner):
    """A scripted pruner: prunes trial ``number`` at its first report, never the others."""

    def __init__(self, number):
        self.number = number

    def prune(self, study, trial):
        return trial.number == self.number and len(trial.intermediate_values) >= 1


class Ends(Callback):
    def __init__(self):
        self.fit_end = None

    def on_fit_end(self, state):
        self.fit_end = (state.epoch, state.completed)


def data(n=32):
    return torch.randn(n, 3), torch.randint(0, 2, (n,))


def test_callback_reports_then_stops_and_fit_ends_normally():
    study = optuna.create_study(direction="maximize", pruner=PruneTrial(0))
    trial = study.ask()
    pruning, ends = PruningCallback(trial, "val_accuracy"), Ends()
    history = topnet.fit(torch.nn.Linear(3, 2), data(), validation_data=data(8), epochs=5, metrics=["accuracy"],
                         callbacks=[pruning, ends], verbose=0)
    assert pruning.pruned and pruning.pruned_epoch == 0 and len(history.history["loss"]) == 1
    assert ends.fit_end == (1, True)  # on_fit_end ran after a normal end of the epoch loop
    assert trial.study.trials[0].intermediate_values == {0: pytest.approx(history.history["val_accuracy"][0])}
    with pytest.raises(optuna.TrialPruned, match="pruned at epoch 0"):
        pruning.raise_if_pruned()


def test_the_last_epoch_is_reported_but_never_pruned():
    study = optuna.create_study(direction="maximize", pruner=PruneTrial(0))
    trial = study.ask()
    pruning = PruningCallback(trial, "val_accuracy")
    history = topnet.fit(torch.nn.Linear(3, 2), data(), validation_data=data(8), epochs=1, metrics=["accuracy"],
                         callbacks=[pruning], verbose=0)  # the pruner would prune at this first (and last) report
    assert not pruning.pruned and len(history.history["loss"]) == 1 and pruning.reported
    assert list(trial.study.trials[0].intermediate_values) == [0]


def test_missing_monitor_lists_the_logs():
    trial = optuna.create_study().ask()
    with pytest.raises(ValueError, match=r"monitor: got 'val_acc'.*'val_accuracy'"):
        topnet.fit(torch.nn.Linear(3, 2), data(), validation_data=data(8), metrics=["accuracy"],
                   callbacks=[PruningCallback(trial, "val_acc")], verbose=0)


def test_an_epoch_cut_short_is_not_reported():
    class StopNow(Callback):
        def on_batch_end(self, state):
            state.stop_training = True

    trial = optuna.create_study().ask()
    pruning = PruningCallback(trial, "val_loss")
    topnet.fit(torch.nn.Linear(3, 2), data(), validation_data=data(8), callbacks=[StopNow(), pruning], verbose=0)
    assert pruning.reported == [] and trial.study.trials[0].intermediate_values == {}


def test_a_hopeless_trial_is_pruned_in_a_study(blobs, small_space, tmp_path):
    result = tune(small_space(), blobs, num_trials=3, epochs=4, pruner=PruneTrial(1), out=tmp_path, plots=False,
                  verbose=0)
    states = {r.number: r.state for r in result.records}
    assert states == {0: "COMPLETE", 1: "PRUNED", 2: "COMPLETE"}
    pruned = next(r for r in result.records if r.number == 1)
    assert len(pruned.curve["val_accuracy"]) == 1 and pruned.checkpoint is None
    assert result.counts["PRUNED"] == 1 and result.counts["COMPLETE"] == 2


def test_a_nan_value_is_reported_as_the_worst():
    study = optuna.create_study(direction="maximize")
    trial = study.ask()
    state = topnet.train.state.TrainState(model=torch.nn.Linear(1, 1), logs={"val_accuracy": float("nan")})
    PruningCallback(trial, "val_accuracy").on_epoch_end(state)
    assert study.trials[0].intermediate_values == {0: float("-inf")}

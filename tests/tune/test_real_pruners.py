"""Optuna's own pruners, made by name as `tune` makes them, prune a clearly worse trial.

No scripted pruner: each trial is a real search trial (`TrialObjective`: sample, train a tiny
MLP on blobs, report ``val_accuracy`` each epoch through `PruningCallback`). Five good trials
(lr 0.03: about 0.97 valid accuracy after one epoch) run first, then one that cannot learn
(lr 1e-7: stuck at its initial ~0.33); the pruner must stop it before its last epoch.
"""
import pytest

from topnet.tune import Categorical, FitSettings, Fixed, SearchSpace, TrialData, make_pruner
from topnet.tune._optuna import import_optuna
from topnet.tune.study import PRUNERS
from topnet.tune.trial_objective import TrialObjective

optuna = import_optuna()

# Hyperband's least aggressive bracket has its first rung at 9 epochs (min_resource 1, factor 3):
# 12 epochs let every bracket stop a trial before its last epoch, which is never pruned.
EPOCHS = {"median": 4, "asha": 4, "hyperband": 12}
GOOD, BAD = 0.03, 1e-7


def run_study(pruner: str, splits, num_good: int = 5) -> list:
    """``num_good`` good trials then a bad one, in a study with ``make_pruner(pruner)``."""
    epochs = EPOCHS.get(pruner, 4)
    space = SearchSpace({"family": Fixed("mlp"), "depth": Fixed(1), "width": Fixed(16),
                         "lr": Categorical([GOOD, BAD]), "batch_size": Fixed(32)})
    # a fixed name: Hyperband assigns trials to brackets by a hash of the study's name
    study = optuna.create_study(direction="maximize", pruner=make_pruner(pruner, epochs), study_name="real-pruners")
    for lr in [GOOD] * num_good + [BAD]:
        study.enqueue_trial({"lr": lr})
    objective = TrialObjective(space, TrialData(splits), FitSettings(epochs=epochs, seed=0, device="cpu"))
    study.optimize(objective, n_trials=num_good + 1)
    return study.trials


def test_every_pruner_but_none_is_tested():
    assert set(PRUNERS) - {"none"} == set(EPOCHS) and len(EPOCHS) >= 3


@pytest.mark.parametrize("pruner", sorted(EPOCHS))
def test_a_real_pruner_stops_a_trial_that_cannot_learn(pruner, blobs):
    trials = run_study(pruner, blobs)
    *good, bad = trials
    assert all(t.params["lr"] == GOOD for t in good) and bad.params["lr"] == BAD
    assert sum(t.state == optuna.trial.TrialState.COMPLETE for t in good) >= 3
    assert min(max(t.intermediate_values.values()) for t in good) > 0.8  # the good trials learned
    assert max(bad.intermediate_values.values()) < 0.6  # the bad one is clearly worse
    assert bad.state == optuna.trial.TrialState.PRUNED
    assert len(bad.intermediate_values) < EPOCHS[pruner]  # stopped early, not after its last epoch


def test_without_a_pruner_the_bad_trial_runs_to_its_end(blobs):
    *_, bad = run_study("none", blobs, num_good=2)
    assert bad.state == optuna.trial.TrialState.COMPLETE and len(bad.intermediate_values) == 4

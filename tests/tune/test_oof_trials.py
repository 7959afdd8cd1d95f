"""Search trials scored out of fold (``FitSettings.folds``, what a bagged ``topnet run`` uses).

The trial's value is checked against out-of-fold predictions computed here by hand: the same
folds, each fold's model trained again with the trial's seed, its predictions for the rows it
never saw pooled and scored. A real Optuna pruner stops a clearly worse trial between folds.
"""
import numpy as np
import pytest
import torch

from topnet.configs import complete_config, train_config
from topnet.data import Dataset, Splits
from topnet.seeding import derive_seed
from topnet.tune import Categorical, FitSettings, Fixed, SearchSpace, TrialData, make_pruner, tune
from topnet.tune._optuna import import_optuna
from topnet.tune.trial_objective import TrialObjective, fold_splits

optuna = import_optuna()
GOOD, BAD = 0.03, 1e-7
SPACE = {"family": Fixed("mlp"), "depth": Fixed(1), "width": Fixed(16), "lr": Categorical([GOOD, BAD]),
         "batch_size": Fixed(32)}


def test_the_folds_pool_train_valid_and_blend_and_never_overlap(blobs):
    folds = fold_splits(blobs, 4, seed=3, task="classification")
    pooled = len(blobs.train) + len(blobs.valid) + len(blobs.blend)
    assert len(folds) == 4 and sum(len(f.splits.valid) for f in folds) == pooled
    x = np.concatenate([np.asarray(blobs.train.x), np.asarray(blobs.valid.x), np.asarray(blobs.blend.x)])
    rows = {tuple(row): i for i, row in enumerate(x)}
    held = [sorted(rows[tuple(r)] for r in np.asarray(f.splits.valid.x)) for f in folds]
    assert sorted(i for fold in held for i in fold) == list(range(pooled))  # each row held out exactly once
    for fold, rows_held in zip(folds, held):
        trained = {rows[tuple(r)] for r in np.asarray(fold.splits.train.x)}
        assert not trained & set(rows_held) and len(trained) + len(rows_held) == pooled  # no leak
    again = fold_splits(blobs, 4, seed=3, task="classification")  # the same folds for every trial
    assert all(np.array_equal(a.splits.valid.y, b.splits.valid.y) for a, b in zip(folds, again))


def test_a_trial_is_scored_by_its_out_of_fold_predictions(blobs):
    settings = FitSettings(epochs=2, seed=5, device="cpu", folds=3)
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial({"lr": GOOD})
    objective = TrialObjective(SearchSpace(SPACE), TrialData(blobs), settings)
    study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    assert trial.state == optuna.trial.TrialState.COMPLETE and len(trial.user_attrs["fold_values"]) == 3
    # by hand: the same folds and seeds, each fold model's predictions for its held-out rows, pooled
    folds = fold_splits(blobs, 3, seed=derive_seed(5, "search folds") % 2**31, task="classification")
    config = complete_config({**{k: p.value for k, p in SPACE.items() if isinstance(p, Fixed)}, "lr": GOOD}, 2)
    correct = total = 0
    for index, fold in enumerate(folds):
        seed = derive_seed(trial.user_attrs["seed"], "fold", index) % 2**31
        model = train_config(config, fold, settings, seed=seed).model.eval()
        with torch.no_grad():
            predicted = model(torch.as_tensor(np.asarray(fold.splits.valid.x))).argmax(dim=1).numpy()
        correct += int((predicted == np.asarray(fold.splits.valid.y)).sum())
        total += len(fold.splits.valid)
    assert total == len(blobs.train) + len(blobs.valid) + len(blobs.blend)
    assert trial.value == pytest.approx(correct / total)
    assert 0.8 < trial.value <= 1.0


def test_a_real_pruner_stops_a_worse_trial_between_folds(blobs):
    # one epoch per fold: a fold's last epoch is never pruned, so only the check between folds can stop it
    settings = FitSettings(epochs=1, seed=0, device="cpu", folds=3)
    study = optuna.create_study(direction="maximize", pruner=make_pruner("median", settings.epochs * 3))
    for lr in [GOOD] * 4 + [BAD]:
        study.enqueue_trial({"lr": lr})
    study.optimize(TrialObjective(SearchSpace(SPACE), TrialData(blobs), settings), n_trials=5)
    *good, bad = study.trials
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in good)
    assert all(sorted(t.intermediate_values) == [0, 1, 2] for t in good)  # step = fold * epochs + epoch
    assert bad.state == optuna.trial.TrialState.PRUNED and bad.params["lr"] == BAD
    assert len(bad.user_attrs["fold_values"]) < 3 and bad.user_attrs["stopped"].startswith("pruned after fold")


def test_tune_records_the_folds_and_makes_no_blend_check(blobs, tmp_path):
    result = tune(SearchSpace(SPACE, baseline={"lr": GOOD}), blobs, num_trials=2, epochs=1, folds=2, seed=0,
                  out=tmp_path / "tune", device="cpu", plots=False, verbose=0)
    assert result.best_value is not None and "out of fold" in result.selection_bias["note"]
    complete = [t for t in result.study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert complete and all(len(t.user_attrs["fold_values"]) == 2 for t in complete)


@pytest.mark.parametrize("bad", [1, -1, 2.0, True])
def test_folds_is_refused_with_the_fix(bad):
    with pytest.raises(ValueError, match="folds"):
        FitSettings(folds=bad)


def test_a_regression_trial_is_scored_out_of_fold():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 4)).astype(np.float32)
    part = Dataset(x=x, y=(x @ np.array([1.0, -2.0, 0.5, 0.0])).astype(np.float32))
    splits = Splits(train=part.take(range(80)), valid=part.take(range(80, 100)), blend=part.take(range(100, 120)))
    settings = FitSettings(epochs=2, metric="val_loss", seed=0, device="cpu", folds=2)
    study = optuna.create_study(direction="minimize")
    space = SearchSpace({**SPACE, "lr": Fixed(GOOD)})
    study.optimize(TrialObjective(space, TrialData(splits), settings), n_trials=1)
    values = study.trials[0].user_attrs["fold_values"]
    folds = fold_splits(splits, 2, seed=derive_seed(0, "search folds") % 2**31, task="regression")
    sizes = [len(f.splits.valid) for f in folds]
    assert study.trials[0].value == pytest.approx(np.average(values, weights=sizes))  # the pooled mean loss

"""Combiner selection: scored on out-of-fold blend rows only."""
from __future__ import annotations

import numpy as np
import pytest

from topnet.ensemble import cross_fit, fold_ids, get_combiner, log_loss, select_combiner
from topnet.errors import DataError


def test_folds_are_stratified_and_seeded():
    y = np.repeat([0, 1, 2], [30, 20, 10])
    ids = fold_ids(y, 5, seed=3)
    for label in range(3):
        counts = np.bincount(ids[y == label], minlength=5)
        assert counts.max() - counts.min() <= 1
    assert (ids == fold_ids(y, 5, seed=3)).all() and not (ids == fold_ids(y, 5, seed=4)).all()


def test_few_rows_get_fewer_folds_and_too_few_are_refused():
    assert set(fold_ids(np.array([0, 1, 0, 1, 0, 1]), 5)) == {0, 1, 2}
    with pytest.raises(DataError, match="at least 4 rows"):
        fold_ids(np.array([0, 1, 0]), 5)


@pytest.mark.parametrize("name", ["weighted", "caruana", pytest.param("stacking", marks=pytest.mark.slow)])
def test_a_fold_is_predicted_without_its_own_labels(members_and_labels, name):
    stacked, y = members_and_labels
    folds = fold_ids(y, 5, seed=0)
    changed = y.copy()
    changed[folds == 2] = (y[folds == 2] + 1) % 3  # relabel only fold 2
    first = cross_fit(get_combiner(name), stacked, y, "classification", folds)
    second = cross_fit(get_combiner(name), stacked, changed, "classification", folds)
    np.testing.assert_array_equal(first[folds == 2], second[folds == 2])
    assert not np.allclose(first[folds != 2], second[folds != 2])


def test_scores_are_out_of_fold_losses_and_the_minimum_wins(members_and_labels):
    stacked, y = members_and_labels
    result = select_combiner(stacked, y, num_folds=4, seed=1)
    assert list(result.scores) == ["uniform", "weighted", "caruana", "stacking"]
    for name, score in result.scores.items():
        oof = cross_fit(get_combiner(name), stacked, y, "classification", result.folds)
        assert score == pytest.approx(log_loss(oof, y))
    assert result.name == min(result.scores, key=result.scores.get)
    refit = get_combiner(result.name).fit(stacked, y)  # the winner is refitted on every row
    np.testing.assert_allclose(result.combiner.combine(stacked), refit.combine(stacked))


def test_in_sample_loss_would_flatter_stacking(members_and_labels):
    stacked, y = members_and_labels
    result = select_combiner(stacked, y, candidates=["stacking"])
    in_sample = log_loss(result.combiner.combine(stacked), y)
    assert in_sample < result.scores["stacking"]  # why the selection scores out of fold


def test_ties_go_to_the_simpler_combiner():
    y = np.tile([0, 1], 20)
    same = np.stack([np.eye(2)[y] * 0.8 + 0.1] * 2)  # two identical members: every weighting is equal
    assert select_combiner(same, y, candidates=["uniform", "weighted"]).name == "uniform"


def test_regression_selection_uses_mse():
    rng = np.random.default_rng(0)
    y = rng.normal(size=120)
    stacked = np.stack([y + 0.3 * rng.normal(size=120), y + 2.0 * rng.normal(size=120)])
    result = select_combiner(stacked, y, task="regression")
    assert result.name != "uniform" and result.out_of_fold.shape == (120, 1)

"""Combiners against references: a grid over the simplex, a naive greedy loop, scikit-learn."""
from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression, Ridge

from topnet.ensemble import COMBINERS, CaruanaSelection, Stacking, UniformAverage, WeightedAverage, get_combiner, log_loss
from topnet.ensemble.combiners import combiner_from_state


def _simplex_grid(step: int):
    """Every (a, b, c) >= 0 with a + b + c = 1 in multiples of 1 / step."""
    return np.array([(i, j, step - i - j) for i in range(step + 1) for j in range(step + 1 - i)], dtype=float) / step


def test_uniform_is_the_mean(members_and_labels):
    stacked, y = members_and_labels
    combiner = UniformAverage().fit(stacked, y)
    np.testing.assert_allclose(combiner.combine(stacked), stacked.mean(axis=0))


def test_nelder_mead_matches_a_grid_over_the_simplex(members_and_labels):
    stacked, y = members_and_labels
    grid = _simplex_grid(100)
    mixed = np.einsum("gm,mnc->gnc", grid, stacked)  # (grid points, rows, classes)
    losses = -np.log(np.clip(mixed[:, np.arange(len(y)), y], 1e-15, 1)).mean(axis=1)
    best = grid[int(np.argmin(losses))]
    assert 0.05 < best.min() and best.max() < 0.95  # an interior optimum: a fair test of the search
    combiner = WeightedAverage().fit(stacked, y)
    assert log_loss(combiner.combine(stacked), y) <= losses.min() + 1e-9
    np.testing.assert_allclose(combiner.weights_, best, atol=0.015)
    assert combiner.weights_.sum() == pytest.approx(1.0) and (combiner.weights_ > 0).all()


def test_nelder_mead_regression_matches_a_grid():
    rng = np.random.default_rng(1)
    y = rng.normal(size=200)
    stacked = np.stack([y + s * rng.normal(size=200) for s in (0.5, 0.8, 1.0)])
    grid = _simplex_grid(100)
    losses = ((grid @ stacked - y) ** 2).mean(axis=1)
    combiner = WeightedAverage().fit(stacked, y, task="regression")
    assert ((combiner.combine(stacked)[:, 0] - y) ** 2).mean() <= losses.min() + 1e-9
    np.testing.assert_allclose(combiner.weights_, grid[int(np.argmin(losses))], atol=0.015)


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_the_weights_objective_is_the_loss_of_the_weighted_mean(task, members_and_labels):
    # Nelder-Mead's objective is computed from the true-class probabilities only (a 47,000-row
    # bagged run spent 120 s in it); its value must be the loss of the whole weighted mean.
    from topnet.ensemble.combiners import _simplex, _weights_objective, loss_function

    stacked, y = members_and_labels
    if task == "regression":
        stacked, y = stacked[:, :, :2] * 3.0, stacked[0, :, :2] + 0.1
    objective = _weights_objective(stacked, y, loss_function(task), task)
    for theta in (np.zeros(2), np.array([1.5, -0.7]), np.array([-20.0, 30.0])):
        mean = np.tensordot(_simplex(theta), stacked, axes=1)
        assert objective(theta) == pytest.approx(loss_function(task)(mean, y), rel=1e-12, abs=1e-15)


def test_weights_on_rows_picked_by_a_mask_match_a_contiguous_copy(members_and_labels):
    stacked, y = members_and_labels
    mask = np.arange(stacked.shape[1]) % 3 != 0
    picked = stacked[:, mask]  # not C-contiguous: cross-fitting's folds look like this
    assert not picked.flags.c_contiguous
    np.testing.assert_array_equal(WeightedAverage().fit(picked, y[mask]).weights_,
                                  WeightedAverage().fit(picked.copy(), y[mask]).weights_)


def _naive_caruana(stacked, y, rounds):
    """Caruana et al. written out: rebuild the ensemble's average from its member list each time."""
    chosen, history = [], []
    for _ in range(rounds):
        losses = [log_loss(np.mean([stacked[i] for i in chosen + [m]], axis=0), y) for m in range(len(stacked))]
        chosen.append(int(np.argmin(losses)))
        history.append((min(losses), list(chosen)))
    best_loss, best = min(history, key=lambda item: item[0])
    return np.bincount(best, minlength=len(stacked)) / len(best), best_loss


@pytest.mark.parametrize("rounds", [1, 5, 25])
def test_caruana_matches_the_naive_greedy_loop(members_and_labels, rounds):
    stacked, y = members_and_labels
    expected, best_loss = _naive_caruana(stacked, y, rounds)
    combiner = CaruanaSelection(rounds=rounds).fit(stacked, y)
    np.testing.assert_allclose(combiner.weights_, expected)
    assert log_loss(combiner.combine(stacked), y) == pytest.approx(best_loss)
    assert combiner.losses_.min() == pytest.approx(best_loss) and len(combiner.losses_) == rounds


def test_caruana_first_round_is_the_best_single_member(members_and_labels):
    stacked, y = members_and_labels
    singles = [log_loss(p, y) for p in stacked]
    combiner = CaruanaSelection(rounds=1).fit(stacked, y)
    assert combiner.weights_.tolist() == np.eye(3)[int(np.argmin(singles))].tolist()


def test_caruana_is_bounded_by_exhaustive_search_over_multisets(members_and_labels):
    stacked, y = members_and_labels
    rounds = 6
    exhaustive = min(log_loss(np.mean(stacked[list(bag)], axis=0), y)
                     for size in range(1, rounds + 1) for bag in itertools.combinations_with_replacement(range(3), size))
    greedy = log_loss(CaruanaSelection(rounds=rounds).fit(stacked, y).combine(stacked), y)
    assert exhaustive <= greedy + 1e-12 and greedy <= min(log_loss(p, y) for p in stacked)
    assert greedy <= exhaustive + 0.01  # greedy gets close on an easy problem


@pytest.mark.parametrize("classes", [2, 3])
def test_stacking_predicts_like_scikit_learn(classes, make_members):
    stacked, y = make_members(classes=classes, seed=classes)
    combiner = Stacking(C=0.5).fit(stacked, y)
    features = np.log(np.clip(stacked, 1e-15, 1)).transpose(1, 0, 2).reshape(len(y), -1)
    reference = LogisticRegression(C=0.5, max_iter=1000).fit(features, y)
    np.testing.assert_allclose(combiner.combine(stacked), reference.predict_proba(features), atol=1e-10)


def test_stacking_regression_is_a_ridge():
    rng = np.random.default_rng(2)
    y = rng.normal(size=100)
    stacked = np.stack([y + rng.normal(size=100), 2 * y + rng.normal(size=100)])
    combiner = Stacking(alpha=0.3).fit(stacked, y, task="regression")
    reference = Ridge(alpha=0.3).fit(stacked.T, y)
    np.testing.assert_allclose(combiner.combine(stacked)[:, 0], reference.predict(stacked.T), atol=1e-10)


def test_stacking_keeps_columns_of_classes_missing_from_blend(make_members):
    stacked, y = make_members(classes=4)
    keep = y != 3
    combiner = Stacking().fit(stacked[:, keep], y[keep])
    out = combiner.combine(stacked)
    assert out.shape == (len(y), 4) and (out[:, 3] == 0).all()
    np.testing.assert_allclose(out.sum(axis=1), 1.0)


@pytest.mark.parametrize("name", sorted(COMBINERS))
@pytest.mark.parametrize("task", ["classification", "regression"])
def test_every_combiner_round_trips_through_json(name, task, members_and_labels):
    stacked, y = members_and_labels
    if task == "regression":
        stacked, y = stacked[:, :, 0], y.astype(float)
    fitted = get_combiner(name).fit(stacked, y, task=task)
    state = json.loads(json.dumps(fitted.state_dict()))
    reloaded = combiner_from_state(state)
    np.testing.assert_array_equal(reloaded.combine(stacked), fitted.combine(stacked))
    assert reloaded.get_params() == fitted.get_params()


def test_registry_holds_the_four_combiners():
    assert {"uniform", "weighted", "caruana", "stacking"} <= set(COMBINERS) and len(COMBINERS) >= 4


def test_errors_name_the_value_and_the_fix(members_and_labels):
    stacked, y = members_and_labels
    with pytest.raises(ValueError, match="unknown combiner 'wieghted'.*did you mean 'weighted'"):
        get_combiner("wieghted")
    with pytest.raises(ValueError, match="not fitted"):
        UniformAverage().combine(stacked)
    with pytest.raises(ValueError, match="2 members"):
        UniformAverage().fit(stacked, y).combine(stacked[:2])
    with pytest.raises(ValueError, match="rounds"):
        CaruanaSelection(rounds=0).fit(stacked, y)
    with pytest.raises(ValueError, match="finite"):
        UniformAverage().fit(np.full((2, 3, 2), np.nan), np.array([0, 1, 0]))

"""k-fold bagging: out-of-fold predictions come only from models that never saw the row."""
from __future__ import annotations

import numpy as np
import pytest

from topnet.data import Dataset
from topnet.ensemble.bagging import BaggedMember
from topnet.ensemble.linear import LinearMember
from topnet.ensemble.member_base import Member


class Memorizer(Member):
    """Predicts the true class for rows it trained on (and its early-stopping rows), uniform otherwise."""

    kind = "memorizer"

    def fit(self, train, valid=None):
        seen = [train] + ([valid] if valid is not None else [])
        self.seen_ = {int(row_id): int(label) for part in seen for row_id, label in zip(part.x[:, 0], part.y)}
        self.trained_ids_ = set(int(i) for i in train.x[:, 0])
        self.stop_ids_ = set() if valid is None else set(int(i) for i in valid.x[:, 0])
        return self

    def predict(self, x):
        out = np.full((len(x), 2), 0.5)
        for row, row_id in enumerate(x[:, 0]):
            if int(row_id) in self.seen_:
                out[row] = np.eye(2)[self.seen_[int(row_id)]]
        return out


def _pool(rows=50, seed=0):
    rng = np.random.default_rng(seed)
    x = np.column_stack([np.arange(rows), rng.normal(size=rows)]).astype(np.float64)
    return Dataset(x=x, y=rng.integers(0, 2, rows))


def test_every_out_of_fold_prediction_comes_from_a_model_that_never_saw_the_row():
    pool = _pool()
    bagged = BaggedMember(lambda name: Memorizer(name), num_folds=5, seed=3, inner_valid=0.2).fit(pool)
    assert np.all(bagged.predict_split("blend", pool) == 0.5)  # a memorizer that saw a row would give it away
    for fold, member in enumerate(bagged.members_):
        held = set(np.flatnonzero(bagged.fold_ids_ == fold).tolist())
        assert held.isdisjoint(member.trained_ids_) and held.isdisjoint(member.stop_ids_)
        assert member.stop_ids_ and member.stop_ids_.isdisjoint(member.trained_ids_)
        assert held | member.trained_ids_ | member.stop_ids_ == set(range(len(pool)))


def test_the_leak_check_can_fail():  # the same check on a member fitted on every row gives the rows away
    pool = _pool()
    leaky = Memorizer("leaky").fit(pool)
    assert not np.all(leaky.predict(pool.x) == 0.5)


def test_new_rows_get_the_mean_of_the_fold_models_and_a_saved_member_predicts_the_same(tmp_path):
    from topnet.ensemble.members import load_member

    rng = np.random.default_rng(1)
    x = rng.normal(size=(80, 3)).astype(np.float32)
    pool, new = Dataset(x=x, y=(x[:, 0] + x[:, 1] > 0).astype(np.int64)), rng.normal(size=(7, 3)).astype(np.float32)
    bagged = BaggedMember(lambda name: LinearMember(name), name="linear-bag", num_folds=4, seed=0).fit(pool)
    expected = np.mean([m.predict(new) for m in bagged.members_], axis=0)
    np.testing.assert_allclose(bagged.predict(new), expected)
    config = bagged.save(tmp_path / "bag")
    same = load_member(tmp_path / "bag", config)
    np.testing.assert_allclose(same.predict(new), bagged.predict(new), rtol=1e-12)
    np.testing.assert_array_equal(same.oof_, bagged.oof_)


def test_an_ensemble_fitted_on_the_pool_fits_its_combiner_on_the_out_of_fold_predictions():
    from topnet.data import Splits
    from topnet.ensemble import Ensemble

    rng = np.random.default_rng(2)
    x = rng.normal(size=(120, 3)).astype(np.float32)
    pool = Dataset(x=x, y=(x[:, 0] > 0).astype(np.int64))
    members = [BaggedMember(lambda name: LinearMember(name, C=c), name=f"bag-{c}", num_folds=3).fit(pool)
               for c in (0.01, 1.0)]
    ensemble = Ensemble(members, combiner="weighted", temperature=False).fit(Splits(train=pool, blend=pool))
    stacked = ensemble.stack({m.name: m.predict_split("blend", pool) for m in members}, members)
    np.testing.assert_array_equal(stacked[0], members[0].oof_)


def test_bad_settings_are_refused_with_the_value():
    with pytest.raises(ValueError, match="inner_valid"):
        BaggedMember(lambda name: LinearMember(name), inner_valid=0.7).fit(_pool())
    with pytest.raises(ValueError, match="factory"):
        BaggedMember(None).fit(_pool())


def test_repeated_sets_deal_new_folds_and_never_leak():
    pool = _pool(rows=60)
    bagged = BaggedMember(lambda name: Memorizer(name), num_folds=4, seed=3, inner_valid=0.2, repeats=3).fit(pool)
    assert bagged.sets_ == 3 and len(bagged.members_) == 12 and len(bagged.fold_sets_) == 3
    assert not np.array_equal(bagged.fold_sets_[0], bagged.fold_sets_[1])  # each set deals its own folds
    assert np.all(bagged.predict_split("blend", pool) == 0.5)  # the mean over sets of out-of-fold predictions only
    for index, member in enumerate(bagged.members_):
        folds = bagged.fold_sets_[index // 4]
        held = set(np.flatnonzero(folds == index % 4).tolist())
        assert held.isdisjoint(member.trained_ids_) and held.isdisjoint(member.stop_ids_)


def test_the_out_of_fold_predictions_of_repeated_sets_are_their_mean():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(90, 3)).astype(np.float32)
    pool = Dataset(x=x, y=(x[:, 0] - x[:, 2] > 0).astype(np.int64))
    bagged = BaggedMember(lambda name: LinearMember(name), num_folds=3, seed=1, repeats=2).fit(pool)
    by_hand = np.zeros((90, 2))
    for index, member in enumerate(bagged.members_):
        held = np.flatnonzero(bagged.fold_sets_[index // 3] == index % 3)
        by_hand[held] += member.predict(x[held]) / 2
    np.testing.assert_allclose(bagged.oof_, by_hand, rtol=1e-10)
    np.testing.assert_allclose(bagged.predict(x[:5]), np.mean([m.predict(x[:5]) for m in bagged.members_], axis=0))


def test_a_time_box_stops_the_repeats_when_another_set_would_not_fit():
    import time

    class Slow(LinearMember):
        def fit(self, train, valid=None):
            time.sleep(0.05)
            return super().fit(train, valid)

    bagged = BaggedMember(lambda name: Slow(name), num_folds=2, repeats=50, seconds=0.5).fit(_pool())
    assert 2 <= bagged.sets_ < 50  # sets of ~0.1 s: several fit in 0.5 s, not fifty
    assert bagged.seconds_ <= 0.5 * 1.5
    with pytest.raises(ValueError, match="repeats"):
        BaggedMember(lambda name: LinearMember(name), repeats=0).fit(_pool())

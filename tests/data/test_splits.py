"""Tests for topnet.data.splits."""
import numpy as np
import pytest

from topnet.data import Dataset, Splits, split
from topnet.errors import DataError


def _classification(counts=(50, 30, 20), seed=0):
    y = np.repeat(np.arange(len(counts)), counts)
    y = np.random.default_rng(seed).permutation(y)
    return Dataset(x=np.arange(len(y), dtype=np.float32)[:, None], y=y, class_names=["a", "b", "c"][: len(counts)])


def _ids(dataset):
    return dataset.x[:, 0].astype(int)


def test_sizes_disjoint_and_covering():
    data = _classification()
    splits = split(data, valid=0.2, blend=0.1, test=0.15, seed=3)
    sizes = {name: len(d) for name, d in splits.items()}
    assert sizes == {"train": 55, "valid": 20, "blend": 10, "test": 15}
    ids = np.concatenate([_ids(d) for _, d in splits.items()])
    assert sorted(ids.tolist()) == list(range(100))
    assert splits.valid.class_names == ("a", "b", "c")


def test_every_class_in_proportion_in_every_split():
    data = _classification((400, 250, 100, 50))
    splits = split(data, valid=0.1, blend=0.2, test=0.15, seed=1)
    for name, fraction in (("valid", 0.1), ("blend", 0.2), ("test", 0.15)):
        counts = np.bincount(getattr(splits, name).y, minlength=4)
        expected = np.array([400, 250, 100, 50]) * fraction
        assert np.all(np.abs(counts - expected) <= 1), (name, counts, expected)


def test_deterministic_from_seed():
    data = _classification()
    first, again, other = (split(data, seed=s) for s in (7, 7, 8))
    for name, dataset in first.items():
        assert _ids(dataset).tolist() == _ids(getattr(again, name)).tolist()
    assert _ids(first.valid).tolist() != _ids(other.valid).tolist()


def test_regression_is_split_at_random():
    data = Dataset(x=np.arange(40.0)[:, None], y=np.arange(40, dtype=np.float32) / 2)
    splits = split(data, valid=0.25, blend=0, test=0.25, seed=0)
    assert splits.blend is None and (len(splits.train), len(splits.valid), len(splits.test)) == (20, 10, 10)
    assert np.all(splits.valid.y == splits.valid.x[:, 0] / 2)  # rows stay aligned


def test_unstratified_classification():
    splits = split(_classification(), stratify=False, seed=0)
    assert len(splits.valid) == 10


def test_predefined_test_set_is_kept_and_test_fraction_ignored():
    data = _classification()
    given = Splits(train=data, test=data.take([0, 1, 2]))
    splits = split(given, valid=0.1, blend=0.1, test=0.5)
    assert splits.test is given.test
    assert (len(splits.train), len(splits.valid), len(splits.blend)) == (80, 10, 10)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"valid": 0.5, "blend": 0.3, "test": 0.2}, "expected a sum below 1"),
        ({"valid": -0.1}, r"expected a fraction in \[0, 1\)"),
        ({"valid": 1.0}, r"expected a fraction in \[0, 1\)"),
        ({"valid": "0.1"}, "expected a fraction"),
        ({"valid": 0.05, "blend": 0.2, "test": 0.2}, "empty valid split"),
        ({"valid": 0.3, "blend": 0.3, "test": 0.3}, "no training samples"),
    ],
)
def test_bad_fractions(kwargs, message):
    data = _classification((2, 2, 1))
    with pytest.raises(DataError, match=message):
        split(data, **kwargs)


def test_wrong_type():
    with pytest.raises(TypeError, match="expected a Dataset or Splits"):
        split(np.zeros(3))

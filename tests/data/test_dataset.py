"""Tests for topnet.data.dataset: Dataset and Splits."""
import numpy as np
import pytest

from topnet.data import Dataset, Splits
from topnet.errors import DataError


def test_length_and_take_select_rows_of_every_array():
    x = {"image": np.arange(10).reshape(5, 2), "meta": np.arange(5.0)}
    y = {"label": np.array([0, 1, 2, 1, 0]), "size": np.linspace(0, 1, 5)}
    data = Dataset(x=x, y=y, name="toy", meta={"k": 1})
    part = data.take([4, 0])
    assert len(data) == 5 and len(part) == 2
    assert part.x["image"].tolist() == [[8, 9], [0, 1]]
    assert part.x["meta"].tolist() == [4.0, 0.0]
    assert part.y["label"].tolist() == [0, 0]
    assert part.name == "toy" and part.meta == {"k": 1} and isinstance(part, Dataset)


def test_take_accepts_a_boolean_mask_and_empty_indices():
    data = Dataset(x=np.arange(4.0)[:, None], y=np.array([0, 1, 0, 1]))
    assert data.take(data.y == 1).x.ravel().tolist() == [1.0, 3.0]
    assert len(data.take([])) == 0


@pytest.mark.parametrize(
    "x, y, key",
    [
        (np.zeros((4, 2)), np.zeros(3, np.int64), "y has 3 samples but x has 4"),
        ({"a": np.zeros(4), "b": np.zeros(5)}, None, "x['b'] has 5 samples but x['a'] has 4"),
        (np.zeros(4), {"out": np.zeros(2)}, "y['out'] has 2 samples"),
    ],
)
def test_mismatched_lengths_name_the_key_and_lengths(x, y, key):
    with pytest.raises(DataError, match=key.replace("[", r"\[").replace("]", r"\]")):
        Dataset(x=x, y=y)


def test_scalars_and_empty_dicts_are_rejected():
    with pytest.raises(DataError, match="scalar"):
        Dataset(x=np.float32(1.0), y=None)
    with pytest.raises(DataError, match="empty dict"):
        Dataset(x={}, y=None)


def test_num_classes_and_task():
    assert Dataset(x=np.zeros((3, 1)), y=np.array([0, 4, 1])).num_classes == 5
    assert Dataset(x=np.zeros((3, 1)), y=np.array([0, 1, 1]), class_names=["a", "b", "c"]).num_classes == 3
    regression = Dataset(x=np.zeros((3, 1)), y=np.array([0.5, 1.0, 2.0], np.float32))
    assert regression.num_classes is None and regression.task == "regression"
    assert Dataset(x=np.zeros((2, 1)), y=np.array([0, 1])).task == "classification"
    assert Dataset(x=np.zeros((2, 1)), y={"a": np.array([0, 1]), "b": np.array([1, 0])}).task == "classification"
    assert Dataset(x=np.zeros((2, 1)), y=None).num_classes is None


def test_class_names_become_a_tuple_of_str():
    data = Dataset(x=np.zeros((2, 1)), y=np.array([0, 1]), class_names=["cat", 7])
    assert data.class_names == ("cat", "7")


def test_splits_items_in_order_and_validation():
    a = Dataset(x=np.zeros((2, 1)), y=np.array([0, 1]))
    splits = Splits(train=a, test=a, valid=a)
    assert [name for name, _ in splits.items()] == ["train", "valid", "test"]
    with pytest.raises(DataError):
        Splits(train=None)
    with pytest.raises(TypeError, match="expected a Dataset"):
        Splits(train=a, valid=np.zeros(3))

"""Tests for topnet.data.npz."""
import numpy as np
import pytest

from topnet.data import Splits, read_npz
from topnet.errors import DataError, UnsafeFileError


def _save(tmp_path, **arrays):
    np.savez(tmp_path / "d.npz", **arrays)
    return tmp_path / "d.npz"


def test_x_and_y_give_a_single_input(tmp_path):
    x, y = np.zeros((4, 1, 2, 2), np.uint8), np.array([0, 1, 1, 0], np.int32)
    splits = read_npz(_save(tmp_path, x=x, y=y))
    assert isinstance(splits, Splits) and splits.test is None
    assert splits.train.x.dtype == np.uint8 and splits.train.x.shape == (4, 1, 2, 2)
    assert splits.train.y.dtype == np.int64 and splits.train.task == "classification"
    assert splits.train.name == "d"


@pytest.mark.parametrize("label", ["labels", "label"])
def test_labels_fall_back_to_labels_or_label(tmp_path, label):
    splits = read_npz(_save(tmp_path, images=np.zeros((3, 5)), **{label: np.array([1, 0, 1])}))
    assert splits.train.x.shape == (3, 5) and splits.train.y.tolist() == [1, 0, 1]


def test_several_inputs_give_a_dict_and_x_selects(tmp_path):
    path = _save(tmp_path, image=np.zeros((3, 2)), age=np.ones(3), y=np.array([0.5, 1.0, 2.0]))
    splits = read_npz(path)
    assert set(splits.train.x) == {"image", "age"}
    assert splits.train.y.dtype == np.float32 and splits.train.task == "regression"
    assert read_npz(path, x="age").train.x.shape == (3,)
    assert set(read_npz(path, x=["age", "image"]).train.x) == {"age", "image"}
    with pytest.raises(DataError, match=r"\['nope'\] not found"):
        read_npz(path, x=["nope"])


def test_prefixed_keys_give_a_predefined_split(tmp_path):
    path = _save(tmp_path, x_train=np.zeros((4, 2)), y_train=np.array(["cat", "dog", "cat", "ant"]),
                 x_val=np.zeros((1, 2)), y_val=np.array(["dog"]),
                 x_test=np.ones((2, 2)), y_test=np.array(["emu", "cat"]))
    splits = read_npz(path)
    assert [name for name, _ in splits.items()] == ["train", "valid", "test"]
    names = ("ant", "cat", "dog", "emu")  # the union of every split's labels, sorted
    assert splits.train.class_names == names and splits.test.class_names == names
    assert splits.train.y.tolist() == [1, 2, 1, 0] and splits.test.y.tolist() == [3, 1]


def test_class_names_array(tmp_path):
    path = _save(tmp_path, x=np.zeros((2, 1)), y=np.array([1, 0]), class_names=np.array(["no", "yes"]))
    assert read_npz(path).train.class_names == ("no", "yes")


def test_unlabelled_data_with_y_none(tmp_path):
    splits = read_npz(_save(tmp_path, x=np.zeros((2, 1))), y=None)
    assert splits.train.y is None


def test_missing_labels_list_the_arrays_and_nearest(tmp_path):
    path = _save(tmp_path, x=np.zeros((2, 1)), target=np.array([1, 0]))
    with pytest.raises(DataError, match=r"available arrays: \['target', 'x'\].*y=None"):
        read_npz(path)
    with pytest.raises(DataError, match="did you mean y='target'"):
        read_npz(path, y="targets")
    assert read_npz(path, y="target").train.y.tolist() == [1, 0]


def test_split_keys_need_train_and_no_loose_keys(tmp_path):
    with pytest.raises(DataError, match="no _train arrays"):
        read_npz(_save(tmp_path, x_test=np.zeros(2), y_test=np.zeros(2)))
    with pytest.raises(DataError, match=r"keys \['extra'\] have no split suffix"):
        read_npz(_save(tmp_path, x_train=np.zeros(2), y_train=np.zeros(2), extra=np.zeros(2)))


def test_object_arrays_are_refused(tmp_path):
    path = tmp_path / "o.npz"
    np.savez(path, x=np.array([{"a": 1}, None], dtype=object), y=np.array([0, 1]))
    with pytest.raises(UnsafeFileError, match="object array"):
        read_npz(path)


def test_not_an_npz(tmp_path):
    (tmp_path / "bad.npz").write_bytes(b"this is not a zip file")
    with pytest.raises(DataError, match="not a .npz file"):
        read_npz(tmp_path / "bad.npz")
    with pytest.raises(FileNotFoundError):
        read_npz(tmp_path / "missing.npz")


def test_mismatched_lengths(tmp_path):
    with pytest.raises(DataError, match="y has 2 samples but x has 3"):
        read_npz(_save(tmp_path, x=np.zeros(3), y=np.zeros(2)))

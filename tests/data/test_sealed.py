"""Tests for topnet.data.sealed: a test split is read once, at the end."""
import copy
import pickle
import threading

import numpy as np
import pytest
import torch

import topnet
from topnet.data import Dataset, SealedSplit
from topnet.errors import SealedSplitError, TestSplitReadTwice, TopnetError


def _dataset(rows=6):
    return Dataset(x=np.arange(rows * 2, dtype=np.float32).reshape(rows, 2), y=np.arange(rows) % 2,
                   class_names=["a", "b"], name="toy")


def test_len_without_opening():
    sealed = SealedSplit(_dataset(6))
    assert len(sealed) == 6 and not sealed.opened
    assert repr(sealed) == "SealedSplit('test', 6 rows, sealed)"


def test_open_gives_the_dataset_once():
    dataset = _dataset()
    sealed = SealedSplit(dataset)
    assert sealed.open() is dataset
    assert sealed.opened and len(sealed) == 6 and "opened" in repr(sealed)
    with pytest.raises(TestSplitReadTwice) as info:
        sealed.open()
    message = str(info.value)
    assert message.startswith("the test split was already read once (open() at ")
    assert "test_sealed.py:" in message  # where the first read happened
    assert "a run reads test once, at the end" in message
    assert isinstance(info.value, TopnetError)
    with pytest.raises(TestSplitReadTwice):  # and every later time
        sealed.open()


@pytest.mark.parametrize("name", ["x", "y", "take", "class_names", "meta"])
def test_dataset_attributes_on_the_wrapper_raise(name):
    sealed = SealedSplit(_dataset(), split="holdout")
    with pytest.raises(SealedSplitError, match=rf"holdout split: got \.{name} on a SealedSplit; the split is sealed"):
        getattr(sealed, name)
    with pytest.raises(SealedSplitError):  # hasattr probes do not hide it either
        hasattr(sealed, name)
    sealed.open()
    with pytest.raises(SealedSplitError, match="was already opened"):
        getattr(sealed, name)


def test_training_or_scoring_on_the_wrapper_raises():
    sealed = SealedSplit(_dataset())
    with pytest.raises(SealedSplitError):
        topnet.evaluate(torch.nn.Linear(2, 2), sealed, device="cpu")
    assert not sealed.opened


def test_copies_share_the_seal():
    sealed = SealedSplit(_dataset())
    assert copy.copy(sealed) is sealed and copy.deepcopy(sealed) is sealed
    holder = copy.deepcopy({"test": sealed, "other": [1]})
    assert holder["test"] is sealed
    sealed.open()
    with pytest.raises(TestSplitReadTwice):
        holder["test"].open()


@pytest.mark.parametrize("opened", [False, True])
def test_pickling_is_refused(opened):
    sealed = SealedSplit(_dataset())
    if opened:
        sealed.open()
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        with pytest.raises(TypeError, match=r"cannot pickle a SealedSplit \(test split, 6 rows\)"):
            pickle.dumps(sealed, protocol=protocol)


def test_concurrent_opens_give_the_data_to_one_caller():
    sealed = SealedSplit(_dataset())
    results, start = [], threading.Barrier(8)

    def read():
        start.wait()
        try:
            results.append(sealed.open())
        except TestSplitReadTwice as error:
            results.append(error)

    threads = [threading.Thread(target=read) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(isinstance(r, Dataset) for r in results) == 1
    assert sum(isinstance(r, TestSplitReadTwice) for r in results) == 7


def test_only_a_dataset_can_be_sealed():
    with pytest.raises(TypeError, match="dataset: got tuple; expected a topnet.data.Dataset"):
        SealedSplit((np.zeros((3, 2)), np.zeros(3)))

"""Members: probabilities from networks, LightGBM and linear models; caching; save and load."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from topnet.data import Dataset
from topnet.ensemble import LightGBMMember, LinearMember, NetworkMember, load_member
from topnet.ensemble.features import design_matrix
from topnet.io import save_model
from topnet.nn import create_model
from ensemble_test_tables import categorical_table, roundtrip

LGB_SMALL = {"min_data_in_leaf": 3, "num_leaves": 7}


_table, _roundtrip = categorical_table, roundtrip


def test_network_member_gives_softmax_probabilities():
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    x = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    expected = torch.softmax(model(torch.from_numpy(x)).double(), dim=1).detach().numpy()
    np.testing.assert_allclose(NetworkMember(model).predict(x), expected, atol=1e-7)


def test_network_member_binary_logit_and_regression():
    torch.manual_seed(0)
    x = np.zeros((3, 2), np.float32)
    binary = NetworkMember(torch.nn.Linear(2, 1)).predict(x)
    assert binary.shape == (3, 2) and np.allclose(binary.sum(1), 1.0)
    assert NetworkMember(torch.nn.Linear(2, 1), task="regression").predict(x).shape == (3,)


def test_network_member_from_a_model_directory(tmp_path):
    model = create_model("mlp", input_shape=(4,), num_classes=3, hidden=(8,))
    save_model(model, tmp_path / "trial", metadata={"task": "classification"})
    member = NetworkMember.from_dir(tmp_path / "trial")
    x = np.ones((2, 4), np.float32)
    assert member.name == "trial"
    np.testing.assert_allclose(member.predict(x), NetworkMember(model).predict(x), atol=1e-12)


def test_network_member_trains_when_given_fit_kwargs():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    member = NetworkMember(torch.nn.Linear(3, 2), fit_kwargs={"epochs": 2, "lr": 0.1})
    assert not member.is_fitted
    member.fit(Dataset(x, y))
    assert member.is_fitted and len(member.history_.history["loss"]) == 2


def test_flat_features_one_hot_a_table():
    data = _table(8)
    net = torch.nn.Linear(2 + 7, 2)
    member = NetworkMember(net, features="flat", categorical_sizes=[7])
    assert member.predict(data.x).shape == (8, 2)


def test_design_matrix_leaves_a_tables_text_ids_to_the_networks():
    x = {"numeric": np.array([[0.5], [1.5]]), "categorical": np.array([[2], [0]]),
         "text": np.array([[5, 9, 0], [7, 0, 0]])}
    assert design_matrix(x, [3]).tolist() == [[0.5, 2.0], [1.5, 0.0]]  # as without "text"
    with pytest.raises(Exception, match="'numeric' and/or 'categorical'"):
        design_matrix({"text": x["text"]})  # a text-only table is run as text, not through here


def test_predictions_are_cached_per_split_and_dataset():
    calls = []

    class Counting(torch.nn.Module):
        def forward(self, x):
            calls.append(len(x))
            return torch.zeros(len(x), 2)

    member, data = NetworkMember(Counting()), Dataset(np.zeros((4, 1), np.float32), np.array([0, 1, 0, 1]))
    first = member.predict_split("blend", data)
    assert member.predict_split("blend", data) is first and calls == [4]
    member.predict_split("blend", Dataset(np.zeros((3, 1), np.float32), np.array([0, 1, 0])))
    assert calls == [4, 3]


def test_lightgbm_on_images_flattens_pixels(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.random((150, 1, 4, 4)).astype(np.float32)
    y = (x[:, 0, 1, 2] > 0.5).astype(np.int64) + (x[:, 0, 3, 0] > 0.7)
    member = LightGBMMember(num_boost_round=30, params=LGB_SMALL, num_threads=1).fit(Dataset(x, y))
    p = member.predict(x)
    assert p.shape == (150, 3) and np.allclose(p.sum(1), 1.0) and (p.argmax(1) == y).mean() > 0.9
    np.testing.assert_array_equal(_roundtrip(member, tmp_path).predict(x), p)


def test_lightgbm_splits_natively_on_categories(tmp_path):
    train, valid = _table(seed=0), _table(seed=1)
    member = LightGBMMember(num_boost_round=40, params=LGB_SMALL, num_threads=1).fit(train, valid)
    assert '"decision_type": "=="' in json.dumps(member.booster_.dump_model())  # a categorical split
    assert (member.predict(valid.x).argmax(1) == valid.y).mean() > 0.9
    assert member.categorical_sizes_ == [7] and member.best_iteration_ >= 1
    reloaded = _roundtrip(member, tmp_path)
    np.testing.assert_array_equal(reloaded.predict(valid.x), member.predict(valid.x))
    assert (tmp_path / "m" / "model.txt").read_text().startswith("tree")


def test_lightgbm_binary_and_regression():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 2))
    binary = LightGBMMember(num_boost_round=10, params=LGB_SMALL, num_threads=1).fit(Dataset(x, (x[:, 0] > 0).astype(np.int64)))
    assert binary.predict(x).shape == (120, 2)
    regression = LightGBMMember(task="regression", num_boost_round=10, params=LGB_SMALL, num_threads=1)
    assert regression.fit(Dataset(x, x[:, 0] * 2.0)).predict(x).shape == (120,)


def test_linear_member_matches_scikit_learn(tmp_path):
    data = _table()
    member = LinearMember(C=0.7).fit(data)
    features = design_matrix(data.x, [7], one_hot=True)
    scale = np.where(features.std(0) > 0, features.std(0), 1.0)
    reference = LogisticRegression(C=0.7, max_iter=1000).fit((features - features.mean(0)) / scale, data.y)
    np.testing.assert_allclose(member.predict(data.x), reference.predict_proba((features - features.mean(0)) / scale), atol=1e-10)
    np.testing.assert_array_equal(_roundtrip(member, tmp_path).predict(data.x), member.predict(data.x))


def test_linear_member_regression_and_unseen_codes(tmp_path):
    data = _table()
    member = LinearMember(task="regression").fit(Dataset(data.x, data.y.astype(np.float64), meta=data.meta))
    unseen = {"numeric": data.x["numeric"][:2], "categorical": np.array([[99], [3]])}
    assert member.predict(unseen).shape == (2,)
    np.testing.assert_array_equal(_roundtrip(member, tmp_path).predict(unseen), member.predict(unseen))


def test_member_errors_name_the_fix(tmp_path):
    with pytest.raises(ValueError, match="not fitted"):
        LinearMember().predict(np.zeros((1, 2)))
    with pytest.raises(ValueError, match="not fitted"):
        LightGBMMember().save(tmp_path)
    with pytest.raises(ValueError, match="member kind"):
        load_member(tmp_path, {"kind": "svm", "name": "x"})
    with pytest.raises(ValueError, match="at least 2 classes"):
        LinearMember().fit(Dataset(np.zeros((4, 1)), np.zeros(4, np.int64)))
    with pytest.raises(ValueError, match="task"):
        NetworkMember(torch.nn.Linear(1, 1), task="ranking").predict(np.zeros((1, 1), np.float32))

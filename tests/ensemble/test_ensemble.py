"""Ensemble: weights from blend only, save and reload (in a fresh process), regression, errors."""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from topnet.data import Dataset, Splits, split
from topnet.ensemble import Ensemble, LightGBMMember, LinearMember, NetworkMember
from topnet.errors import CheckpointError, DataError
from topnet.nn import create_model

LGB_SMALL = {"min_data_in_leaf": 3, "num_leaves": 7}


def _splits(task: str = "classification", n: int = 400, seed: int = 0) -> Splits:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5)).astype(np.float32)
    signal = x[:, 0] + 0.5 * x[:, 1] ** 2 - 0.5 * x[:, 2]
    y = np.digitize(signal, [-0.4, 0.6]).astype(np.int64) if task == "classification" else signal.astype(np.float32)
    return split(Dataset(x, y), valid=0.15, blend=0.25, test=0.15, seed=seed)


def _members(task: str = "classification"):
    torch.manual_seed(0)
    outputs = 3 if task == "classification" else 1
    net = create_model("mlp", input_shape=(5,), num_classes=outputs, hidden=(16,))
    fit_kwargs = {"epochs": 3, "lr": 0.02, "loss": "cross_entropy" if task == "classification" else "mse"}
    return [NetworkMember(net, name="mlp", task=task, fit_kwargs=fit_kwargs),
            LightGBMMember(task=task, num_boost_round=30, params=LGB_SMALL, num_threads=1),
            LinearMember(task=task)]


def _relabel(data: Dataset, seed: int) -> Dataset:
    return dataclasses.replace(data, y=np.random.default_rng(seed).permutation(data.y))


@pytest.fixture(scope="module")
def fitted():
    splits = _splits()
    return Ensemble(_members(), combiner="auto", temperature=True).fit(splits), splits


@pytest.mark.parametrize("combiner", ["weighted", "caruana", "stacking"])
def test_weights_come_from_blend_only(combiner):
    splits = _splits()
    members = [NetworkMember(torch.nn.Linear(5, 3), name=f"net{i}") for i in range(3)]
    for i, member in enumerate(members):
        torch.manual_seed(i)
        torch.nn.init.normal_(member.model.weight)

    def state(data):
        return json.dumps(Ensemble(members, combiner=combiner, temperature=True).fit(data).combiner_.state_dict())

    reference = state(splits)
    assert state(dataclasses.replace(splits, test=_relabel(splits.test, 1))) == reference  # test labels: no effect
    assert state(dataclasses.replace(splits, blend=_relabel(splits.blend, 1))) != reference  # blend labels: they matter


def test_test_labels_change_nothing_learned_with_trained_members():
    splits = _splits()
    other = dataclasses.replace(splits, test=_relabel(splits.test, 2))
    first, second = Ensemble(_members(), temperature=True).fit(splits), Ensemble(_members(), temperature=True).fit(other)
    assert first.scores_ == second.scores_ and first.temperature_ == second.temperature_
    assert json.dumps(first.combiner_.state_dict()) == json.dumps(second.combiner_.state_dict())


def test_fit_picks_the_lowest_cross_fitted_score(fitted):
    ensemble, splits = fitted
    assert ensemble.combiner_name_ == min(ensemble.scores_, key=ensemble.scores_.get)
    assert ensemble.task_ == "classification" and ensemble.num_classes_ == 3 and ensemble.temperature_ > 0
    p = ensemble.predict_proba(splits.test.x)
    assert p.shape == (len(splits.test), 3) and np.allclose(p.sum(1), 1.0)
    assert (ensemble.predict(splits.test.x) == p.argmax(1)).all()
    results = ensemble.evaluate(splits.test)
    assert set(results) == {"mlp", "lightgbm", "linear", "ensemble"} and 0 <= results["ensemble"]["accuracy"] <= 1


def test_member_outputs_and_combine_agree(fitted):
    ensemble, splits = fitted
    outputs = ensemble.member_outputs(splits.test.x)
    assert set(outputs) == {"mlp", "lightgbm", "linear"}
    np.testing.assert_allclose(ensemble.combine(outputs), ensemble.predict_proba(splits.test.x))


@pytest.mark.slow
def test_reload_in_a_fresh_process_predicts_the_same(fitted, tmp_path):
    ensemble, splits = fitted
    ensemble.save(tmp_path / "ens")
    np.save(tmp_path / "x.npy", splits.test.x)
    code = ("import numpy as np, sys; from topnet.ensemble import Ensemble; d = sys.argv[1]; "
            "e = Ensemble.load(d + '/ens'); np.save(d + '/p.npy', e.predict_proba(np.load(d + '/x.npy')))")
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True, timeout=120)
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), ensemble.predict_proba(splits.test.x), atol=1e-6, rtol=0)
    document = json.loads((tmp_path / "ens" / "ensemble.json").read_text())
    assert [m["kind"] for m in document["members"]] == ["network", "lightgbm", "linear"]
    assert not list((tmp_path / "ens").rglob("*.pkl")) and not list((tmp_path / "ens").rglob("*.pt"))


def test_regression_path(tmp_path):
    splits = _splits("regression")
    ensemble = Ensemble(_members("regression")).fit(splits)
    prediction = ensemble.predict(splits.test.x)
    assert prediction.shape == (len(splits.test),) and ensemble.num_classes_ is None
    results = ensemble.evaluate(splits.test)
    assert results["ensemble"]["mse"] <= max(r["mse"] for r in results.values())
    reloaded = Ensemble.load(ensemble.save(tmp_path / "reg"))
    np.testing.assert_allclose(reloaded.predict(splits.test.x), prediction, atol=1e-6)
    with pytest.raises(TypeError, match="regression"):
        ensemble.predict_proba(splits.test.x)
    with pytest.raises(ValueError, match="temperature"):
        Ensemble(_members("regression"), temperature=True).fit(splits)


def test_diverse_selection_keeps_num_members(fitted):
    _, splits = fitted
    ensemble = Ensemble(_members(), select="diverse", num_members=2, combiner="uniform").fit(splits)
    assert len(ensemble.members_) == 2 and set(ensemble.weights_) == {m.name for m in ensemble.members_}


def test_unregistered_module_needs_models_to_reload(tmp_path):
    class Mine(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(5, 3)

        def forward(self, x):
            return self.layer(x)

    splits = _splits()
    ensemble = Ensemble([NetworkMember(Mine(), name="mine"), LinearMember()], combiner="weighted").fit(splits)
    ensemble.save(tmp_path / "e")
    with pytest.raises(CheckpointError, match=r"models=\{'mine': YourModel"):
        Ensemble.load(tmp_path / "e")
    reloaded = Ensemble.load(tmp_path / "e", models={"mine": Mine()})
    np.testing.assert_allclose(reloaded.predict_proba(splits.test.x), ensemble.predict_proba(splits.test.x), atol=1e-6)


def test_errors_name_the_fix(tmp_path):
    splits = _splits()
    with pytest.raises(DataError, match="blend"):
        Ensemble([LinearMember()]).fit(dataclasses.replace(splits, blend=None))
    with pytest.raises(ValueError, match="different names"):
        Ensemble([LinearMember(), LinearMember()]).fit(splits)
    with pytest.raises(ValueError, match="task"):
        Ensemble([LinearMember(task="regression")]).fit(splits)
    with pytest.raises(ValueError, match="not fitted"):
        Ensemble([LinearMember()]).predict(splits.test.x)
    with pytest.raises(CheckpointError, match="ensemble.json"):
        Ensemble.load(tmp_path)
    with pytest.raises(DataError, match="same"):
        Ensemble([NetworkMember(torch.nn.Linear(5, 2), name="two"), LinearMember()]).fit(splits)


def test_binary_classification_path(tmp_path):
    splits = _splits()
    binary = Splits(**{name: dataclasses.replace(d, y=(d.y > 0).astype(np.int64)) for name, d in splits.items()})
    members = [NetworkMember(torch.nn.Linear(5, 1), name="one_logit"), LinearMember(),
               LightGBMMember(num_boost_round=20, params=LGB_SMALL, num_threads=1)]
    ensemble = Ensemble(members, temperature=True).fit(binary)
    p = ensemble.predict_proba(binary.test.x)
    assert p.shape == (len(binary.test), 2) and np.allclose(p.sum(1), 1.0)
    reloaded = Ensemble.load(ensemble.save(tmp_path / "b"), models={"one_logit": torch.nn.Linear(5, 1)})
    np.testing.assert_allclose(reloaded.predict_proba(binary.test.x), p, atol=1e-6)

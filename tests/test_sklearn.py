"""scikit-learn interop: estimator checks, pipelines, grid search, stacking, reproducibility.

Estimator checks: every check passes for the four estimators below; none is listed as an
expected failure. Two checks are *skipped* by scikit-learn itself in this environment (not
failures): ``check_array_api_input`` (needs SCIPY_ARRAY_API=1) and the ``*_data_not_an_array``
checks (need pandas, which topnet does not depend on). The instances use tiny networks and few
epochs so the whole suite stays fast; ``check_classifiers_train`` / ``check_regressors_train``
still reach scikit-learn's accuracy / R² thresholds with them.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.ensemble import StackingClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from topnet.sklearn import EnsembleClassifier, EnsembleRegressor, NetClassifier, NetRegressor

TINY = {"model_kwargs": {"hidden": [16]}, "epochs": 10, "lr": 0.02}
ESTIMATORS = [
    NetClassifier(**TINY),
    NetRegressor(**TINY),
    EnsembleClassifier([("net", NetClassifier(**TINY)), ("logistic", LogisticRegression())]),
    EnsembleRegressor([("net", NetRegressor(**TINY)), ("ridge", Ridge())]),
]


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=lambda estimator: {})
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def _blobs(n: int = 120, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    return rng.normal(size=(n, 4)) + 2.0 * np.eye(3, 4)[y], np.array(["cat", "dog", "emu"])[y]


def test_constructor_stores_arguments_as_given():
    kwargs = {"hidden": [8]}
    estimator = NetClassifier(model="mlp", model_kwargs=kwargs, epochs=3, batch_size=16, optimizer="sgd", lr=0.1, seed=7)
    assert estimator.get_params()["model_kwargs"] is kwargs and estimator.get_params()["optimizer"] == "sgd"


def test_pipeline_and_grid_search():
    X, y = _blobs()
    pipe = make_pipeline(StandardScaler(), NetClassifier(model_kwargs={"hidden": [8]}, epochs=3))
    search = GridSearchCV(pipe, {"netclassifier__lr": [0.001, 0.03]}, cv=2).fit(X, y)
    assert search.best_params_["netclassifier__lr"] in (0.001, 0.03)
    assert set(search.predict(X)) <= {"cat", "dog", "emu"} and search.best_estimator_[-1].n_features_in_ == 4


def test_net_classifier_in_a_stacking_classifier():
    X, y = _blobs()
    stack = StackingClassifier([("net", NetClassifier(**TINY)), ("logistic", LogisticRegression())], cv=2).fit(X, y)
    assert stack.score(X, y) > 0.8


def test_same_seed_same_model_and_global_rng_untouched():
    X, y = _blobs()
    torch.manual_seed(123)
    before = torch.get_rng_state()
    first = NetClassifier(**TINY, seed=3).fit(X, y).predict_proba(X)
    assert torch.equal(torch.get_rng_state(), before)
    np.testing.assert_array_equal(NetClassifier(**TINY, seed=3).fit(X, y).predict_proba(X), first)
    assert not np.array_equal(NetClassifier(**TINY, seed=4).fit(X, y).predict_proba(X), first)


def test_net_regressor_multi_output():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 3))
    Y = np.stack([X[:, 0], X[:, 1] - X[:, 2]], axis=1)
    model = NetRegressor(**TINY).fit(X, Y)
    assert model.predict(X).shape == (80, 2) and model.score(X, Y) > 0.5


def test_ensemble_classifier_weights_and_temperature():
    X, y = _blobs(200)
    model = EnsembleClassifier([("net", NetClassifier(**TINY)), ("logistic", LogisticRegression())],
                               combiner="weighted", temperature=True).fit(X, y)
    assert set(model.weights_) == {"net", "logistic"} and sum(model.weights_.values()) == pytest.approx(1.0)
    assert model.temperature_ > 0 and model.predict_proba(X).shape == (200, 3) and model.score(X, y) > 0.8


def test_ensemble_defaults_and_errors():
    X, y = _blobs(60)
    assert EnsembleClassifier(cv=2).fit(X, y).estimators_[0].__class__ is NetClassifier
    with pytest.raises(ValueError, match="estimators"):
        EnsembleClassifier(estimators=[LogisticRegression()]).fit(X, y)
    with pytest.raises(ValueError, match="cv"):
        EnsembleClassifier(cv=1).fit(X, y)
    with pytest.raises(ValueError, match="2 classes"):
        NetClassifier().fit(X, np.zeros(len(X)))

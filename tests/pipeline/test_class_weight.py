"""``topnet run``'s ``class_weight`` setting: ``"balanced"`` is scikit-learn's formula on train,
and it reaches every network the run trains (the search's trials through ``tune``, the
retrained ones through ``Run.fit_settings``) and the LightGBM member that is given it."""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from sklearn.utils.class_weight import compute_class_weight

from topnet.configs import training
from topnet.configs.data_spec import TrialData
from topnet.configs.settings import FitSettings
from topnet.configs.training import train_config
from topnet.data import Dataset, Splits
from topnet.ensemble import LightGBMMember, load_member
from topnet.pipeline import RunConfig, resolve_config, run
from topnet.pipeline import run_state, search
from topnet.pipeline.config import class_weights
from topnet.pipeline.run_state import Run
from topnet.tune import Fixed, SearchSpace, tune
from topnet.tune.study import ATTR_FIT

CONFIG = {"family": "mlp", "depth": 1, "width": 8, "optimizer": "adam", "lr": 0.01, "schedule": "constant",
          "batch_size": 32}


def imbalanced(rows=200, seed=0):
    """Three classes in proportions 70% / 20% / 10%, separable."""
    rng = np.random.default_rng(seed)
    y = rng.choice(3, size=rows, p=[0.7, 0.2, 0.1]).astype(np.int64)
    x = (rng.normal(scale=2.0, size=(3, 4))[y] + rng.normal(size=(rows, 4))).astype(np.float32)
    return x, y


def splits(rows=200):
    x, y = imbalanced(rows)
    cut = rows * 3 // 4
    return Splits(train=Dataset(x=x[:cut], y=y[:cut]), valid=Dataset(x=x[cut:], y=y[cut:]))


@pytest.mark.parametrize("y", [[0, 0, 0, 1], [0, 0, 2, 2, 2, 5], list(imbalanced()[1])])
def test_balanced_is_scikit_learns_compute_class_weight(y):
    y = np.asarray(y)
    classes = np.unique(y)
    expected = compute_class_weight("balanced", classes=classes, y=y)
    weights = class_weights("balanced", "classification", y)
    assert list(weights) == classes.tolist()
    np.testing.assert_allclose(list(weights.values()), expected, rtol=1e-12)
    assert class_weights(None, "classification", y) is None


def test_the_setting_takes_none_or_balanced():
    assert RunConfig().class_weight is None and RunConfig(class_weight="balanced").class_weight == "balanced"
    with pytest.raises(ValueError, match="class_weight: got 'Balanced'; expected 'balanced', or None .*"
                                         "--set class_weight=balanced"):
        resolve_config(overrides={"class_weight": "Balanced"})


def test_balanced_is_refused_for_regression():
    with pytest.raises(ValueError, match="class_weight: got 'balanced'; expected none for a regression target "
                                         ".*remove the class_weight setting"):
        class_weights("balanced", "regression", np.linspace(0, 1, 10))


def test_run_fit_settings_carry_the_weights_computed_once_from_train(monkeypatch):
    calls = []
    monkeypatch.setattr(run_state, "class_weights", lambda *args: calls.append(args) or class_weights(*args))
    data = SimpleNamespace(task="classification", splits=splits(), channels_last=False)
    run = Run(RunConfig(class_weight="balanced"), Path("unused"), plan=None, state=None, data=data)
    settings = run.fit_settings("val_accuracy", patience=3)
    assert settings.class_weight == class_weights("balanced", "classification", data.splits.train.y)
    assert run.fit_settings("val_loss").class_weight == settings.class_weight and len(calls) == 1
    plain = Run(RunConfig(), Path("unused"), plan=None, state=None, data=data)
    assert plain.fit_settings("val_accuracy").class_weight is None


def test_fit_settings_keep_integer_classes_through_the_studys_json():
    settings = FitSettings(class_weight={0: 0.5, 2: 3})
    assert FitSettings.from_dict(json.loads(json.dumps(settings.to_dict()))) == settings
    assert settings.class_weight == {0: 0.5, 2: 3.0}
    with pytest.raises(ValueError, match="class_weight: got {-1: 1.0}; expected None or a dict {class index >= 0"):
        FitSettings(class_weight={-1: 1.0})


def _record_fit(monkeypatch):
    seen = []
    real = training.fit

    def fit(*args, **kwargs):
        seen.append(kwargs.get("class_weight"))
        return real(*args, **kwargs)

    monkeypatch.setattr(training, "fit", fit)
    return seen


def test_train_config_trains_with_the_settings_class_weight(monkeypatch):
    seen = _record_fit(monkeypatch)
    weights = {0: 0.5, 1: 1.7, 2: 3.3}
    train_config(CONFIG, TrialData(splits()), FitSettings(epochs=2, subset=0.5, subset_epochs=1, device="cpu",
                                                          class_weight=weights), seed=0)
    assert seen == [weights, weights]  # the subset epochs and the full-data epochs


def test_tune_trials_and_workers_train_with_class_weight(monkeypatch, tmp_path):
    seen = _record_fit(monkeypatch)
    weights = {0: 0.5, 1: 1.7, 2: 3.3}
    space = SearchSpace({key: Fixed(value) for key, value in CONFIG.items()})
    result = tune(space, splits(), num_trials=1, epochs=1, out=tmp_path, class_weight=weights, device="cpu",
                  plots=False, verbose=0)
    assert seen and all(w == weights for w in seen)
    stored = FitSettings.from_dict(json.loads(result.study.user_attrs[ATTR_FIT]))  # what a worker reads
    assert stored.class_weight == weights


def test_run_search_gives_the_trials_the_runs_class_weight(monkeypatch):
    seen = {}
    monkeypatch.setattr(search, "tune", lambda *args, **kwargs: seen.update(kwargs))
    data = SimpleNamespace(kind="vectors", task="classification", splits=splits(), channels_last=False,
                           for_search=lambda config, samples: None)
    search.run_search(SearchSpace({}), data, RunConfig(class_weight="balanced", device="cpu"), "out", seconds=10.0)
    assert seen["class_weight"] == class_weights("balanced", "classification", data.splits.train.y)


def lightgbm(**options):
    return LightGBMMember(num_boost_round=15, params={"min_data_in_leaf": 5}, num_threads=1, **options)


def test_lightgbm_class_weight_is_lightgbms_per_row_weight():
    import lightgbm as lgb

    train = splits().train
    weights = {0: 0.4, 2: 5.0}
    member = lightgbm(class_weight=weights).fit(train)
    rows = np.array([weights.get(int(c), 1.0) for c in train.y])
    reference = lgb.train(member._params(3), lgb.Dataset(train.x.astype(np.float64), train.y, weight=rows),
                          num_boost_round=15)
    np.testing.assert_allclose(member.predict(train.x), reference.predict(train.x.astype(np.float64)), rtol=1e-12)
    plain = lightgbm().fit(train).predict(train.x)
    assert not np.allclose(member.predict(train.x), plain)
    np.testing.assert_array_equal(lightgbm(class_weight={0: 1.0, 1: 1.0}).fit(train).predict(train.x), plain)


def test_lightgbm_class_weight_is_checked_and_saved(tmp_path):
    with pytest.raises(ValueError, match="class_weight: got {0: 2.0}; expected None for a regression member"):
        LightGBMMember(task="regression", class_weight={0: 2.0})
    with pytest.raises(ValueError, match=r"expected class indices in \[0, 2\]; drop the keys \[7\]"):
        lightgbm(class_weight={7: 2.0}).fit(splits().train)
    member = lightgbm(class_weight={2: 5.0}).fit(splits().train)
    config = json.loads(json.dumps(member.save(tmp_path)))
    assert load_member(tmp_path, config).class_weight == {2: 5.0}


@pytest.mark.slow
def test_a_balanced_run_trains_its_networks_with_the_weights(tmp_path, table_csv, quick_settings):
    import optuna

    out = tmp_path / "run"
    run(RunConfig(data=str(table_csv(tmp_path / "table.csv", "classification")), out=str(out), target="target",
                  class_weight="balanced", lightgbm=False, **quick_settings))
    assert json.loads((out / "config.json").read_text())["class_weight"] == "balanced"
    study = optuna.load_study(study_name="topnet-run", storage=f"sqlite:///{out / 'search' / 'study.db'}")
    stored = FitSettings.from_dict(json.loads(study.user_attrs[ATTR_FIT]))
    assert stored.class_weight is not None and sorted(stored.class_weight) == [0, 1, 2]
    assert (out / "metrics.json").exists()


def test_balanced_on_a_regression_table_stops_right_after_the_data_loads(tmp_path, table_csv, quick_settings):
    out = tmp_path / "run"
    with pytest.raises(ValueError, match="class_weight: got 'balanced'; expected none for a regression target"):
        run(RunConfig(data=str(table_csv(tmp_path / "table.csv", "regression")), out=str(out), target="target",
                      class_weight="balanced", **quick_settings))
    assert (out / "config.json").exists() and not (out / "lr_find.json").exists()  # before the range test

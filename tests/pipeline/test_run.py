"""`topnet run` end to end on tiny data: the run directory, the budget, the report, the errors."""
from __future__ import annotations

import json

import numpy as np
import pytest

from topnet.cli import main
from topnet.ensemble import Ensemble
from topnet.pipeline import RunConfig, resolve_config, run
from topnet.report.schema import read_run

PHASES = ["data", "lr_find", "search", "retrain", "lightgbm", "ensemble"]
# a small table is bagged by default: its classic members ("lightgbm") train before the networks
BAGGED_PHASES = ["data", "lr_find", "search", "lightgbm", "retrain", "ensemble"]


def _json(path):
    return json.loads(path.read_text())


@pytest.mark.slow
@pytest.mark.parametrize("fixture", ["image_run_dir", "classification_run_dir", "regression_run_dir"])
def test_a_run_writes_every_part_of_the_run_directory(fixture, request):
    out = request.getfixturevalue(fixture)
    data = read_run(out)
    expected = {"calibration.json": "missing"} if fixture == "regression_run_dir" else {}  # no temperature there
    assert data.notes == expected, data.notes  # every other file the report reads is there and readable
    metrics = data.metrics
    assert list(metrics["phases"]) == (PHASES if fixture == "image_run_dir" else BAGGED_PHASES)
    assert all(metrics["phases"][p]["status"] == "done" for p in PHASES)
    assert metrics["budget_s"] == (40.0 if fixture == "image_run_dir" else 30.0)
    assert all(metrics["phases"][p]["elapsed_s"] >= 0 for p in PHASES)
    names = [m["name"] for m in data.models["models"]]
    assert "lightgbm" in names and len(names) >= 3  # top_k=2 networks (or more) + LightGBM
    for name in names:  # retrained models, LightGBM, and the search's kept trials (free extra members)
        folder = out / "search" / "trials" / name[len("search-t"):] if name.startswith("search-t") else out / "models" / name
        assert folder.is_dir(), name
    assert set(data.ensemble["members"]) <= set(names)
    assert (out / "ensemble" / "ensemble.json").exists() and (out / "search" / "study.db").exists()
    assert (out / "report.html").read_text().count("data:image/png;base64,") >= 5
    assert not (out / "backup").exists() or not any((out / "backup").iterdir())  # no backup left behind


@pytest.mark.slow
def test_image_run_scores_test_once_and_reloads(image_run_dir):
    metrics = _json(image_run_dir / "metrics.json")
    assert set(metrics["test"]) >= {"accuracy", "nll", "ece"}
    assert metrics["test"]["accuracy"] > 0.6  # three easy classes (chance: 1/3)
    calibration = _json(image_run_dir / "calibration.json")
    assert calibration["temperature"] is None and "fewer than 200" in calibration["fitted_on"]  # 60 blend rows
    with np.load(image_run_dir / "predictions" / "test.npz") as arrays:
        assert arrays["proba"].shape == (150, 3) and arrays["x_sample"].shape[1:] == (1, 12, 12)
        proba = arrays["proba"]
    ensemble = Ensemble.load(image_run_dir / "ensemble")  # in a fresh object, from files only
    assert ensemble.members_ and ensemble.combiner_name_ == _json(image_run_dir / "ensemble.json")["combiner"]
    assert np.isclose(proba.sum(axis=1), 1.0).all()
    tune = _json(image_run_dir / "tune.json")
    assert tune["metric"] == "val_accuracy" and tune["trials"]
    lr = _json(image_run_dir / "lr_find.json")
    assert len(lr["lrs"]) == len(lr["losses"]) and lr["suggestion"] > 0
    state = _json(image_run_dir / "state.json")
    plans, planned = state["retrain_plans"], state["retrain_planned"]
    assert all(p["epochs"] <= plans[0]["epochs"] for p in plans[planned:])  # a model added later trains no longer
    assert len({p["epochs"] for p in plans[1:planned]}) <= 1  # the planned ones after the first: sized again together
    probe = state["retrain_probe"]  # the speed the plans were sized by, beside the search's estimate
    assert set(probe) == {"epoch_seconds", "from_trials", "seconds"} and probe["seconds"] >= 0
    assert probe["epoch_seconds"] is None or probe["epoch_seconds"] > 0


@pytest.mark.slow
def test_classification_csv_keeps_class_and_column_names(classification_run_dir):
    dataset = _json(classification_run_dir / "dataset.json")
    assert dataset["task"] == "classification" and dataset["kind"] == "tabular"
    assert sorted(dataset["class_names"]) == ["high", "low", "mid"]
    assert dataset["feature_names"] == ["a", "b", "c", "d", "colour"]
    assert "colour" in dataset["csv"]["vocabularies"]
    assert _json(classification_run_dir / "metrics.json")["test"]["accuracy"] > 0.5
    page = (classification_run_dir / "report.html").read_text()
    assert "mid" in page and "Confusion matrix" in page


@pytest.mark.slow
def test_regression_csv_reports_errors_not_accuracy(regression_run_dir):
    metrics = _json(regression_run_dir / "metrics.json")
    assert set(metrics["test"]) == {"rmse", "mae", "r2"} and set(metrics["best_single"]) >= {"name", "rmse", "mae"}
    target_std = 3.0 * np.sqrt(1 + 0.25 + 0.25)  # the signal's scale; a useful model does far better
    assert metrics["test"]["rmse"] < target_std
    assert not (regression_run_dir / "calibration.json").exists()
    models = _json(regression_run_dir / "models.json")
    assert models["metric"] == "rmse" and models["greater_is_better"] is False
    with np.load(regression_run_dir / "predictions" / "test.npz") as arrays:
        assert arrays["y_pred"].shape == arrays["y_std"].shape == arrays["y_true"].shape


@pytest.mark.slow
def test_a_finished_run_is_never_overwritten(image_run_dir):
    before = (image_run_dir / "metrics.json").read_bytes()
    with pytest.raises(FileExistsError, match="finished run"):
        run(RunConfig(data="unused.npz", out=str(image_run_dir)))
    assert (image_run_dir / "metrics.json").read_bytes() == before


def test_an_unfinished_run_needs_resume_and_the_same_settings(tmp_path, quick_settings):
    out = tmp_path / "run"
    out.mkdir()
    (out / "state.json").write_text(json.dumps({"phases": {}, "elapsed_s": 0.0}))
    config = RunConfig(data=str(tmp_path / "x.npz"), out=str(out), **quick_settings)
    (out / "config.json").write_text(json.dumps(config.to_dict()))
    with pytest.raises(FileExistsError, match="--resume"):
        run(config)
    changed = RunConfig(**{**config.to_dict(), "seed": 7})
    with pytest.raises(ValueError, match=r"\['seed'\] differ"):
        run(changed, resume=True)


def test_a_directory_that_is_not_a_run_is_left_alone(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty"):
        run(RunConfig(data="x.npz", out=str(tmp_path)))
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_config_from_toml_and_set_overrides(tmp_path):
    toml = tmp_path / "run.toml"
    toml.write_text('[run]\nbudget = "30m"\ntop_k = 4\n')
    config = resolve_config(toml, {"top_k": 2, "seed": 3})
    assert (config.budget_s, config.top_k, config.seed) == (1800.0, 2, 3)
    with pytest.raises(ValueError, match="did you mean 'top_k'"):
        resolve_config(overrides={"topk": 2})
    with pytest.raises(ValueError, match="budget"):
        resolve_config(overrides={"budget": "ten minutes"})
    with pytest.raises(ValueError, match="--target"):
        resolve_config(overrides={"data": "my.csv"})


@pytest.mark.parametrize("argv, message", [
    (["run", "--budget", "soon"], "budget: got 'soon'"),
    (["run", "--set", "topk=3"], "did you mean 'top_k'"),
    (["run", "--data", "table.csv"], "--target"),
    (["run", "--resume"], "--resume: got no --out"),
])
def test_cli_errors_exit_2_without_a_traceback(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "runs").exists()  # nothing written before the settings were checked


def test_run_help_explains_the_phases(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = capsys.readouterr().out
    assert "--budget" in text and "--resume" in text and "LightGBM" in text


def test_the_data_spec_of_the_search_matches_the_run_splits(tmp_path, image_npz):
    from topnet.configs.data_spec import prepare_splits
    from topnet.pipeline.data import data_spec, prepare

    config = RunConfig(data=str(image_npz), out=str(tmp_path / "o"))
    ours = prepare(config).splits
    theirs, _ = prepare_splits(data_spec(config))
    for name in ("train", "valid", "blend"):
        assert np.array_equal(getattr(ours, name).x, getattr(theirs, name).x)
    assert theirs.test is None
    subset, _ = prepare_splits(data_spec(config, train_samples=100))
    assert len(subset.train) == 100 and np.array_equal(subset.valid.x, ours.valid.x)


def test_tune_json_of_a_run_hides_the_storage_password():
    from types import SimpleNamespace

    from topnet.pipeline.search import tune_document

    study = SimpleNamespace(get_trials=lambda deepcopy=False: [])
    result = SimpleNamespace(records=[], metric="val_accuracy", direction="maximize", study=study, counts={},
                             best_trial=None, best_value=None, selection_bias=None, study_name="run-x",
                             storage="postgresql://alice:hunter2@db:5432/optuna")
    import unittest.mock

    with unittest.mock.patch("topnet.pipeline.search.param_importances", return_value={}):
        document = tune_document(result)
    assert "hunter2" not in json.dumps(document) and document["storage"] == "postgresql://alice:***@db:5432/optuna"

"""What a finished `topnet run` promises, on the real Fashion-MNIST with a short budget.

It ends within 10% of its budget; it writes every file of a run directory; it reads the test
split once (the run's test split is sealed: a second read raises, anywhere in the run); and its
ensemble is not worse on blend than its best single model.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

BUDGET_S = 180.0
FILES = ("config.json", "environment.json", "dataset.json", "standardizer.json", "state.json", "lr_find.json",
         "tune.json", "models.json", "ensemble.json", "calibration.json", "metrics.json", "report.html",
         "predictions/test.npz", "ensemble/ensemble.json", "search/study.db")


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    from topnet.pipeline import RunConfig, run

    assert Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz").exists(), \
        "install Debian's dataset-fashion-mnist (scripts/setup.sh does)"
    out = tmp_path_factory.mktemp("fm") / "run"
    metrics = run(RunConfig(data="fashion-mnist", budget=f"{BUDGET_S:.0f}s", out=str(out), tensorboard=False,
                            verbose=0))
    return out, metrics


@pytest.mark.e2e
@pytest.mark.slow
def test_the_run_ends_within_ten_percent_of_its_budget(finished_run):
    _, metrics = finished_run
    assert abs(metrics["elapsed_s"] - BUDGET_S) <= 0.10 * BUDGET_S, metrics["phases"]


@pytest.mark.e2e
@pytest.mark.slow
def test_the_run_writes_every_file(finished_run):
    out, _ = finished_run
    missing = [name for name in FILES if not (out / name).is_file()]
    assert not missing
    models = json.loads((out / "models.json").read_text())
    assert all((out / "models" / row["name"]).is_dir() for row in models["models"]
               if not row["name"].startswith("search-") and row["name"] != "lightgbm")
    assert not any((out / "backup").iterdir()) if (out / "backup").exists() else True  # no half-trained model left


@pytest.mark.e2e
@pytest.mark.slow
def test_the_test_split_was_read_once_and_only_at_the_end(finished_run):
    out, metrics = finished_run
    state = json.loads((out / "state.json").read_text())
    assert list(state["phases"]) == ["data", "lr_find", "search", "retrain", "lightgbm", "ensemble"]
    assert metrics["test"]["accuracy"] > 0.85  # a real evaluation happened, after every phase
    # the seal: the run's RunSplits hold the test split in a SealedSplit whose second open() raises,
    # so reaching here means no phase read it before the evaluation (tests/pipeline/test_sealed_run.py)


@pytest.mark.e2e
@pytest.mark.slow
def test_the_ensemble_is_not_worse_than_its_best_single_model_on_blend(finished_run):
    out, _ = finished_run
    models = json.loads((out / "models.json").read_text())
    best = max(row["blend"] for row in models["models"])
    assert models["ensemble"]["blend"] >= best, (models["ensemble"], best)

"""The command line, on tiny data written to a temp dir."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from topnet.cli import main


def tiny_npz(path, n=120, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = (rng.normal(size=(n, 1, 8, 8)) + y[:, None, None, None]).astype(np.float32)
    np.savez(path, x=x, y=y)
    return path


def test_help_explains_the_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for word in ("datasets", "train", "models", "examples"):
        assert word in out


def test_console_script_runs():
    result = subprocess.run([sys.executable, "-m", "topnet.cli", "train", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "--epochs" in result.stdout


def test_train_writes_a_run_directory(tmp_path, capsys):
    data = tiny_npz(tmp_path / "d.npz")
    out = tmp_path / "run"
    code = main(["train", "--data", str(data), "--model", "small_convnet", "--epochs", "2", "--batch-size", "16",
                 "--out", str(out), "--quiet"])
    assert code == 0, capsys.readouterr().err
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"train", "valid", "test"} <= set(metrics)
    assert 0.0 <= metrics["test"]["accuracy"] <= 1.0 and metrics["test"]["loss"] > 0
    config = json.loads((out / "config.json").read_text())
    assert config["model"] == "small_convnet" and config["task"] == "classification"
    assert (out / "model" / "weights.safetensors").exists() and (out / "history.csv").exists()
    assert json.loads((out / "environment.json").read_text())["seed"] == 0
    # a finished run is never overwritten by accident
    before = (out / "metrics.json").read_bytes()
    assert main(["train", "--data", str(data), "--epochs", "1", "--out", str(out), "--quiet"]) == 2
    assert "finished run" in capsys.readouterr().err
    assert (out / "metrics.json").read_bytes() == before


def test_unknown_dataset_is_a_clear_error(tmp_path, capsys):
    assert main(["train", "--data", "fashion-mnits", "--out", str(tmp_path / "r"), "--quiet"]) == 2
    assert "did you mean 'fashion-mnist'" in capsys.readouterr().err


def test_models_lists_the_builders(capsys):
    assert main(["models"]) == 0
    assert "small_convnet" in capsys.readouterr().out


def test_train_on_a_csv_with_categorical_columns_picks_an_mlp(tmp_path):
    rng = np.random.default_rng(0)
    rows = ["size,city,label"]
    for _ in range(90):
        city = rng.choice(["paris", "oslo", "rome"])
        size = rng.normal()
        rows.append(f"{size:.3f},{city},{'big' if size > 0 else 'small'}")
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "run"
    assert main(["train", "--data", str(tmp_path / "t.csv"), "--target", "label", "--epochs", "2", "--out", str(out),
                 "--quiet"]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["model"] == "mlp" and config["class_names"] == ["big", "small"]
    assert config["input_shape"] == [5]  # 1 numeric + one-hot of 3 cities and "<missing>"
    assert "accuracy" in json.loads((out / "metrics.json").read_text())["test"]


def test_train_regression_on_npz(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 5)).astype(np.float32)
    np.savez(tmp_path / "r.npz", x=x, y=(x.sum(1) * 3).astype(np.float32))
    out = tmp_path / "run"
    assert main(["train", "--data", str(tmp_path / "r.npz"), "--epochs", "2", "--out", str(out), "--quiet"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["test"]) == {"loss", "mae"}


def test_train_wide_and_deep_on_a_csv(tmp_path):
    rng = np.random.default_rng(1)
    rows = ["size,city,label"] + [f"{rng.normal():.3f},{rng.choice(['a', 'b'])},{rng.integers(0, 2)}" for _ in range(60)]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "run"
    assert main(["train", "--data", str(tmp_path / "t.csv"), "--target", "label", "--model", "wide_and_deep",
                 "--epochs", "1", "--out", str(out), "--quiet"]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["model_arguments"] == {"num_classes": 2, "num_numeric": 1, "categorical_sizes": [3]}


def test_recipe_commands_are_wired(capsys):
    from topnet.cli import main

    assert main(["recipe", "list"]) == 0
    assert "transfer" in capsys.readouterr().out
    assert main(["recipe", "run", "tranfser"]) == 2
    assert "did you mean 'transfer'" in capsys.readouterr().err

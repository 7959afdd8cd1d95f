"""Tiny datasets written to files, and `topnet run` on them once per session (each ~40 s)."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from topnet.pipeline import RunConfig, run

QUICK = {"budget": "40s", "lr_find_steps": 40, "top_k": 2, "mc_samples": 4, "max_epochs": 8, "verbose": 0}


def write_image_npz(path: Path, seed: int = 0, num_train: int = 600, num_test: int = 150) -> Path:
    """3 classes of 1×12×12 images: a bright bar (vertical, horizontal, diagonal) in noise."""
    rng = np.random.default_rng(seed)

    def make(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, 3, n)
        x = rng.normal(0.0, 0.6, (n, 1, 12, 12)).astype(np.float32)
        for i, label in enumerate(y):
            offset = rng.integers(2, 10)
            if label == 0:
                x[i, 0, :, offset] += 2.0
            elif label == 1:
                x[i, 0, offset, :] += 2.0
            else:
                x[i, 0, np.arange(12), np.arange(12)] += 2.0
        return x, y

    x_train, y_train = make(num_train)
    x_test, y_test = make(num_test)
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test,
             class_names=np.array(["vertical", "horizontal", "diagonal"]))
    return path


def write_table_csv(path: Path, task: str, seed: int = 0, num_rows: int = 400) -> Path:
    """A table with numeric columns, a categorical one (with missing cells) and a target: a
    3-class label (classification) or a noisy linear value (regression)."""
    rng = np.random.default_rng(seed)
    numeric = rng.normal(size=(num_rows, 4))
    colour = rng.choice(["red", "green", "blue", ""], num_rows)
    signal = numeric[:, 0] + 0.5 * numeric[:, 1] - numeric[:, 2] * 0.5 + (colour == "red") * 1.0
    if task == "classification":
        target = np.digitize(signal, np.quantile(signal, [1 / 3, 2 / 3]))
        target = np.array(["low", "mid", "high"])[target]
    else:
        target = np.round(3.0 * signal + rng.normal(0, 0.3, num_rows), 4)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["a", "b", "c", "d", "colour", "target"])
        for row in range(num_rows):
            writer.writerow([*np.round(numeric[row], 4), colour[row], target[row]])
    return path


def quick_run(data: Path, out: Path, **settings) -> Path:
    run(RunConfig(data=str(data), out=str(out), **{**QUICK, **settings}))
    return out


@pytest.fixture(scope="session")
def image_run_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pipeline-images")
    return quick_run(write_image_npz(root / "bars.npz"), root / "run")


@pytest.fixture(scope="session")
def classification_run_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pipeline-csv")
    return quick_run(write_table_csv(root / "table.csv", "classification"), root / "run", target="target")


@pytest.fixture(scope="session")
def regression_run_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pipeline-regression")
    return quick_run(write_table_csv(root / "table.csv", "regression"), root / "run", target="target")


@pytest.fixture
def quick_settings() -> dict:
    return dict(QUICK)


@pytest.fixture
def image_npz(tmp_path) -> Path:
    return write_image_npz(tmp_path / "bars.npz")


@pytest.fixture
def table_csv():
    """``table_csv(path, task)`` writes the tiny table."""
    return write_table_csv

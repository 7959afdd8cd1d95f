"""Fixtures of the search tests: tiny synthetic data (in memory and as .npz); PostgreSQL is in tests/conftest.py."""
from __future__ import annotations

import numpy as np
import pytest

from topnet.data import Dataset, split, standardize
from topnet.tune import Categorical, Fixed, Float, Int, SearchSpace


def make_blobs(n: int = 300, features: int = 8, classes: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian blobs: separable classes, so a tiny MLP learns them in an epoch or two."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(classes, features)) * 2.0
    y = rng.integers(0, classes, n)
    return (centers[y] + rng.normal(size=(n, features))).astype(np.float32), y.astype(np.int64)


@pytest.fixture
def blobs():
    x, y = make_blobs()
    splits, _ = standardize(split(Dataset(x=x, y=y), valid=0.2, blend=0.2, test=0.1, seed=0))
    return splits


@pytest.fixture
def blobs_npz(tmp_path):
    def write(n: int = 300) -> str:
        x, y = make_blobs(n)
        path = tmp_path / f"blobs{n}.npz"
        np.savez(path, x=x, y=y)
        return str(path)

    return write


@pytest.fixture
def small_space():
    """A function returning a small MLP space (each epoch a fraction of a second); keywords fix values."""

    def make(**fixed) -> SearchSpace:
        params = {"family": Fixed("mlp"), "depth": Int(1, 2), "width": Categorical([8, 16]),
                  "lr": Float(1e-3, 3e-2, log=True), "batch_size": Fixed(64)}
        params.update({key: Fixed(value) for key, value in fixed.items()})
        return SearchSpace(params)

    return make

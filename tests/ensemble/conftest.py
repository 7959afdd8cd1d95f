"""Small synthetic member predictions shared by the ensemble tests."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))  # ensemble_test_tables (--import-mode=importlib does not)


def noisy_members(num_members: int = 3, rows: int = 300, classes: int = 3, seed: int = 0,
                  noise: tuple[float, ...] = (1.0, 1.5, 2.0)):
    """``(members, rows, classes)`` probabilities of members that see the truth through noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, rows)
    stacked = []
    for m in range(num_members):
        logits = 2.0 * np.eye(classes)[y] + noise[m % len(noise)] * rng.normal(size=(rows, classes))
        stacked.append(np.exp(logits) / np.exp(logits).sum(1, keepdims=True))
    return np.stack(stacked), y


@pytest.fixture
def members_and_labels():
    return noisy_members()


@pytest.fixture
def make_members():
    """The ``noisy_members`` factory, for tests that need other sizes."""
    return noisy_members

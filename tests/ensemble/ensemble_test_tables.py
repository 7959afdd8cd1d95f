"""Helpers shared by the ensemble tests (tests/ensemble/conftest.py puts this folder on sys.path)."""
from __future__ import annotations

import json

import numpy as np

from topnet.data import Dataset
from topnet.ensemble import load_member


def categorical_table(n: int = 240, seed: int = 0) -> Dataset:
    """A table whose class depends on a categorical column non-monotonically (code % 2)."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(1, 7, size=(n, 1))
    numeric = rng.normal(size=(n, 2)).astype(np.float32)
    y = ((codes[:, 0] % 2) + (numeric[:, 0] > 1.0)).astype(np.int64)
    return Dataset({"numeric": numeric, "categorical": codes}, y,
                   meta={"categorical_columns": ["c"], "vocabularies": {"c": ["<missing>", *"abcdef"]}})


def roundtrip(member, tmp_path):
    """``member`` saved to ``tmp_path / "m"`` (its config through JSON) and loaded back."""
    config = json.loads(json.dumps(member.save(tmp_path / "m")))
    return load_member(tmp_path / "m", config)

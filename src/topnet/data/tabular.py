"""Tabular inputs as one matrix, for models that take a single array (``mlp``).

``read_csv`` gives named inputs ``{"numeric": (n, k) float32, "categorical": (n, m) int64
codes}``; ``flatten_tabular`` one-hot encodes the codes with each column's vocabulary size
(from ``meta["vocabularies"]``, so every split gets the same width) and puts the numeric
columns in front; a ``"text"`` input (token ids) is left out, as it is no column of numbers.
Models with embeddings (``wide_and_deep``, with a text tower) take the named inputs directly.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from topnet.data.dataset import Dataset, Splits

__all__ = ["flatten_tabular", "one_hot_codes"]


def one_hot_codes(codes: np.ndarray, sizes: list[int]) -> np.ndarray:
    """One-hot encode ``codes`` (n, m) where column j has ``sizes[j]`` categories → (n, sum(sizes)).

    Example:
        >>> one_hot_codes(np.array([[0, 2], [1, 0]]), [2, 3]).tolist()
        [[1.0, 0.0, 0.0, 0.0, 1.0], [0.0, 1.0, 1.0, 0.0, 0.0]]
    """
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    out = np.zeros((len(codes), int(sum(sizes))), dtype=np.float32)
    rows = np.repeat(np.arange(len(codes)), codes.shape[1])
    out[rows, (codes + offsets).reshape(-1)] = 1.0
    return out


def _flatten(dataset: Dataset) -> Dataset:
    x = dataset.x
    if not isinstance(x, dict) or not set(x) <= {"numeric", "categorical", "text"}:
        return dataset
    if not set(x) & {"numeric", "categorical"}:
        raise ValueError(f"a table with only a text input has no columns to flatten ({dataset.name or 'data'}); "
                         "use a text family (text_cnn, text_rnn, text_transformer) or wide_and_deep")
    parts = []
    if "numeric" in x:
        parts.append(np.asarray(x["numeric"], dtype=np.float32))
    if "categorical" in x:
        columns = dataset.meta.get("categorical_columns", [])
        vocabularies = dataset.meta.get("vocabularies", {})
        sizes = [len(vocabularies[c]) for c in columns] if columns else list(x["categorical"].max(axis=0) + 1)
        parts.append(one_hot_codes(x["categorical"], sizes))
    return dataclasses.replace(dataset, x=np.concatenate(parts, axis=1))


def flatten_tabular(splits: Splits) -> Splits:
    """Every split's ``{"numeric", "categorical"}`` inputs as one float32 matrix, without any
    ``"text"`` input (other inputs unchanged)."""
    return dataclasses.replace(splits, **{name: _flatten(data) for name, data in splits.items()})

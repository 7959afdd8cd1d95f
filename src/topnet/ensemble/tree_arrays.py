"""A scikit-learn forest as plain arrays, and its predictions computed with NumPy.

topnet saves nothing as a pickle, and a fitted scikit-learn forest is only reachable through
one. Its trees, though, are just arrays (``tree_.children_left``, ``feature``, ``threshold``,
``value``...). ``pack_trees`` concatenates every tree's nodes into one set of arrays (child
indices made global, leaves ``-1``), which safetensors stores; ``predict_trees`` walks all trees
for a block of rows at once. The walk follows scikit-learn's exactly: inputs are cast to
float32 as scikit-learn does, a row goes left when ``x <= threshold``, and a NaN goes where
the tree sent the missing values it saw in training (``missing_go_to_left``).

Example:
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(60, 3)); y = (x[:, 0] > 0).astype(np.int64)
    >>> forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(x, y)
    >>> arrays = pack_trees(forest.estimators_, classes=forest.classes_, num_classes=2)
    >>> bool(np.allclose(predict_trees(arrays, x), forest.predict_proba(x)))
    True
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["pack_trees", "predict_trees", "ARRAY_NAMES"]

ARRAY_NAMES = ("roots", "left", "right", "feature", "threshold", "missing_left", "value")
_CELLS_PER_BLOCK = 1 << 20  # rows x trees x outputs per block: 8 MiB of leaf values at a time


def _leaf_values(tree: Any, classes: np.ndarray | None, num_classes: int) -> np.ndarray:
    """``(nodes, outputs)``: class probabilities (each row sums to 1) or regression values."""
    value = np.asarray(tree.value, dtype=np.float64)  # (nodes, outputs, classes or 1)
    if classes is None:
        return value[:, :, 0]
    counts = value[:, 0, :]
    totals = counts.sum(axis=1, keepdims=True)
    proba = np.zeros((len(counts), num_classes))
    proba[:, classes] = counts / np.where(totals > 0, totals, 1.0)
    return proba


def pack_trees(estimators: Sequence[Any], *, classes: np.ndarray | None = None,
               num_classes: int = 0) -> dict[str, np.ndarray]:
    """Every tree of a fitted forest as one set of arrays (see ``ARRAY_NAMES``).

    Args:
        estimators: the forest's ``estimators_`` (fitted decision trees).
        classes: the forest's ``classes_`` (class ids seen in train); None for regression.
        num_classes: probability columns (class ids ``0 .. num_classes - 1``).

    Returns:
        ``roots`` ``(trees,)``: each tree's first node; ``left``, ``right`` ``(nodes,)``: global
        child indices, ``-1`` at leaves; ``feature``, ``threshold``, ``missing_left``: the
        split of each node; ``value`` ``(nodes, outputs)``: what a leaf predicts.
    """
    parts: dict[str, list[np.ndarray]] = {name: [] for name in ARRAY_NAMES}
    offset = 0
    for estimator in estimators:
        tree = estimator.tree_
        left, right = tree.children_left.astype(np.int64), tree.children_right.astype(np.int64)
        parts["roots"].append(np.array([offset]))
        parts["left"].append(np.where(left >= 0, left + offset, -1))
        parts["right"].append(np.where(right >= 0, right + offset, -1))
        parts["feature"].append(np.maximum(tree.feature.astype(np.int64), 0))  # leaves: -2 -> 0, never read
        parts["threshold"].append(tree.threshold.astype(np.float64))
        missing = getattr(tree, "missing_go_to_left", np.zeros(tree.node_count, np.uint8))
        parts["missing_left"].append(np.asarray(missing, dtype=np.uint8))
        parts["value"].append(_leaf_values(tree, classes, num_classes))
        offset += tree.node_count
    return {name: np.concatenate(chunks) for name, chunks in parts.items()}


def _leaves(arrays: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """The leaf each row of ``x`` ``(N, features)`` float32 reaches in each tree: ``(N, trees)``."""
    left, right, feature = arrays["left"], arrays["right"], arrays["feature"]
    threshold, missing_left = arrays["threshold"], arrays["missing_left"].astype(bool)
    node = np.repeat(arrays["roots"][None, :], len(x), axis=0)
    rows, trees = np.nonzero(left[node] >= 0)  # the (row, tree) walks still inside a tree
    while len(rows):
        at = node[rows, trees]
        value = x[rows, feature[at]]
        go_left = np.where(np.isnan(value), missing_left[at], value <= threshold[at])
        node[rows, trees] = np.where(go_left, left[at], right[at])
        inside = left[node[rows, trees]] >= 0
        rows, trees = rows[inside], trees[inside]
    return node


def predict_trees(arrays: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """The mean of every tree's leaf value for each row: ``(N, outputs)`` float64.

    Args:
        arrays: from ``pack_trees``.
        x: ``(N, features)``; cast to float32 first, as scikit-learn's trees do.
    """
    x = np.asarray(x, dtype=np.float32)
    num_trees, num_outputs = len(arrays["roots"]), arrays["value"].shape[1]
    block = max(1, _CELLS_PER_BLOCK // max(num_trees * num_outputs, 1))
    out = np.empty((len(x), num_outputs))
    for start in range(0, len(x), block):
        leaves = _leaves(arrays, x[start:start + block])  # (rows, trees)
        out[start:start + block] = arrays["value"][leaves].sum(axis=1) / num_trees
    return out

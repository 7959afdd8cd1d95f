"""Inputs as one feature matrix, for members that are not networks (LightGBM, linear models).

Images ``(N, C, H, W)`` become flattened pixels ``(N, C*H*W)``. Tables read from CSV come as
``{"numeric": (N, k) float, "categorical": (N, m) int64 codes}``; the numeric columns go first,
then the categorical ones, either as their integer codes (LightGBM splits on them natively when
told their column indices) or one-hot encoded with each column's vocabulary size (linear
models). Codes outside a column's vocabulary (a category not seen when fitting) become code 0,
the ``"<missing>"`` entry of topnet's vocabularies. A table's ``"text"`` input (token ids) is left
out, as `topnet.data.flatten_tabular` leaves it out: the networks read it (``wide_and_deep``'s
text tower, the text families), and a text-only table is run as text, with a TF-IDF member.

Example:
    >>> x = {"numeric": np.array([[0.5], [1.5]]), "categorical": np.array([[2], [0]])}
    >>> design_matrix(x, [3]).tolist()
    [[0.5, 2.0], [1.5, 0.0]]
    >>> design_matrix(x, [3], one_hot=True).tolist()
    [[0.5, 0.0, 0.0, 1.0], [1.5, 1.0, 0.0, 0.0]]
    >>> categorical_columns(x)
    [1]
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from topnet.data.tabular import one_hot_codes
from topnet.errors import DataError, format_message

__all__ = ["design_matrix", "categorical_sizes", "categorical_columns"]

_TABLE_KEYS = {"numeric", "categorical"}
_LEFT_OUT = {"text"}  # token ids: for the networks


def _numpy(value: Any) -> np.ndarray:
    return value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)


def _check_table(x: Mapping) -> None:
    if not set(x) <= _TABLE_KEYS | _LEFT_OUT or not set(x) & _TABLE_KEYS:
        raise DataError(format_message("x", f"a dict with keys {sorted(x)}", "an array, or a table dict with keys "
                                       "'numeric' and/or 'categorical' (as read_csv gives; 'text' is left out)",
                                       "pass a network member for other multi-input data"))


def categorical_sizes(dataset: Any) -> list[int] | None:
    """Each categorical column's vocabulary size, from ``meta["vocabularies"]`` (else max code + 1).

    Returns None when the dataset's inputs are not a table with categorical columns.
    """
    x = dataset.x
    if not isinstance(x, Mapping) or "categorical" not in x:
        return None
    columns = dataset.meta.get("categorical_columns", []) if hasattr(dataset, "meta") else []
    vocabularies = dataset.meta.get("vocabularies", {}) if hasattr(dataset, "meta") else {}
    if columns and all(c in vocabularies for c in columns):
        return [len(vocabularies[c]) for c in columns]
    codes = _numpy(x["categorical"])
    return [int(v) + 1 for v in codes.max(axis=0)] if len(codes) else [1] * codes.shape[1]


def categorical_columns(x: Any) -> list[int]:
    """The column indices of ``design_matrix(x)`` (codes, not one-hot) that hold categories."""
    if not isinstance(x, Mapping) or "categorical" not in x:
        return []
    first = _numpy(x["numeric"]).shape[1] if "numeric" in x else 0
    return list(range(first, first + _numpy(x["categorical"]).shape[1]))


def design_matrix(x: Any, sizes: Sequence[int] | None = None, *, one_hot: bool = False) -> np.ndarray:
    """``x`` as a float64 ``(N, features)`` matrix (see the module docstring).

    Args:
        x: an array ``(N, ...)`` (flattened) or a table dict.
        sizes: vocabulary size of each categorical column (needed for ``one_hot`` and for
            mapping unseen codes to 0).
        one_hot: one-hot encode the categorical codes instead of keeping them as numbers.

    Raises:
        DataError: a dict that is not a table, or categorical columns that disagree with ``sizes``.
    """
    if not isinstance(x, Mapping):
        array = _numpy(x)
        if array.ndim < 1:
            raise DataError(format_message("x", f"shape {array.shape}", "an array with samples on axis 0"))
        return array.reshape(len(array), -1).astype(np.float64)
    _check_table(x)
    parts = [_numpy(x["numeric"]).astype(np.float64).reshape(len(_numpy(x["numeric"])), -1)] if "numeric" in x else []
    if "categorical" in x:
        codes = _numpy(x["categorical"]).astype(np.int64)
        if sizes is not None:
            if len(sizes) != codes.shape[1]:
                raise DataError(format_message("x['categorical']", f"{codes.shape[1]} columns",
                                               f"{len(sizes)} columns, as when the member was fitted"))
            codes = np.where((codes >= 0) & (codes < np.asarray(sizes)), codes, 0)  # unseen -> "<missing>"
        if one_hot:
            if sizes is None:
                raise ValueError("one_hot=True needs the vocabulary sizes; pass sizes=categorical_sizes(train)")
            parts.append(one_hot_codes(codes, list(sizes)).astype(np.float64))
        else:
            parts.append(codes.astype(np.float64))
    return np.concatenate(parts, axis=1)

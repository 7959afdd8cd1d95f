"""topnet's CSV reader before pyarrow (``git show 6d58262:src/topnet/data/csv.py``), for bench/ingest_tables.py.

The standard library's ``csv`` module, row by row: ``read_csv`` only (``encode_csv`` dropped),
otherwise unchanged, so the benchmark compares against what users had.
"""
from __future__ import annotations

import csv as _csv
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from topnet.data.dataset import Dataset
from topnet.errors import DataError, nearest

__all__ = ["read_csv"]

MISSING = "<missing>"
MISSING_VALUES = ("", "na", "n/a", "nan", "null", "none", "?")


def _rows(path: Path, delimiter: str) -> tuple[list[str], list[list[str]], list[int]]:
    """The header, the data rows and each row's line number; blank lines are skipped."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as file:  # utf-8-sig drops a BOM
            reader = _csv.reader(file, delimiter=delimiter)
            header = next(reader, None)
            if header is None:
                raise DataError(f"{path}: file is empty; expected a header row of column names")
            header = [name.strip() for name in header]
            rows, lines = [], []
            for row in reader:
                if not row or (len(row) == 1 < len(header) and not row[0].strip()):
                    continue  # a blank line
                if len(row) != len(header):
                    raise DataError(f"{path}, line {reader.line_num}: got {len(row)} fields; expected "
                                    f"{len(header)} (one per header column); fix or remove that row")
                rows.append(row)
                lines.append(reader.line_num)
    except (UnicodeDecodeError, _csv.Error) as error:
        raise DataError(f"{path}: cannot parse as UTF-8 CSV ({error})") from None
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise DataError(f"{path}: duplicate column names {duplicates}; expected unique names")
    if not rows:
        raise DataError(f"{path}: no data rows after the header; expected at least one")
    return header, rows, lines


def _parse_floats(values: list[str], missing: set[str]) -> list[float] | None:
    """The column as floats (NaN where missing), or None when some value is not a number."""
    out = []
    for value in values:
        text = value.strip()
        if text.lower() in missing:
            out.append(math.nan)
            continue
        try:
            out.append(float(text))
        except ValueError:
            return None
    return out


def _categorical(values: list[str], missing: set[str]) -> tuple[np.ndarray, tuple[str, ...]]:
    """Codes (0 = missing) and the vocabulary ``("<missing>", *sorted values)``."""
    cleaned = [value.strip() for value in values]
    present = sorted({v for v in cleaned if v.lower() not in missing})
    index = {value: i + 1 for i, value in enumerate(present)}
    return np.array([index.get(v, 0) for v in cleaned], np.int64), (MISSING, *present)


def _target(name: str, values: list[str], lines: list[int], missing: set[str], task: str | None,
            max_classes: int, path: Path) -> tuple[np.ndarray, tuple[str, ...] | None]:
    """(y, class_names): classification for strings or few distinct integers, else regression."""
    absent = [line for line, value in zip(lines, values) if value.strip().lower() in missing]
    if absent:
        raise DataError(f"{path}: target {name!r} is missing on {len(absent)} rows (first on line "
                        f"{absent[0]}); expected a value on every row; drop or fill those rows")
    floats = _parse_floats(values, missing)
    if task is None:
        integral = floats is not None and all(f.is_integer() for f in floats)
        few = len(set(floats or ())) <= max_classes
        task = "regression" if floats is not None and not (integral and few) else "classification"
    if task == "regression":
        if floats is None:
            raise DataError(f"{path}: target {name!r} has non-numeric values; expected numbers for "
                            "regression; pass task='classification'")
        return np.array(floats, np.float32), None
    if floats is not None:  # numeric class labels: order them by value, name them as written
        labels = sorted(set(floats))
        index = {value: i for i, value in enumerate(labels)}
        names = tuple(str(int(v)) if v.is_integer() else str(v) for v in labels)
        return np.array([index[v] for v in floats], np.int64), names
    codes, vocabulary = _categorical(values, missing)
    return codes - 1, vocabulary[1:]


def read_csv(path: str | os.PathLike, target: str | Sequence[str], *, delimiter: str = ",",
             categorical: Sequence[str] = (), task: str | None = None, max_classes: int = 20,
             missing_values: Sequence[str] = MISSING_VALUES) -> Dataset:
    """Read a CSV file with a header row into a `Dataset` of numeric and categorical inputs.

    Args:
        path: the CSV file (UTF-8, with or without a BOM; quoted fields allowed).
        target: the target column, or several (then ``y`` is a dict keyed by column name).
        delimiter: the field separator.
        categorical: columns to treat as categorical even though they parse as numbers (zip codes).
        task: ``"classification"``, ``"regression"`` or None to decide from the target: strings or
            at most ``max_classes`` distinct integers mean classification.
        max_classes: most distinct integer values a target may have to count as class labels.
        missing_values: cell values (case-insensitive) read as missing.

    Returns:
        A `Dataset` whose ``x`` has ``"numeric"`` (float32 ``(n, k)``) and/or ``"categorical"``
        (int64 ``(n, m)``); ``meta`` holds ``numeric_columns``, ``categorical_columns``,
        ``vocabularies``, ``target`` and, for several targets, ``class_names`` per target.

    Raises:
        DataError: for an empty file, a ragged row (naming its line), a missing target column
            (listing the columns), missing target values, or no feature columns.
    """
    path = Path(path).expanduser()
    if task not in (None, "classification", "regression"):
        raise ValueError(f"task: got {task!r}; expected None, 'classification' or 'regression'")
    targets = [target] if isinstance(target, str) else list(target)
    header, rows, lines = _rows(path, delimiter)
    for name in [*targets, *categorical]:
        if name not in header:
            guess = nearest(name, header)
            raise DataError(f"{path}: no column {name!r}; available columns: {header}"
                            + (f"; did you mean {guess!r}?" if guess else ""))
    missing = {value.lower() for value in missing_values}
    columns = {name: [row[i] for row in rows] for i, name in enumerate(header)}
    numeric, codes, meta = [], [], {"numeric_columns": [], "categorical_columns": [], "vocabularies": {}}
    for name in header:
        if name in targets:
            continue
        floats = None if name in categorical else _parse_floats(columns[name], missing)
        if floats is not None:
            numeric.append(floats)
            meta["numeric_columns"].append(name)
        else:
            column_codes, vocabulary = _categorical(columns[name], missing)
            codes.append(column_codes)
            meta["categorical_columns"].append(name)
            meta["vocabularies"][name] = vocabulary
    x = {}
    if numeric:
        x["numeric"] = np.array(numeric, np.float32).T  # (n, k)
    if codes:
        x["categorical"] = np.stack(codes, axis=1)  # (n, m)
    if not x:
        raise DataError(f"{path}: no feature columns besides the target {targets}; expected at least one")
    ys = {name: _target(name, columns[name], lines, missing, task, max_classes, path) for name in targets}
    meta["target"] = targets[0] if isinstance(target, str) else targets
    if isinstance(target, str):
        y, class_names = ys[target]
    else:
        y, class_names = {name: value[0] for name, value in ys.items()}, None
        meta["class_names"] = {name: value[1] for name, value in ys.items()}
    return Dataset(x=x, y=y, class_names=class_names, name=path.stem, meta=meta)

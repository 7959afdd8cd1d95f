"""Read a table from a CSV file into numeric and categorical inputs and a target.

A column is numeric when every non-missing value parses as a float; every other column is
categorical. Numeric features become ``x["numeric"]`` (float32, NaN where missing); categorical
ones become ``x["categorical"]`` (int64 codes, 0 meaning ``"<missing>"``). Column names and the
vocabulary of every categorical column are kept in ``Dataset.meta`` so that new data can be
encoded the same way: ``encode_csv(path, meta)`` does that (``topnet predict``). Only the
standard library's ``csv`` module is used.

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "houses.csv"
    >>> _ = path.write_text("rooms,city,price\\n3,Paris,1.5\\n2,,0.9\\n4,Lyon,1.1\\n")
    >>> data = read_csv(path, target="price")
    >>> data.x["numeric"].shape, data.x["categorical"].tolist(), data.task
    ((3, 1), [[2], [0], [1]], 'regression')
    >>> data.meta["vocabularies"]["city"]
    ('<missing>', 'Lyon', 'Paris')
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

__all__ = ["read_csv", "encode_csv", "MISSING", "MISSING_VALUES"]

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


def _encode_numeric(name: str, values: list[str], lines: list[int], missing: set[str], path: Path) -> list[float]:
    out = []
    for line, value in zip(lines, values):
        text = value.strip()
        try:
            out.append(math.nan if text.lower() in missing else float(text))
        except ValueError:
            raise DataError(f"{path}, line {line}: column {name!r}: got {text!r}; expected a number (the column "
                            "was numeric when the model was trained) or an empty cell for a missing value") from None
    return out


def encode_csv(path: str | os.PathLike, meta: dict, *, delimiter: str = ",",
               missing_values: Sequence[str] = MISSING_VALUES) -> Dataset:
    """Read new rows of a CSV file, encoded as the `read_csv` that gave ``meta`` encoded its table.

    Columns are found by name (in any order); other columns (the target, ids) are ignored.
    Categorical values are coded with the training vocabularies; a value the vocabulary lacks
    becomes code 0, ``"<missing>"``, as a missing one does.

    Args:
        path: the CSV file, with a header row.
        meta: ``numeric_columns``, ``categorical_columns`` and ``vocabularies`` (``read_csv``'s
            ``Dataset.meta``, or a run's ``dataset.json["csv"]``).
        delimiter / missing_values: as in `read_csv`.

    Returns:
        A `Dataset` without targets; ``x`` as `read_csv` gives it; ``meta`` adds
        ``ignored_columns`` (header names not used) and ``unseen_categories``
        (``{column: [values the vocabulary lacks]}``).

    Raises:
        DataError: a column of ``meta`` missing from the file (naming them all), a non-numeric
            value in a numeric column (naming its line), or what `read_csv` rejects.

    Example:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (folder / "train.csv").write_text("rooms,city,price\\n3,Paris,1.5\\n4,Lyon,1.1\\n")
        >>> _ = (folder / "new.csv").write_text("city,rooms\\nLyon,2\\nNice,5\\n")
        >>> new = encode_csv(folder / "new.csv", read_csv(folder / "train.csv", target="price").meta)
        >>> new.x["numeric"].tolist(), new.x["categorical"].tolist(), new.meta["unseen_categories"]
        ([[2.0], [5.0]], [[1], [0]], {'city': ['Nice']})
    """
    path = Path(path).expanduser()
    numeric_columns, categorical_columns = list(meta.get("numeric_columns", [])), list(meta.get("categorical_columns", []))
    vocabularies = meta.get("vocabularies", {})
    header, rows, lines = _rows(path, delimiter)
    wanted = numeric_columns + categorical_columns
    absent = [name for name in wanted if name not in header]
    if absent:
        raise DataError(f"{path}: got no column {absent}; expected every feature column the model was trained "
                        f"on: {wanted}; add them (an empty cell reads as a missing value)")
    missing = {value.lower() for value in missing_values}
    position = {name: i for i, name in enumerate(header)}
    x, unseen = {}, {}
    if numeric_columns:
        x["numeric"] = np.array([_encode_numeric(name, [row[position[name]] for row in rows], lines, missing, path)
                                 for name in numeric_columns], np.float32).T.reshape(len(rows), -1)  # (n, k)
    codes = []
    for name in categorical_columns:
        index = {value: i for i, value in enumerate(vocabularies[name]) if i > 0}
        values = [row[position[name]].strip() for row in rows]
        new = sorted({v for v in values if v not in index and v.lower() not in missing})
        if new:
            unseen[name] = new
        codes.append(np.array([index.get(v, 0) for v in values], np.int64))
    if codes:
        x["categorical"] = np.stack(codes, axis=1)  # (n, m)
    if not x:
        raise DataError(f"meta: got keys {sorted(meta)}; expected numeric_columns and/or categorical_columns, as in "
                        "read_csv's Dataset.meta")
    extra = {"ignored_columns": [name for name in header if name not in wanted], "unseen_categories": unseen}
    return Dataset(x=x, y=None, name=path.stem, meta={**meta, **extra})

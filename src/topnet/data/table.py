"""Read a table (CSV, TSV or Parquet) into numeric and categorical inputs and a target, with pyarrow.

Each feature column becomes one of:

* numeric: Parquet numbers and booleans, or text whose non-missing values all parse as numbers;
  in ``x["numeric"]``, float32 ``(n, k)``, NaN where missing.
* date / datetime: Parquet date and timestamp columns, or text whose values are all ISO 8601
  dates (``2024-05-31``) or dates with a time (``2024-05-31 14:05:00``). Numeric features
  ``<col>_year``, ``<col>_month``, ``<col>_day``, ``<col>_dayofweek`` (Monday = 0) and, for
  datetimes, ``<col>_hour`` and ``<col>_seconds`` (seconds since 1970-01-01 UTC); NaN where
  missing. ``meta["datetime_columns"]`` maps each such column to ``"date"`` or ``"datetime"``.
* categorical: everything else, in ``x["categorical"]``, int64 ``(n, m)``: 0 is ``"<missing>"``;
  values seen fewer than ``min_frequency`` times, and those past the ``max_categories`` most
  frequent, share code 1, ``"<other>"``, present only when something was cut.
* text: the columns named in ``text=``, and those that read as free text (more distinct
  values than half the rows, a median length over 30 characters, spaces in most: `looks_like_text`).
  A row's text cells are joined, in column order and separated by ``" \\n "``, into one string
  of ``x["text"]``, a 1-D object array (``""`` where every cell is missing);
  ``meta["text_columns"]`` lists them. `vectorize_text` turns ``x["text"]`` into token ids,
  fitted on the training rows. ``categorical=[name]`` gives a text column category codes
  instead, ``ignore=[name]`` drops it.

Missing values: the ``missing_values`` spellings, any case, surrounding spaces ignored, and
Parquet nulls. `encode_table` encodes new rows as the training table was (``topnet predict``).

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "sales.csv"
    >>> _ = path.write_text("day,shop,units\\n2024-05-31,a,3\\n2024-06-01,b,1\\n,a,2\\n")
    >>> data = read_table(path, target="units", task="regression")
    >>> data.meta["numeric_columns"], data.meta["datetime_columns"]
    (['day_year', 'day_month', 'day_day', 'day_dayofweek'], {'day': 'date'})
    >>> data.x["numeric"][:, 2].tolist(), data.x["categorical"][:, 0].tolist()
    ([31.0, 1.0, nan], [1, 2, 1])
    >>> _ = path.write_text("title,body,units\\nHi,Great shop,3\\n,Slow,1\\n")
    >>> read_table(path, target="units", text=["title", "body"]).x["text"].tolist()
    ['Hi \\n Great shop', ' \\n Slow']
"""
from __future__ import annotations

import functools
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from topnet.data.dataset import Dataset
from topnet.data.table_features import (
    MISSING_VALUES,
    Strings,
    date_features,
    distinct_strings,
    is_number,
    looks_like_text,
    parse_dates,
    parse_floats,
    vocabulary,
)
from topnet.data.table_read import (
    Columns,
    read_columns,
    read_header,
    release_memory,
    require_pyarrow,
)
from topnet.errors import DataError, format_message, nearest

__all__ = ["TEXT_SEPARATOR", "join_texts", "read_file", "read_table", "stack_floats", "table_format", "text_values"]

log = logging.getLogger(__name__)
TEXT_SEPARATOR = " \n "  # between the text cells of one row

FORMATS = {".csv": ("csv", ","), ".tsv": ("csv", "\t"), ".tab": ("csv", "\t"), ".parquet": ("parquet", ""),
           ".pq": ("parquet", "")}


def read_table(path: str | os.PathLike, target: str | Sequence[str], *, delimiter: str | None = None,
               categorical: Sequence[str] = (), ignore: Sequence[str] = (), task: str | None = None,
               max_classes: int = 20, missing_values: Sequence[str] = MISSING_VALUES, min_frequency: int = 1,
               max_categories: int = 1000, text: Sequence[str] = ()) -> Dataset:
    """Read a ``.csv``, ``.tsv`` or ``.parquet`` (``.pq``) file into a `Dataset` of numeric, categorical and text inputs.

    Args:
        path: the file; its suffix picks the format. Text files are UTF-8 with a header row.
        target: the target column, or several (then ``y`` is a dict keyed by column name).
        delimiter: the field separator of a text file; None: ``","`` for .csv, tab for .tsv.
        categorical: columns to treat as categorical even though they parse as numbers (zip
            codes) or read as free text.
        ignore: columns to skip (ids).
        task: ``"classification"``, ``"regression"`` or None to decide from the target: strings or
            at most ``max_classes`` distinct integers mean classification.
        max_classes: most distinct integer values a target may have to count as class labels.
        missing_values: cell values (case-insensitive) read as missing.
        min_frequency: categorical values seen fewer times become ``"<other>"``.
        max_categories: most values kept per categorical column (the most frequent).
        text: columns to read as text even though they do not look like free text (short titles).

    Returns:
        A `Dataset` whose ``x`` has ``"numeric"`` (float32 ``(n, k)``), ``"categorical"``
        (int64 ``(n, m)``) and/or ``"text"`` (object ``(n,)`` of str); ``meta`` holds
        ``numeric_columns`` (date features included), ``categorical_columns``,
        ``vocabularies``, ``datetime_columns``, ``text_columns``, ``target`` and, for several
        targets, ``class_names`` per target.

    Raises:
        DataError: an empty file, a ragged row (naming its line), an unknown column (listing the
            columns), missing target values, a text column with no value at all, or no feature
            columns.
        ValueError: a column in ``ignore`` that is a target, or in ``text`` and another option.
        ImportError: when pyarrow is not installed.
    """
    path = Path(path).expanduser()
    fmt, delimiter = table_format(path, delimiter)
    return read_file(path, fmt, delimiter, target, categorical=categorical, ignore=ignore, task=task,
                     max_classes=max_classes, missing_values=missing_values, min_frequency=min_frequency,
                     max_categories=max_categories, text=text)


def table_format(path: Path, delimiter: str | None) -> tuple[str, str]:
    """``("csv" | "parquet", delimiter)`` from the file's suffix."""
    if path.suffix.lower() not in FORMATS:
        raise DataError(format_message("path", str(path), f"a file ending in one of {sorted(FORMATS)}",
                                       "rename it, or use read_csv(path, target, delimiter=...) for other text"))
    fmt, default = FORMATS[path.suffix.lower()]
    return fmt, default if delimiter is None else delimiter


def read_file(path: Path, fmt: str, delimiter: str, target: str | Sequence[str], *, categorical: Sequence[str],
              ignore: Sequence[str], task: str | None, max_classes: int, missing_values: Sequence[str],
              min_frequency: int, max_categories: int, text: Sequence[str] = ()) -> Dataset:
    """`read_table` once the format is known (`read_csv` calls it with ``fmt="csv"``)."""
    require_pyarrow()
    _check_options(task, min_frequency, max_categories)
    targets = [target] if isinstance(target, str) else list(target)
    categorical, ignore, text = _names("categorical", categorical), _names("ignore", ignore), _names("text", text)
    header = read_header(path, fmt, delimiter)
    for name in [*targets, *categorical, *ignore, *text]:
        if name not in header:
            guess = nearest(name, header)
            raise DataError(f"{path}: no column {name!r}; available columns: {header}"
                            + (f"; did you mean {guess!r}?" if guess else ""))
    _check_disjoint(targets, categorical, ignore, text)
    features = [name for name in header if name not in targets and name not in ignore]
    if not features:
        raise DataError(f"{path}: no feature columns besides the target {targets}; expected at least one")
    table = read_columns(path, fmt, delimiter, header, [*features, *targets], strings=[*categorical, *text],
                         exact=targets, missing_values=missing_values)
    missing = {value.lower() for value in missing_values}
    ys = {name: _target(path, table, name, missing, task, max_classes) for name in targets}
    x, meta = _features(path, table, features, (set(categorical), set(text)), missing, min_frequency,
                        max_categories)
    meta["target"] = target if isinstance(target, str) else targets
    if isinstance(target, str):
        y, class_names = ys[target]
    else:
        y, class_names = {name: value[0] for name, value in ys.items()}, None
        meta["class_names"] = {name: value[1] for name, value in ys.items()}
    return Dataset(x=x, y=y, class_names=class_names, name=path.stem, meta=meta)


def _names(option: str, names: Sequence[str]) -> list[str]:
    """Column names of an option; a single string would be read letter by letter, so it is refused."""
    if isinstance(names, str) or not all(isinstance(name, str) for name in names):
        raise ValueError(format_message(option, names, "a list of column names", f"e.g. {option}=[{names!r}]"))
    return list(names)


def _check_disjoint(targets: list[str], categorical: list[str], ignore: list[str], text: list[str]) -> None:
    """ValueError for a column in ``ignore`` or ``text`` that another option names too."""
    for option, names, others in (("ignore", ignore, {"target": targets}),
                                  ("text", text, {"target": targets, "ignore": ignore, "categorical": categorical})):
        for other, other_names in others.items():
            both = [name for name in names if name in other_names]
            if both:
                raise ValueError(format_message(option, names, f"no column also in {other}={other_names}",
                                                f"name {both[0]!r} in only one of them"))


def _check_options(task: str | None, min_frequency: int, max_categories: int) -> None:
    if task not in (None, "classification", "regression"):
        raise ValueError(f"task: got {task!r}; expected None, 'classification' or 'regression'")
    for name, value in (("min_frequency", min_frequency), ("max_categories", max_categories)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(format_message(name, value, "an int >= 1"))


def _kind(column: Any, forced: bool, missing: set[str]) -> tuple[str, Any]:
    """``(kind, values)``: numeric (float64 array), date/datetime (pyarrow column) or categorical (`Strings`)."""
    import pyarrow as pa

    if not forced and (pa.types.is_date(column.type) or pa.types.is_timestamp(column.type)):
        return ("date" if pa.types.is_date(column.type) else "datetime"), column
    strings = distinct_strings(column, missing)
    floats = None if forced else parse_floats(strings)
    if floats is not None:
        return "numeric", floats
    dates = None if forced else parse_dates(strings)
    return dates if dates is not None else ("categorical", strings)


def _features(path: Path, table: Columns, features: list[str], forced: tuple[set[str], set[str]],
              missing: set[str], min_frequency: int,
              max_categories: int) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """x and meta of the feature columns; ``forced``: the columns named in categorical= and in text=."""
    categorical, text = forced
    numeric, codes, texts = {}, {}, {}  # feature name -> (n,) array; numeric: None for a number column
    meta = {"numeric_columns": [], "categorical_columns": [], "vocabularies": {}, "datetime_columns": {},
            "text_columns": []}
    for name in features:
        if name not in categorical and name not in text and is_number(table.types[name]):
            numeric[name] = None
            continue
        if name in text:
            texts[name] = text_values(path, name, distinct_strings(table.pop(name), missing))
            continue
        kind, values = _kind(table.pop(name), name in categorical, missing)
        if kind == "numeric":
            numeric[name] = values
        elif kind in ("date", "datetime"):
            derived = date_features(values, kind)
            clash = [f"{name}_{feature}" for feature in derived if f"{name}_{feature}" in {*numeric, *features}]
            if clash:
                raise DataError(f"{path}: date column {name!r} gives the features {clash}, which are also column "
                                "names; expected distinct names; rename one of them")
            numeric.update({f"{name}_{feature}": array for feature, array in derived.items()})
            meta["datetime_columns"][name] = kind
        elif name not in categorical and (found := looks_like_text(values)):
            log.info("%s: column %r reads as free text (%d distinct values in %d rows, median length %g "
                     "characters): a text input; categorical=[%r] gives it category codes", path, name, *found, name)
            texts[name] = text_values(path, name, values)
        else:
            meta["vocabularies"][name], codes[name] = vocabulary(values, min_frequency, max_categories)
    meta["numeric_columns"], meta["categorical_columns"] = list(numeric), list(codes)
    meta["text_columns"] = [name for name in features if name in texts]  # in column order
    x = {}
    if numeric:
        x["numeric"] = stack_floats(numeric, table)
    if codes:
        x["categorical"] = np.stack([codes.pop(name) for name in meta["categorical_columns"]], axis=1)  # (n, m)
    if texts:
        x["text"] = join_texts([texts.pop(name) for name in meta["text_columns"]])  # (n,) str
    return x, meta


def text_values(path: Path, name: str, strings: Strings, required: bool = True) -> np.ndarray:
    """``(n,)`` object array of a text column's str, ``""`` where missing.

    Raises:
        DataError: when ``required`` and every value is missing.
    """
    if required and not (strings.codes >= 0).any():
        raise DataError(f"{path}: text column {name!r} has no values (every cell is missing); expected some text; "
                        f"skip it with ignore=[{name!r}]")
    values = np.array([*strings.values.to_pylist(), ""], dtype=object)  # the last entry: what code -1 reads
    return values[strings.codes]


def join_texts(columns: list[np.ndarray]) -> np.ndarray:
    """One str per row: the rows' cells of ``columns`` joined with `TEXT_SEPARATOR`, in order."""
    return functools.reduce(lambda joined, column: joined + TEXT_SEPARATOR + column, columns)


def stack_floats(columns: dict[str, np.ndarray | None], table: Columns) -> np.ndarray:
    """``(n, k)`` float32 of k columns: arrays, or None for ``table``'s number column of that name.

    Built as ``(k, n)`` and returned transposed (Fortran order, each column one contiguous run);
    each pyarrow column is freed once copied, so the table and the result are not both held whole.
    """
    out = np.empty((len(columns), table.num_rows), np.float32)  # (k, n)
    for j, name in enumerate(list(columns)):
        values = columns.pop(name)
        if values is None:
            _fill_floats(out[j], table.pop(name))
            release_memory()
        else:
            out[j] = values
    return out.T  # (n, k)


def _fill_floats(row: np.ndarray, column: Any) -> None:
    """Copy a pyarrow number column into ``row``, chunk by chunk, nulls as NaN."""
    import pyarrow as pa
    import pyarrow.compute as pc

    offset = 0
    for chunk in column.chunks:
        if not pa.types.is_floating(chunk.type):
            chunk = pc.cast(chunk, pa.float64(), safe=False)  # ints, bools, decimals, nulls
        row[offset:offset + len(chunk)] = chunk.to_numpy(zero_copy_only=False)  # nulls -> NaN
        offset += len(chunk)


def _target(path: Path, table: Columns, name: str, missing: set[str], task: str | None,
            max_classes: int) -> tuple[np.ndarray, tuple[str, ...] | None]:
    """(y, class_names): classification for strings or few distinct integers, else regression."""
    import pyarrow as pa
    import pyarrow.compute as pc

    column = table.pop(name)
    strings = None
    if is_number(column.type):
        floats = np.empty(len(column), np.float64)
        _fill_floats(floats, column)
        absent = np.isnan(floats)
    else:
        strings = distinct_strings(column, missing)
        floats, absent = parse_floats(strings), strings.codes < 0
    if absent.any():
        first = table.where(int(np.argmax(absent)))
        raise DataError(f"{path}: target {name!r} is missing on {int(absent.sum())} rows (first on {first}); "
                        "expected a value on every row; drop or fill those rows")
    labels = None if floats is None else np.sort(pc.unique(pa.array(floats)).to_numpy())
    if task is None:
        integral = labels is not None and bool(np.all(np.mod(labels, 1) == 0))
        task = "regression" if labels is not None and not (integral and len(labels) <= max_classes) \
            else "classification"
    if task == "regression":
        if floats is None:
            raise DataError(f"{path}: target {name!r} has non-numeric values; expected numbers for "
                            "regression; pass task='classification'")
        return floats.astype(np.float32), None
    if floats is not None:  # numeric class labels: ordered by value, named as written
        names = tuple(str(int(v)) if float(v).is_integer() else str(float(v)) for v in labels)
        return np.searchsorted(labels, floats).astype(np.int64), names
    names, codes = vocabulary(strings, 1, len(strings.values) + 1)  # no cut for classes
    return codes - 1, names[1:]

"""Encode new rows of a table as `read_table` encoded the training table (``topnet predict``).

Columns are found by name, in any order; other columns (the target, ids) are ignored. Numeric
columns must hold numbers (a DataError names the line of the first that does not), date columns
dates; categorical values are coded with the training vocabularies. A value a vocabulary lacks
becomes ``"<other>"`` (code 1) when the vocabulary has it, else ``"<missing>"`` (code 0), and is
listed in ``meta["unseen_categories"]``. Text columns are joined into ``x["text"]`` as in
`read_table` (a missing cell is ``""``); the training run's vectorizer turns them into ids.

Example:
    >>> import tempfile, pathlib
    >>> from topnet.data.table import read_table
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "train.csv").write_text("city,price\\nLyon,1\\nLyon,2\\nNice,3\\n")
    >>> meta = read_table(folder / "train.csv", target="price", min_frequency=2).meta
    >>> meta["vocabularies"]["city"]
    ('<missing>', '<other>', 'Lyon')
    >>> _ = (folder / "new.csv").write_text("city\\nLyon\\nParis\\n\\n")
    >>> new = encode_table(folder / "new.csv", meta)
    >>> new.x["categorical"][:, 0].tolist(), new.meta["unseen_categories"]
    ([2, 1], {'city': ['Paris']})
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from topnet.data.dataset import Dataset
from topnet.data.table import join_texts, stack_floats, table_format, text_values
from topnet.data.table_features import (
    DATE_FEATURES,
    DATETIME_FEATURES,
    MISSING_VALUES,
    OTHER,
    Strings,
    date_features,
    distinct_strings,
    is_number,
    parse_dates,
    parse_floats,
)
from topnet.data.table_read import Columns, read_columns, read_header, require_pyarrow
from topnet.errors import DataError

__all__ = ["encode_file", "encode_table"]


def encode_table(path: str | os.PathLike, meta: dict, *, delimiter: str | None = None,
                 missing_values: Sequence[str] = MISSING_VALUES) -> Dataset:
    """Read new rows of a ``.csv``, ``.tsv`` or ``.parquet`` file, encoded as ``meta``'s training table.

    Args:
        path: the file; its suffix picks the format, as in `read_table`.
        meta: ``numeric_columns``, ``categorical_columns``, ``vocabularies``, (for date
            columns) ``datetime_columns`` and (for text columns) ``text_columns``: `read_table`'s
            ``Dataset.meta``, or a run's ``dataset.json["csv"]``.
        delimiter / missing_values: as in `read_table`.

    Returns:
        A `Dataset` without targets; ``x`` as `read_table` gives it; ``meta`` adds
        ``ignored_columns`` (header names not used) and ``unseen_categories``
        (``{column: [values the vocabulary lacks]}``).

    Raises:
        DataError: a column of ``meta`` missing from the file (naming them all), a non-numeric
            value in a numeric column or a non-date in a date column (naming its line), or what
            `read_table` rejects.
    """
    path = Path(path).expanduser()
    fmt, delimiter = table_format(path, delimiter)
    return encode_file(path, fmt, delimiter, meta, missing_values)


def _sources(meta: dict) -> tuple[list[str], dict[str, str]]:
    """The file columns the numeric features come from, and each date feature's column."""
    derived = {f"{column}_{feature}": column for column, kind in meta.get("datetime_columns", {}).items()
               for feature in (DATETIME_FEATURES if kind == "datetime" else DATE_FEATURES)}
    return list(dict.fromkeys(derived.get(name, name) for name in meta.get("numeric_columns", []))), derived


def encode_file(path: Path, fmt: str, delimiter: str, meta: dict, missing_values: Sequence[str]) -> Dataset:
    """`encode_table` once the format is known (`encode_csv` calls it with ``fmt="csv"``)."""
    require_pyarrow()
    numeric_columns = list(meta.get("numeric_columns", []))
    categorical_columns = list(meta.get("categorical_columns", []))
    text_columns = list(meta.get("text_columns", []))
    if not numeric_columns and not categorical_columns and not text_columns:
        raise DataError(f"meta: got keys {sorted(meta)}; expected numeric_columns, categorical_columns and/or "
                        "text_columns, as in read_table's Dataset.meta")
    sources, derived = _sources(meta)
    wanted = sources + categorical_columns + text_columns
    header = read_header(path, fmt, delimiter)
    absent = [name for name in wanted if name not in header]
    if absent:
        raise DataError(f"{path}: got no column {absent}; expected every feature column the model was trained "
                        f"on: {wanted}; add them (an empty cell reads as a missing value)")
    dates = meta.get("datetime_columns", {})
    table = read_columns(path, fmt, delimiter, header, wanted, strings=categorical_columns + text_columns,
                         floats=[name for name in sources if name not in dates], missing_values=missing_values)
    missing = {value.lower() for value in missing_values}
    features = {}
    for name, kind in dates.items():
        features.update({f"{name}_{feature}": values for feature, values in
                         date_features(_dates(path, table, name, missing), kind).items()})
    numeric = {name: features[name] if name in derived else _floats(path, table, name, missing)
               for name in numeric_columns}
    x, unseen = {}, {}
    if numeric:
        x["numeric"] = stack_floats(numeric, table)  # (n, k)
    if categorical_columns:
        codes = []
        for name in categorical_columns:
            column_codes, new = _categories(table.pop(name), meta["vocabularies"][name], missing)
            codes.append(column_codes)
            if new:
                unseen[name] = new
        x["categorical"] = np.stack(codes, axis=1)  # (n, m)
    if text_columns:
        x["text"] = join_texts([text_values(path, name, distinct_strings(table.pop(name), missing), required=False)
                                for name in text_columns])  # (n,) str
    extra = {"ignored_columns": [name for name in header if name not in wanted], "unseen_categories": unseen}
    return Dataset(x=x, y=None, name=path.stem, meta={**meta, **extra})


def _floats(path: Path, table: Columns, name: str, missing: set[str]) -> np.ndarray | None:
    """A numeric column: None (read when stacked) when typed as numbers, else its strings parsed."""
    import pyarrow as pa

    if is_number(table.types[name]):
        return None
    strings = distinct_strings(table.pop(name), missing)
    floats = parse_floats(strings)
    if floats is None:
        row, text = _first_unparsable(strings, pa.float64())
        raise DataError(f"{path}, {table.where(row)}: column {name!r}: got {text!r}; expected a number (the column "
                        "was numeric when the model was trained) or an empty cell for a missing value")
    return floats


def _dates(path: Path, table: Columns, name: str, missing: set[str]) -> Any:
    """A date column as a pyarrow date or timestamp column."""
    import pyarrow as pa

    column = table.pop(name)
    if pa.types.is_date(column.type) or pa.types.is_timestamp(column.type):
        return column
    strings = distinct_strings(column, missing)
    dates = parse_dates(strings)
    if dates is None:
        if not (strings.codes >= 0).any():  # every value missing
            return pa.nulls(len(column), pa.date32())
        row, text = _first_unparsable(strings, pa.timestamp("us"))
        raise DataError(f"{path}, {table.where(row)}: column {name!r}: got {text!r}; expected an ISO 8601 date "
                        "like 2024-05-31 or 2024-05-31 14:05:00 (the column held dates when the model was trained) "
                        "or an empty cell for a missing value")
    return dates[1]


def _first_unparsable(strings: Strings, type_: Any) -> tuple[int, str]:
    """The first row whose value does not cast to ``type_``, and that value (bisecting on prefixes)."""
    import pyarrow as pa

    used = np.flatnonzero(strings.counts() > 0)  # in order of first appearance
    values = strings.values.take(used)
    good, bad = 0, len(values)  # values[:good] all cast; values[:bad] does not
    while bad - good > 1:
        middle = (good + bad) // 2
        try:
            values.slice(0, middle).cast(type_)
            good = middle
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            bad = middle
    return int(np.argmax(strings.codes == used[good])), values[good].as_py()


def _categories(column: Any, vocabulary: Sequence[str], missing: set[str]) -> tuple[np.ndarray, list[str]]:
    """``(n,)`` int64 codes in ``vocabulary`` and the sorted values it lacks."""
    import pyarrow as pa
    import pyarrow.compute as pc

    strings = distinct_strings(column, missing)
    other = 1 if len(vocabulary) > 1 and vocabulary[1] == OTHER else 0
    start = 1 + other  # first code of a real value
    position = pc.index_in(strings.values, value_set=pa.array(list(vocabulary[start:]), pa.string()))
    position = pc.fill_null(position, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    table = np.append(np.where(position >= 0, position + start, other), 0)  # last: code -1, missing
    new = np.flatnonzero((position < 0) & (strings.counts() > 0))
    return table[strings.codes], sorted(strings.values.take(new).to_pylist())

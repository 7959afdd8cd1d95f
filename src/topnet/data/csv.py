"""Read a table from a CSV file into numeric and categorical inputs and a target.

A column is numeric when every non-missing value parses as a float; every other column is
categorical (or, for ISO dates, date features; for free text, text). Numeric features become
``x["numeric"]`` (float32, NaN where missing); categorical ones become ``x["categorical"]``
(int64 codes, 0 meaning ``"<missing>"``); text ones ``x["text"]`` (one str per row). Column names and the vocabulary of every categorical column are kept in
``Dataset.meta`` so that new data can be encoded the same way: ``encode_csv(path, meta)`` does
that (``topnet predict``). Both are `read_table` and `encode_table` for a delimited text file of
any name; the reading is pyarrow's, multi-threaded (``pip install 'topnet[tables]'``).

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

import os
from collections.abc import Sequence
from pathlib import Path

from topnet.data.dataset import Dataset
from topnet.data.table import read_file
from topnet.data.table_encode import encode_file
from topnet.data.table_features import MISSING, MISSING_VALUES, OTHER

__all__ = ["MISSING", "MISSING_VALUES", "OTHER", "encode_csv", "read_csv"]


def read_csv(path: str | os.PathLike, target: str | Sequence[str], *, delimiter: str = ",",
             categorical: Sequence[str] = (), ignore: Sequence[str] = (), task: str | None = None,
             max_classes: int = 20, missing_values: Sequence[str] = MISSING_VALUES, min_frequency: int = 1,
             max_categories: int = 1000, text: Sequence[str] = ()) -> Dataset:
    """Read a CSV file with a header row into a `Dataset` of numeric, categorical and text inputs.

    Args:
        path: the CSV file (UTF-8, with or without a BOM; quoted fields allowed).
        target: the target column, or several (then ``y`` is a dict keyed by column name).
        delimiter: the field separator.
        categorical: columns to treat as categorical even though they parse as numbers (zip
            codes) or read as free text.
        ignore: columns to skip (ids).
        task: ``"classification"``, ``"regression"`` or None to decide from the target: strings or
            at most ``max_classes`` distinct integers mean classification.
        max_classes: most distinct integer values a target may have to count as class labels.
        missing_values: cell values (case-insensitive) read as missing.
        min_frequency / max_categories: the cut of rare categorical values to ``"<other>"``, as in
            `read_table`.
        text: columns to read as text even though they do not look like free text; columns
            that do are text anyway (`read_table` explains both).

    Returns:
        A `Dataset` whose ``x`` has ``"numeric"`` (float32 ``(n, k)``), ``"categorical"``
        (int64 ``(n, m)``) and/or ``"text"`` (object ``(n,)``, a row's text cells joined);
        ``meta`` holds ``numeric_columns``, ``categorical_columns``, ``vocabularies``,
        ``datetime_columns``, ``text_columns``, ``target`` and, for several targets,
        ``class_names`` per target.

    Raises:
        DataError: for an empty file, a ragged row (naming its line), a missing target column
            (listing the columns), missing target values, a text column with no value at all,
            or no feature columns.
        ImportError: when pyarrow is not installed.
    """
    return read_file(Path(path).expanduser(), "csv", delimiter, target, categorical=categorical, ignore=ignore,
                     task=task, max_classes=max_classes, missing_values=missing_values,
                     min_frequency=min_frequency, max_categories=max_categories, text=text)


def encode_csv(path: str | os.PathLike, meta: dict, *, delimiter: str = ",",
               missing_values: Sequence[str] = MISSING_VALUES) -> Dataset:
    """Read new rows of a CSV file, encoded as the `read_csv` that gave ``meta`` encoded its table.

    Columns are found by name (in any order); other columns (the target, ids) are ignored.
    Categorical values are coded with the training vocabularies; a value the vocabulary lacks
    becomes ``"<other>"`` when the vocabulary has it (rare values were cut), else code 0,
    ``"<missing>"``, as a missing one does.

    Args:
        path: the CSV file, with a header row.
        meta: ``numeric_columns``, ``categorical_columns``, ``vocabularies`` and
            ``datetime_columns`` (``read_csv``'s ``Dataset.meta``, or a run's ``dataset.json["csv"]``).
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
    return encode_file(Path(path).expanduser(), "csv", delimiter, meta, missing_values)

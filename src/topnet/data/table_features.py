"""Column conversions behind `read_table`: strings to numbers, dates to features, values to codes.

Every string column is first reduced to its distinct values (trimmed, in order of first
appearance) and one code per row, so each rule below runs on the few distinct values, not on
the rows:

* numeric: every non-missing value parses as a float (pyarrow's parser: ``" 1.5 "``, ``"1e3"``,
  ``"inf"`` do; unlike Python's ``float``, ``"1_000"`` and non-ASCII digits do not).
* date / datetime: every non-missing value is an ISO 8601 date (``YYYY-MM-DD``), or a date and
  time (``YYYY-MM-DD HH:MM[:SS[.ffffff]]``, ``T`` or space between). Features: see `DATE_FEATURES`.
* free text: a text input (`looks_like_text`); everything else is categorical, cut by `vocabulary`.

Example:
    >>> import pyarrow as pa
    >>> strings = distinct_strings(pa.chunked_array([[" 2", "NA", "2", "10"]]), {"na"})
    >>> strings.values.to_pylist(), strings.codes.tolist(), parse_floats(strings).tolist()
    (['2', 'NA', '10'], [0, -1, 0, 2], [2.0, nan, 2.0, 10.0])
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "DATETIME_FEATURES",
    "DATE_FEATURES",
    "MISSING",
    "MISSING_VALUES",
    "OTHER",
    "Strings",
    "date_features",
    "distinct_strings",
    "is_number",
    "looks_like_text",
    "parse_dates",
    "parse_floats",
    "vocabulary",
]

MISSING = "<missing>"
OTHER = "<other>"
MISSING_VALUES = ("", "na", "n/a", "nan", "null", "none", "?")
DATE_FEATURES = ("year", "month", "day", "dayofweek")  # dayofweek: Monday = 0 ... Sunday = 6
DATETIME_FEATURES = (*DATE_FEATURES, "hour", "seconds")  # seconds since 1970-01-01 00:00 UTC
TEXT_MIN_DISTINCT_RATIO = 0.5  # more distinct values than half the non-missing rows ...
TEXT_MIN_MEDIAN_LENGTH = 30  # ... a median length over 30 characters ...
TEXT_MIN_SPACED_RATIO = 0.5  # ... and spaces in more than half of them: free text


def is_number(type_: Any) -> bool:
    """Whether a pyarrow type holds numbers (booleans and all-null columns included)."""
    import pyarrow as pa

    return (pa.types.is_integer(type_) or pa.types.is_floating(type_) or pa.types.is_boolean(type_)
            or pa.types.is_decimal(type_) or pa.types.is_null(type_))


@dataclass(frozen=True)
class Strings:
    """A column as its distinct trimmed values and one code per row into them.

    Attributes:
        values: pyarrow string array ``(d,)``, distinct trimmed values in order of first
            appearance; it may hold missing-value spellings, which no row code points at.
        codes: ``(n,)`` int64 index into ``values`` per row; -1 where the value is missing.
    """

    values: Any
    codes: np.ndarray

    def counts(self) -> np.ndarray:
        """``(d,)`` how many rows hold each value."""
        return np.bincount(self.codes[self.codes >= 0], minlength=len(self.values))


def distinct_strings(column: Any, missing: set[str]) -> Strings:
    """`Strings` of a pyarrow (chunked) string, dictionary or other column; ``missing`` lower-case."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not pa.types.is_dictionary(column.type):
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            column = pc.cast(column, pa.string())  # numbers or dates where strings were expected
        column = pc.dictionary_encode(column)
    column = column.unify_dictionaries()  # one dictionary, extended chunk by chunk: first appearance order
    dictionary = pc.cast(column.chunk(0).dictionary, pa.string())
    indices = np.concatenate([pc.fill_null(chunk.indices, -1).to_numpy() for chunk in column.chunks])
    grouped = pc.dictionary_encode(pc.utf8_trim_whitespace(dictionary))  # " Paris" and "Paris" are one value
    values = grouped.dictionary
    present = ~pc.is_in(pc.utf8_lower(values), value_set=pa.array(sorted(missing), pa.string())).to_numpy(
        zero_copy_only=False)
    group = grouped.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    lookup = np.append(np.where(present[group], group, -1), -1)  # raw dictionary index -> value; -1: missing
    return Strings(values=values, codes=lookup[indices])


def _present(strings: Strings) -> tuple[np.ndarray, Any]:
    """Indices of the values some row holds, and those values."""
    used = np.flatnonzero(strings.counts() > 0)
    return used, strings.values.take(used)


def parse_floats(strings: Strings) -> np.ndarray | None:
    """``(n,)`` float64, NaN where missing, or None when some value is not a number."""
    import pyarrow as pa
    import pyarrow.compute as pc

    used, values = _present(strings)
    try:
        parsed = pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    table = np.full(len(strings.values) + 1, np.nan)  # the extra last entry is what code -1 reads
    table[used] = parsed
    return table[strings.codes]


def parse_dates(strings: Strings) -> tuple[str, Any] | None:
    """``("date" | "datetime", pyarrow array (n,) with nulls)``, or None when some value is no ISO date."""
    import pyarrow as pa

    used, values = _present(strings)
    if not len(values):
        return None
    for kind, type_ in (("date", pa.date32()), ("datetime", pa.timestamp("us"))):
        try:
            parsed = values.cast(type_)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
        positions = np.full(len(strings.values) + 1, len(used))  # missing rows read the appended null
        positions[used] = np.arange(len(used))
        return kind, pa.concat_arrays([parsed, pa.nulls(1, type_)]).take(pa.array(positions[strings.codes]))
    return None


def date_features(column: Any, kind: str) -> dict[str, np.ndarray]:
    """Numeric features of a pyarrow date or timestamp column: `DATE_FEATURES`, for datetimes `DATETIME_FEATURES`.

    Each is ``(n,)`` float32 with NaN where the date is missing. Timestamps with a time zone give
    the local calendar fields of that zone and seconds since the epoch in UTC.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if kind == "datetime" and not pa.types.is_timestamp(column.type):
        column = column.cast(pa.timestamp("s"))  # a date read where datetimes were trained: midnight
    fields = {"year": pc.year, "month": pc.month, "day": pc.day, "dayofweek": pc.day_of_week, "hour": pc.hour}
    names = DATETIME_FEATURES if kind == "datetime" else DATE_FEATURES
    out = {name: _float32(fields[name](column)) for name in names if name in fields}
    if kind == "datetime":
        per_second = {"s": 1, "ms": 1e3, "us": 1e6, "ns": 1e9}[column.type.unit]
        out["seconds"] = (_float64(column.cast(pa.int64())) / per_second).astype(np.float32)
    return out


def _float64(column: Any) -> np.ndarray:
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.fill_null(pc.cast(column, pa.float64(), safe=False), np.nan).to_numpy()


def _float32(column: Any) -> np.ndarray:
    return _float64(column).astype(np.float32)


def vocabulary(strings: Strings, min_frequency: int, max_categories: int) -> tuple[tuple[str, ...], np.ndarray]:
    """The vocabulary and ``(n,)`` int64 codes of a categorical column, rare values cut to ``"<other>"``.

    Values seen fewer than ``min_frequency`` times are cut; of the rest, at most
    ``max_categories`` of the most frequent are kept, and a cut never splits values seen equally
    often (an ID column, every value once, keeps none). The vocabulary is ``("<missing>",
    *sorted kept)``, with ``"<other>"`` (code 1) after ``"<missing>"`` only when something was cut.
    """
    counts = strings.counts()
    keep = counts >= max(min_frequency, 1)
    if keep.sum() > max_categories:
        first_left_out = np.sort(counts[keep])[::-1][max_categories]
        keep &= counts > first_left_out
    kept = np.flatnonzero(keep)
    order = kept[np.asarray(strings.values.take(kept).to_pylist(), dtype=object).argsort(kind="stable")] \
        if len(kept) else kept
    cut = bool(((counts > 0) & ~keep).any())
    specials = (MISSING, OTHER) if cut else (MISSING,)
    table = np.full(len(strings.values) + 1, 1 if cut else 0, np.int64)  # cut values -> "<other>"
    table[-1] = 0  # code -1 (missing) -> "<missing>"
    table[order] = np.arange(len(specials), len(specials) + len(order))
    return (*specials, *strings.values.take(order).to_pylist()), table[strings.codes]


def looks_like_text(strings: Strings) -> tuple[int, int, float] | None:
    """``(distinct, rows, median length)`` when the column reads as free text, else None.

    Free text: more than half the non-missing rows hold distinct values, the distinct values'
    median length exceeds 30 characters and more than half of them contain a space.
    """
    import pyarrow.compute as pc

    used, values = _present(strings)
    rows = int((strings.codes >= 0).sum())
    if not len(used) or len(used) <= TEXT_MIN_DISTINCT_RATIO * rows:
        return None
    median = float(np.median(pc.utf8_length(values).to_numpy()))
    spaced = float(np.mean(pc.match_substring(values, " ").to_numpy(zero_copy_only=False)))
    if median > TEXT_MIN_MEDIAN_LENGTH and spaced > TEXT_MIN_SPACED_RATIO:
        return len(used), rows, median
    return None

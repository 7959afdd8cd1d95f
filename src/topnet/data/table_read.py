"""Read a CSV or Parquet file into pyarrow columns for `read_table`, with errors that name lines.

CSV: the header is read with the standard library (an empty file, duplicate names), the first
block (1 MiB) is read to infer each column's type, then the whole file is read, multi-threaded,
with those types fixed: numbers straight to float32, dates as dates, everything else
dictionary-encoded strings. Fixing the types keeps the peak memory near the final arrays
(pyarrow's own inference holds a multiple of the table; docs/measured-defaults.md). A column the
first block got wrong (a word on row 900 000 of a number column) is read again as strings. Blank
lines are skipped, a UTF-8 BOM dropped. Errors that need a line number (a ragged row, a missing
target value) rescan the file with the standard library, on the error path only.

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = path.write_text("a,b\\n1,x\\n\\n2,y\\n")
    >>> table = read_columns(path, "csv", ",", read_header(path, "csv", ","), ["a", "b"])
    >>> str(table.types["a"]), table.num_rows, table.where(1)
    ('float', 2, 'line 4')
"""
from __future__ import annotations

import csv
import itertools
import mmap
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from topnet.data.table_features import MISSING_VALUES
from topnet.errors import DataError, format_message

__all__ = ["Columns", "require_pyarrow", "read_header", "read_columns", "release_memory"]

SNIFF_BYTES = 1 << 20
_NOT_UTF8 = re.compile("[\udc80-\udcff]")  # what errors="surrogateescape" makes of bytes that are not UTF-8


class Columns:
    """The columns of a file, taken one at a time so that each can be freed once converted.

    Attributes:
        types: name -> pyarrow type of each column read.
        num_rows: the number of data rows.
        where: row index -> ``"line 12"`` in a CSV file (the line the row ends on) or ``"row 11"``
            (1-based) in Parquet, for messages.
    """

    def __init__(self, types: dict[str, Any], num_rows: int, where: Callable[[int], str],
                 take: Callable[[str], Any]) -> None:
        self.types, self.num_rows, self.where, self._take = types, num_rows, where, take

    def pop(self, name: str) -> Any:
        """The pyarrow ChunkedArray of column ``name``, which this object no longer holds."""
        return self._take(name)


def require_pyarrow() -> None:
    """Raise ImportError with the install command when pyarrow is missing."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise ImportError("reading tables needs pyarrow, which is not installed; "
                          "install it with: pip install 'topnet[tables]'") from None


def read_header(path: Path, fmt: str, delimiter: str) -> list[str]:
    """The column names (stripped); DataError for an empty file or duplicate names."""
    if fmt == "parquet":
        header = _parquet_header(path)
    elif not isinstance(delimiter, str) or len(delimiter) != 1:
        raise ValueError(format_message("delimiter", delimiter, "one character", "e.g. delimiter=';'"))
    else:
        try:  # utf-8-sig drops a BOM; surrogateescape defers bytes that are not UTF-8 to the check below
            with open(path, newline="", encoding="utf-8-sig", errors="surrogateescape") as file:
                header = next(csv.reader(file, delimiter=delimiter), None)
        except csv.Error as error:
            raise DataError(f"{path}: cannot parse as CSV ({error})") from None
        if header is None:
            raise DataError(f"{path}: file is empty; expected a header row of column names")
        header = [name.strip() for name in header]
        if any(_NOT_UTF8.search(name) for name in header):
            raise DataError(f"{path}: cannot parse as UTF-8 CSV (header {header!r}); expected a UTF-8 file; "
                            "re-save it as UTF-8 (e.g. iconv -f latin1 -t utf-8 in.csv > out.csv)")
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise DataError(f"{path}: duplicate column names {duplicates}; expected unique names")
    return header


def _parquet_header(path: Path) -> list[str]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if path.stat().st_size == 0:
        raise DataError(f"{path}: file is empty; expected a Parquet file")
    try:
        return list(pq.read_schema(path).names)
    except (pa.ArrowInvalid, OSError) as error:
        raise DataError(f"{path}: cannot read as Parquet ({error})") from None


def read_columns(path: Path, fmt: str, delimiter: str, header: list[str], include: Sequence[str], *,
                 strings: Sequence[str] = (), floats: Sequence[str] = (), exact: Sequence[str] = (),
                 missing_values: Sequence[str] = MISSING_VALUES) -> Columns:
    """The ``include`` columns; DataError when there is no data row.

    ``strings`` / ``floats`` force a CSV column's type (numbers that are categories; columns that
    must be numeric); ``exact`` columns (targets) are read as float64, not float32, when numeric.
    A CSV file is read at once; a Parquet file column by column, as each is popped.
    """
    if fmt == "parquet":
        columns = _parquet_columns(path, include)
    else:
        table = _read_csv(path, delimiter, header, include, strings, floats, exact, missing_values)
        columns = Columns({name: table[name].type for name in include}, len(table[include[0]]) if include else 0,
                          lambda row: f"line {_line_of(path, delimiter, row)}", table.pop)
    if not columns.num_rows:
        raise DataError(f"{path}: no data rows after the header; expected at least one")
    return columns


def release_memory() -> None:
    """Hand memory pyarrow's pool holds but no longer uses back to the system (cheap next to a read)."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()


def _parquet_columns(path: Path, include: Sequence[str]) -> Columns:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
        types = {name: schema.field(name).type for name in include}
        text = [name for name, type_ in types.items() if pa.types.is_string(type_) or pa.types.is_large_string(type_)]
        file = pq.ParquetFile(path, read_dictionary=text)  # strings arrive dictionary-encoded
    except (pa.ArrowInvalid, OSError) as error:
        raise DataError(f"{path}: cannot read as Parquet ({error})") from None

    def take(name: str) -> Any:
        try:
            return file.read(columns=[name], use_threads=True).column(0)
        except (pa.ArrowInvalid, OSError) as error:
            raise DataError(f"{path}: cannot read column {name!r} as Parquet ({error})") from None

    return Columns(types, file.metadata.num_rows, lambda row: f"row {row + 1}", take)


def _spellings(values: Sequence[str]) -> list[str]:
    """Every upper/lower-case spelling of each missing value (pyarrow matches null values exactly)."""
    out = set()
    for value in values:
        lower = value.lower()
        if len(lower) <= 8:
            out.update(map("".join, itertools.product(*({c, c.upper()} for c in lower))))
        else:
            out.update({value, lower, lower.upper(), lower.title()})
    return sorted(out)


def _read_csv(path: Path, delimiter: str, header: list[str], include: Sequence[str], strings: Sequence[str],
              floats: Sequence[str], exact: Sequence[str], missing_values: Sequence[str]) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    as_strings = pa.dictionary(pa.int32(), pa.string())
    parse = pcsv.ParseOptions(delimiter=delimiter, newlines_in_values=_has_quotes(path),
                              invalid_row_handler=_skip_blank)
    convert = dict(include_columns=list(include), null_values=_spellings(missing_values), true_values=[],
                   false_values=[], strings_can_be_null=False)
    read = dict(column_names=header, skip_rows=1)
    try:
        sniffed = pcsv.open_csv(path, read_options=pcsv.ReadOptions(**read, use_threads=False, block_size=SNIFF_BYTES),
                                parse_options=parse, convert_options=pcsv.ConvertOptions(**convert))
        types = {field.name: _fixed_type(field.type, as_strings) for field in sniffed.schema}
        del sniffed
        types.update({name: pa.float64() for name in exact if types[name] == pa.float32()})
        types.update({**{name: as_strings for name in strings}, **{name: pa.float32() for name in floats}})
        while True:  # a column typed wrongly from the first block is read again as strings
            try:
                table = pcsv.read_csv(path, read_options=pcsv.ReadOptions(**read, use_threads=True),
                                      parse_options=parse, convert_options=pcsv.ConvertOptions(**convert,
                                                                                             column_types=types))
                columns = {name: table.column(name) for name in include}
                del table
                release_memory()  # the parse buffers: a sizeable part of the table, no longer needed
                return columns
            except pa.ArrowInvalid as error:
                name = _failed_column(error, header)
                if name is None or types.get(name) == as_strings:
                    raise
                types[name] = as_strings
    except pa.ArrowInvalid as error:
        raise _csv_error(error, path, delimiter, header) from None


def _has_quotes(path: Path) -> bool:
    """Whether the file holds a double quote: only then can a value span lines (pyarrow splits the file
    into blocks faster when none can)."""
    with open(path, "rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
        return data.find(b'"') >= 0


def _fixed_type(type_: Any, as_strings: Any) -> Any:
    import pyarrow as pa

    if pa.types.is_integer(type_) or pa.types.is_floating(type_):
        return pa.float32()
    if pa.types.is_date(type_) or pa.types.is_timestamp(type_):
        return type_
    return as_strings  # strings, times of day, and columns empty in the first block


def _skip_blank(row: Any) -> str:
    """pyarrow's invalid-row handler: skip a line of one blank field (spaces, ``""``), stop on other ragged rows."""
    return "skip" if row.actual_columns == 1 and not row.text.strip().strip('"').strip() else "error"


def _failed_column(error: Exception, header: list[str]) -> str | None:
    """The column a pyarrow conversion error names ("In CSV column #3: ... error to float"), if any."""
    match = re.match(r"In CSV column #(\d+): (Row #\d+: )?CSV conversion error to (?!string)", str(error))
    return header[int(match.group(1))] if match and int(match.group(1)) < len(header) else None


def _csv_error(error: Exception, path: Path, delimiter: str, header: list[str]) -> DataError:
    text = str(error)
    if "Expected" in text and "columns, got" in text:
        found = next(((line, row) for line, row in _records(path, delimiter) if len(row) != len(header)), None)
        if found:
            return DataError(f"{path}, line {found[0]}: got {len(found[1])} fields; expected {len(header)} "
                             "(one per header column); fix or remove that row")
    match = re.match(r"In CSV column #(\d+): .*invalid UTF8", text)
    if match and int(match.group(1)) < len(header):
        return DataError(f"{path}: column {header[int(match.group(1))]!r} is not UTF-8 text; expected a UTF-8 "
                         "file; re-save it as UTF-8 (e.g. iconv -f latin1 -t utf-8 in.csv > out.csv)")
    return DataError(f"{path}: cannot parse as CSV ({text})")


def _records(path: Path, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of each data row as the standard library reads it, blank lines skipped."""
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as file:
        reader = csv.reader(file, delimiter=delimiter)
        width = len(next(reader, []))
        try:
            for row in reader:
                if row and not (len(row) == 1 < width and not row[0].strip()):
                    yield reader.line_num, row
        except csv.Error:
            return


def _line_of(path: Path, delimiter: str, row: int) -> int | str:
    """The line data row ``row`` (0-based) ends on; ``"?"`` if the file cannot be rescanned."""
    found = next(itertools.islice(_records(path, delimiter), row, None), None)
    return found[0] if found else "?"

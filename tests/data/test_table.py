"""Tests for topnet.data.table: CSV, TSV and Parquet through pyarrow, checked against pandas or by hand."""
from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

from topnet.data.csv import MISSING, OTHER, read_csv
from topnet.data.table import read_table
from topnet.data.table_encode import encode_table
from topnet.errors import DataError


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 60
    frame = pd.DataFrame({"size": np.round(rng.normal(size=n), 3), "rooms": rng.integers(1, 6, n),
                          "city": rng.choice(["Lyon", "Paris", "Nice"], n), "price": np.round(rng.random(n), 2)})
    frame.loc[[3, 7], "size"] = np.nan
    frame.loc[[5], "city"] = None
    return frame


def _codes(values: pd.Series) -> tuple[list[int], tuple[str, ...]]:
    """Codes and vocabulary as read_table documents them, computed by hand."""
    vocabulary = (MISSING, *sorted(values.dropna().unique()))
    return [0 if pd.isna(v) else vocabulary.index(v) for v in values], vocabulary


def test_csv_and_parquet_of_one_table_read_alike_and_as_pandas_does(tmp_path):
    frame = _frame()
    frame.to_csv(tmp_path / "t.csv", index=False)
    frame.to_parquet(tmp_path / "t.parquet", index=False)
    csv, parquet = read_table(tmp_path / "t.csv", target="price"), read_table(tmp_path / "t.parquet", target="price")
    reference = frame[["size", "rooms"]].to_numpy(np.float32)
    codes, vocabulary = _codes(frame["city"])
    for data in (csv, parquet):
        np.testing.assert_array_equal(data.x["numeric"], reference)  # NaN where missing, in both
        assert data.x["categorical"][:, 0].tolist() == codes and data.meta["vocabularies"]["city"] == vocabulary
        np.testing.assert_array_equal(data.y, frame["price"].to_numpy(np.float32))
        assert data.meta["numeric_columns"] == ["size", "rooms"] and data.meta["datetime_columns"] == {}


def test_tsv_reads_as_the_csv(tmp_path):
    frame = _frame()
    frame.to_csv(tmp_path / "t.csv", index=False)
    frame.to_csv(tmp_path / "t.tsv", index=False, sep="\t")
    csv, tsv = read_table(tmp_path / "t.csv", target="price"), read_table(tmp_path / "t.tsv", target="price")
    np.testing.assert_array_equal(csv.x["numeric"], tsv.x["numeric"])
    np.testing.assert_array_equal(csv.x["categorical"], tsv.x["categorical"])


def _date_frame() -> pd.DataFrame:
    return pd.DataFrame({"when": pd.to_datetime(["2024-05-31 14:05:00", None, "1999-12-31 23:59:59"]),
                         "day": pd.to_datetime(["2024-02-29", "2023-01-01", None]),
                         "y": [0.5, 1.5, 2.5]})


def _date_reference(frame: pd.DataFrame) -> np.ndarray:
    when, day = frame["when"].dt, frame["day"].dt
    seconds = (frame["when"] - pd.Timestamp("1970-01-01")).dt.total_seconds()
    columns = [when.year, when.month, when.day, when.day_of_week, when.hour, seconds,
               day.year, day.month, day.day, day.day_of_week]
    return np.stack([c.to_numpy(np.float64) for c in columns], axis=1).astype(np.float32)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_dates_become_calendar_features_and_encode_alike(tmp_path, suffix):
    frame = _date_frame()
    path = tmp_path / f"d{suffix}"
    if suffix == ".csv":
        frame.assign(day=frame["day"].dt.strftime("%Y-%m-%d")).to_csv(path, index=False)
    else:
        frame.assign(day=frame["day"].dt.date).to_parquet(path, index=False)  # date32 and timestamp columns
    data = read_table(path, target="y")
    assert data.meta["datetime_columns"] == {"when": "datetime", "day": "date"}
    assert data.meta["numeric_columns"] == ["when_year", "when_month", "when_day", "when_dayofweek", "when_hour",
                                            "when_seconds", "day_year", "day_month", "day_day", "day_dayofweek"]
    np.testing.assert_array_equal(data.x["numeric"], _date_reference(frame))
    np.testing.assert_array_equal(encode_table(path, data.meta).x["numeric"], data.x["numeric"])


def test_a_non_date_where_dates_were_trained_names_its_line(tmp_path):
    _date_frame().to_csv(tmp_path / "d.csv", index=False)
    meta = read_table(tmp_path / "d.csv", target="y").meta
    (tmp_path / "new.csv").write_text("when,day\n2024-01-01,2024-01-02\n2024-01-01,soon\n")
    with pytest.raises(DataError, match=r"line 3: column 'day': got 'soon'; expected an ISO 8601 date"):
        encode_table(tmp_path / "new.csv", meta)


def test_rare_values_share_other_and_unseen_values_encode_to_it(tmp_path):
    cities = ["Lyon"] * 3 + ["Paris"] * 2 + ["Nice", "Metz", None]
    frame = pd.DataFrame({"city": cities, "id": [f"u{i}" for i in range(8)], "y": range(8)})
    frame.to_csv(tmp_path / "t.csv", index=False)
    data = read_table(tmp_path / "t.csv", target="y", min_frequency=2)
    assert data.meta["vocabularies"]["city"] == (MISSING, OTHER, "Lyon", "Paris")
    assert data.x["categorical"][:, 0].tolist() == [2, 2, 2, 3, 3, 1, 1, 0]
    assert data.meta["vocabularies"]["id"] == (MISSING, OTHER)  # an ID column: every value once, all cut
    assert set(data.x["categorical"][:, 1].tolist()) == {1}
    top = read_table(tmp_path / "t.csv", target="y", max_categories=1)  # Lyon (3) kept; a tie is never split
    assert top.meta["vocabularies"]["city"] == (MISSING, OTHER, "Lyon")
    (tmp_path / "new.csv").write_text("city,id\nParis,u1\nNice,u99\nRome,\n")
    new = encode_table(tmp_path / "new.csv", data.meta)
    assert new.x["categorical"].tolist() == [[3, 1], [1, 1], [1, 0]]
    assert new.meta["unseen_categories"] == {"city": ["Nice", "Rome"], "id": ["u1", "u99"]}


def test_without_a_cut_unseen_values_encode_to_missing(tmp_path):
    (tmp_path / "t.csv").write_text("city,y\nLyon,1\nParis,2\n")
    meta = read_table(tmp_path / "t.csv", target="y").meta
    pd.DataFrame({"city": ["Rome", "Paris", None]}).to_parquet(tmp_path / "new.parquet")
    assert encode_table(tmp_path / "new.parquet", meta).x["categorical"][:, 0].tolist() == [0, 2, 0]


def _text_frame() -> pd.DataFrame:
    notes = [f"customer {i} asked about the delivery of order number {1000 + i}" for i in range(10)]
    return pd.DataFrame({"note": notes, "units": range(10), "y": [0, 1] * 5})


def test_free_text_is_a_text_input_and_ignore_or_categorical_take_it(tmp_path):
    _text_frame().to_csv(tmp_path / "t.csv", index=False)
    data = read_table(tmp_path / "t.csv", target="y")  # more in tests/data/test_table_text.py
    assert data.meta["text_columns"] == ["note"] and data.x["text"][0] == _text_frame()["note"][0]
    skipped = read_table(tmp_path / "t.csv", target="y", ignore=["note"])
    assert "categorical" not in skipped.x and skipped.meta["numeric_columns"] == ["units"]
    forced = read_table(tmp_path / "t.csv", target="y", categorical=["note"])
    assert len(forced.meta["vocabularies"]["note"]) == 11
    as_target = read_table(tmp_path / "t.csv", target="note", ignore=["units"])  # a target is never text
    assert as_target.task == "classification" and len(as_target.class_names) == 10


def test_unknown_column_in_ignore_suggests_the_nearest(tmp_path):
    _text_frame().to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(DataError, match=r"no column 'notes'.*did you mean 'note'"):
        read_table(tmp_path / "t.csv", target="y", ignore=["notes"])


def test_parquet_nulls_are_missing_and_a_missing_target_names_its_row(tmp_path):
    frame = pd.DataFrame({"a": pd.array([1, None, 3], dtype="Int64"), "b": ["x", "na", None],
                          "y": [1.0, 2.0, 3.0]})
    frame.to_parquet(tmp_path / "t.parquet")
    data = read_table(tmp_path / "t.parquet", target="y")
    np.testing.assert_array_equal(data.x["numeric"][:, 0], [1.0, np.nan, 3.0])
    assert data.x["categorical"][:, 0].tolist() == [1, 0, 0]  # "na" is a missing value too
    frame.assign(y=[1.0, None, None]).to_parquet(tmp_path / "gaps.parquet")
    with pytest.raises(DataError, match=r"missing on 2 rows \(first on row 2\)"):
        read_table(tmp_path / "gaps.parquet", target="y")


def test_missing_values_any_case_and_padded(tmp_path):
    (tmp_path / "t.csv").write_text("a,b,y\n1, NA ,0\nn/A,2,1\n?,None,0\n4,5,1\n")
    data = read_table(tmp_path / "t.csv", target="y")
    np.testing.assert_array_equal(data.x["numeric"], [[1, np.nan], [np.nan, 2], [np.nan, np.nan], [4, 5]])


def test_a_word_past_the_first_block_makes_the_column_categorical(tmp_path):
    rows = [f"{i}.5,{i % 2}" for i in range(120_000)]  # over 1 MiB: pyarrow types the column from the first block
    rows[-1] = "many,1"
    (tmp_path / "t.csv").write_text("a,y\n" + "\n".join(rows) + "\n")
    data = read_table(tmp_path / "t.csv", target="y", max_categories=200_000)
    assert data.meta["categorical_columns"] == ["a"] and len(data.meta["vocabularies"]["a"]) == 120_001


def test_ragged_row_after_a_quoted_newline_names_its_line_in_a_tsv(tmp_path):
    (tmp_path / "t.tsv").write_text('a\tb\ty\n1\t"two\nlines"\t0\n\n3\t4\n')
    with pytest.raises(DataError, match="line 5: got 2 fields; expected 3"):
        read_table(tmp_path / "t.tsv", target="y")


def test_bom_and_non_utf8(tmp_path):
    (tmp_path / "bom.csv").write_bytes("\ufeffcity,y\nLyon,1\n".encode())
    assert read_table(tmp_path / "bom.csv", target="y").meta["categorical_columns"] == ["city"]
    (tmp_path / "latin.csv").write_bytes("city,y\nLyon,1\nSète,2\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"column 'city' is not UTF-8 text.*re-save it as UTF-8"):
        read_table(tmp_path / "latin.csv", target="y")
    (tmp_path / "header.csv").write_bytes("ville_été,y\nLyon,1\n".encode("latin-1"))
    with pytest.raises(DataError, match="cannot parse as UTF-8 CSV"):
        read_csv(tmp_path / "header.csv", target="y")


def test_unknown_suffix_and_bad_options(tmp_path):
    (tmp_path / "t.txt").write_text("a,y\n1,2\n")
    with pytest.raises(DataError, match=r"expected a file ending in one of \['.csv', '.parquet', '.pq'"):
        read_table(tmp_path / "t.txt", target="y")
    assert len(read_csv(tmp_path / "t.txt", target="y")) == 1  # read_csv reads any name
    with pytest.raises(ValueError, match="min_frequency: got 0; expected an int >= 1"):
        read_csv(tmp_path / "t.txt", target="y", min_frequency=0)


def test_without_pyarrow_the_error_gives_the_install_command(tmp_path, monkeypatch):
    (tmp_path / "t.csv").write_text("a,y\n1,2\n")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(ImportError, match=r"pip install 'topnet\[tables\]'"):
        read_table(tmp_path / "t.csv", target="y")

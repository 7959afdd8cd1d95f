"""Tests for text columns of tables: read_table / read_csv / load give x["text"], encode_table does the same."""
from __future__ import annotations

import csv

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from topnet.data import Splits, load, read_csv, read_table, vectorize_text
from topnet.data.table_encode import encode_table
from topnet.errors import DataError

NOTES = [f"customer {i} asked about the delivery of order number {1000 + i}" for i in range(8)]


def _csv(path, header, rows):
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_a_free_text_column_is_detected_and_becomes_x_text(tmp_path):
    path = _csv(tmp_path / "t.csv", ["note", "units", "y"], [[note, i, i % 2] for i, note in enumerate(NOTES)])
    data = read_table(path, target="y")
    assert set(data.x) == {"numeric", "text"} and data.meta["text_columns"] == ["note"]
    assert data.x["text"].dtype == object and data.x["text"].shape == (8,) and data.x["text"].tolist() == NOTES
    assert data.meta["categorical_columns"] == [] and "note" not in data.meta["vocabularies"]
    only_text = read_table(path, target="y", ignore=["units"])
    assert set(only_text.x) == {"text"}
    coded = read_table(path, target="y", categorical=["note"])  # categorical= still forces codes
    assert "text" not in coded.x and coded.meta["text_columns"] == [] and coded.x["categorical"].shape == (8, 1)


def test_forced_text_columns_are_joined_in_column_order_and_missing_cells_are_empty(tmp_path):
    path = _csv(tmp_path / "t.csv", ["body", "shop", "title", "y"],
                [["Fast delivery", "a", "Great", 1], ["NA", "b", "Late", 0], ["", "a", "", 1]])
    data = read_csv(path, target="y", text=["title", "body"])
    assert data.meta["text_columns"] == ["body", "title"]  # the file's column order, not text='s
    assert data.x["text"].tolist() == ["Fast delivery \n Great", " \n Late", " \n "]
    assert data.meta["categorical_columns"] == ["shop"]


def test_a_text_column_with_no_value_is_an_error_naming_it(tmp_path):
    path = _csv(tmp_path / "t.csv", ["comment", "a", "y"], [["", 1, 0], ["NA", 2, 1]])
    with pytest.raises(DataError, match=r"text column 'comment' has no values.*ignore=\['comment'\]"):
        read_table(path, target="y", text=["comment"])


def test_bad_text_option_values(tmp_path):
    path = _csv(tmp_path / "t.csv", ["note", "y"], [[note, 0] for note in NOTES])
    with pytest.raises(ValueError, match=r"text: got 'note'; expected a list of column names; e.g. text=\['note'\]"):
        read_table(path, target="y", text="note")
    with pytest.raises(ValueError, match=r"no column also in categorical=\['note'\]"):
        read_table(path, target="y", categorical=["note"], text=["note"])
    with pytest.raises(DataError, match=r"no column 'notes'.*did you mean 'note'"):
        read_table(path, target="y", text=["notes"])


def test_parquet_text_columns_and_encode_table_on_new_rows(tmp_path):
    train = pa.table({"title": ["Great", None, "Poor", "Fine"], "body": NOTES[:4], "units": [1, 2, 3, 4],
                      "y": [1, 0, 0, 1]})
    pq.write_table(train, tmp_path / "train.parquet")
    data = read_table(tmp_path / "train.parquet", target="y", text=["title"])
    assert data.meta["text_columns"] == ["title", "body"]
    assert data.x["text"][1] == " \n " + NOTES[1]
    new = pa.table({"id": [7, 8], "body": ["a new note", None], "units": [5, 6], "title": ["Odd", "Ok"]})
    pq.write_table(new, tmp_path / "new.parquet")
    encoded = encode_table(tmp_path / "new.parquet", data.meta)
    assert encoded.x["text"].tolist() == ["Odd \n a new note", "Ok \n "]
    np.testing.assert_array_equal(encoded.x["numeric"], [[5.0], [6.0]])
    assert encoded.meta["ignored_columns"] == ["id"]
    _csv(tmp_path / "new.csv", ["units", "title", "body"], [[9, "Nice", "short"]])  # CSV rows for a Parquet model
    assert encode_table(tmp_path / "new.csv", data.meta).x["text"].tolist() == ["Nice \n short"]
    _csv(tmp_path / "short.csv", ["units", "title"], [[1, "x"]])
    with pytest.raises(DataError, match=r"got no column \['body'\]; expected every feature column"):
        encode_table(tmp_path / "short.csv", data.meta)


def test_load_passes_text_and_vectorize_text_takes_the_table(tmp_path):
    path = _csv(tmp_path / "t.csv", ["title", "units", "y"], [["good", 1, 1], ["bad", 2, 0], ["so good", 3, 1]])
    splits = load(path, target="y", text=["title"])
    assert splits.train.x["text"].tolist() == ["good", "bad", "so good"]
    ids, vectorizers = vectorize_text(splits, sequence_length=4)
    good = vectorizers["text"].vocabulary().index("good")
    assert ids.train.x["text"][2].tolist() == [vectorizers["text"].vocabulary().index("so"), good, 0, 0]
    assert isinstance(ids, Splits) and ids.train.meta["text_columns"] == ["title"]

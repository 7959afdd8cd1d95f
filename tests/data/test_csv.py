"""Tests for topnet.data.csv."""
import math

import numpy as np
import pytest

from topnet.data import read_csv
from topnet.data.csv import MISSING
from topnet.errors import DataError


def _write(tmp_path, text, name="t.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_text(text, encoding=encoding, newline="")
    return path


def test_numeric_and_categorical_columns(tmp_path):
    path = _write(tmp_path, "rooms,city,area,price\n3,Paris,50.5,1.5\n2,,NA,0.9\n4,Lyon,70,1.1\n")
    data = read_csv(path, target="price")
    assert data.x["numeric"].dtype == np.float32 and data.x["numeric"].shape == (3, 2)
    assert data.x["numeric"][0].tolist() == [3.0, 50.5] and math.isnan(data.x["numeric"][1, 1])
    assert data.x["categorical"].dtype == np.int64 and data.x["categorical"][:, 0].tolist() == [2, 0, 1]
    assert data.meta["numeric_columns"] == ["rooms", "area"]
    assert data.meta["categorical_columns"] == ["city"]
    assert data.meta["vocabularies"]["city"] == (MISSING, "Lyon", "Paris")
    assert data.y.dtype == np.float32 and data.task == "regression" and data.class_names is None
    assert data.meta["target"] == "price" and data.name == "t"


def test_string_target_is_classification_with_sorted_class_names(tmp_path):
    data = read_csv(_write(tmp_path, "a,label\n1,dog\n2,cat\n3,dog\n4,emu\n"), target="label")
    assert data.class_names == ("cat", "dog", "emu") and data.y.tolist() == [1, 0, 1, 2]
    assert data.y.dtype == np.int64 and data.task == "classification"
    assert "categorical" not in data.x


def test_few_distinct_integers_are_classes_and_many_are_regression(tmp_path):
    data = read_csv(_write(tmp_path, "a,y\n1,3\n2,1\n3,3.0\n"), target="y")
    assert data.task == "classification" and data.class_names == ("1", "3") and data.y.tolist() == [1, 0, 1]
    many = "a,y\n" + "".join(f"{i},{i}\n" for i in range(30))
    assert read_csv(_write(tmp_path, many, "m.csv"), target="y").task == "regression"
    assert read_csv(_write(tmp_path, many, "m.csv"), target="y", max_classes=30).task == "classification"
    forced = read_csv(_write(tmp_path, "a,y\n1,0\n2,1\n", "f.csv"), target="y", task="regression")
    assert forced.y.dtype == np.float32


def test_bom_quotes_and_embedded_newlines(tmp_path):
    text = '\ufeff"name","note",y\n"Smith, J.","line one\nline two",1\nLee,"say ""hi""",0\n'
    data = read_csv(_write(tmp_path, text), target="y")
    assert data.meta["categorical_columns"] == ["name", "note"]
    assert data.meta["vocabularies"]["name"] == (MISSING, "Lee", "Smith, J.")
    assert 'say "hi"' in data.meta["vocabularies"]["note"]


def test_ragged_row_names_its_line(tmp_path):
    path = _write(tmp_path, 'a,b,y\n1,"two\nlines",0\n\n3,4\n')
    with pytest.raises(DataError, match="line 5: got 2 fields; expected 3"):
        read_csv(path, target="y")


def test_blank_lines_are_skipped(tmp_path):
    assert len(read_csv(_write(tmp_path, "a,y\n1,0\n\n2,1\n\n"), target="y")) == 2


@pytest.mark.parametrize("text, message", [("", "file is empty"), ("a,y\n", "no data rows"),
                                           ("a,a,y\n1,2,0\n", "duplicate column names")])
def test_empty_and_malformed_files(tmp_path, text, message):
    with pytest.raises(DataError, match=message):
        read_csv(_write(tmp_path, text), target="y")


def test_missing_target_column_lists_columns_and_nearest(tmp_path):
    path = _write(tmp_path, "rooms,price\n1,2\n")
    with pytest.raises(DataError, match=r"available columns: \['rooms', 'price'\]; did you mean 'price'"):
        read_csv(path, target="prices")


def test_missing_target_values_are_an_error(tmp_path):
    with pytest.raises(DataError, match="missing on 1 rows \\(first on line 3\\)"):
        read_csv(_write(tmp_path, "a,y\n1,0\n2,\n"), target="y")


def test_several_targets_give_a_dict(tmp_path):
    data = read_csv(_write(tmp_path, "a,kind,size\n1,x,0.5\n2,y,1.5\n"), target=["kind", "size"])
    assert data.y["kind"].tolist() == [0, 1] and data.y["size"].dtype == np.float32
    assert data.meta["class_names"] == {"kind": ("x", "y"), "size": None}


def test_categorical_override_and_no_features(tmp_path):
    data = read_csv(_write(tmp_path, "zip,y\n75001,0\n69002,1\n"), target="y", categorical=["zip"])
    assert data.meta["vocabularies"]["zip"] == (MISSING, "69002", "75001")
    with pytest.raises(DataError, match="no feature columns"):
        read_csv(_write(tmp_path, "y\n1\n", "only.csv"), target="y")


def test_other_delimiter(tmp_path):
    data = read_csv(_write(tmp_path, "a;y\n1,5;0\n2;1\n"), target="y", delimiter=";")
    assert data.meta["categorical_columns"] == ["a"]  # "1,5" is not a float

"""``encode_csv``: new rows encoded as ``read_csv`` encoded the training table (``topnet predict``)."""
from __future__ import annotations

import numpy as np
import pytest

from topnet.data.csv import encode_csv, read_csv
from topnet.errors import DataError


@pytest.fixture
def meta(tmp_path):
    (tmp_path / "train.csv").write_text("rooms,city,area,zip,price\n3,Paris,50.5,75001,1.5\n2,,30,69001,0.9\n"
                                        "4,Lyon,,75001,1.1\n")
    return read_csv(tmp_path / "train.csv", target="price", categorical=["zip"]).meta


def test_columns_by_name_in_any_order_as_read_csv_encodes_them(tmp_path, meta):
    (tmp_path / "train_again.csv").write_text("price,zip,area,city,rooms\n1,75001,50.5,Paris,3\n1,69001,30,,2\n"
                                              "1,75001,,Lyon,4\n")
    again = encode_csv(tmp_path / "train_again.csv", meta)
    reference = read_csv(tmp_path / "train.csv", target="price", categorical=["zip"])
    np.testing.assert_array_equal(again.x["numeric"], reference.x["numeric"])  # NaN where missing, in both
    np.testing.assert_array_equal(again.x["categorical"], reference.x["categorical"])
    assert again.y is None and again.meta["ignored_columns"] == ["price"] and again.meta["unseen_categories"] == {}


def test_unseen_categories_become_missing_and_are_reported(tmp_path, meta):
    (tmp_path / "new.csv").write_text("id,rooms,area,city,zip\n1,2,40,Nice,75001\n2,1,20, Paris ,13001\n3,5,NA,?,13001\n")
    new = encode_csv(tmp_path / "new.csv", meta)
    assert meta["vocabularies"]["city"] == ("<missing>", "Lyon", "Paris")
    assert new.x["categorical"].tolist() == [[0, 2], [2, 0], [0, 0]]  # (city, zip); "?" is a missing value
    assert new.meta["unseen_categories"] == {"city": ["Nice"], "zip": ["13001"]}
    assert new.meta["ignored_columns"] == ["id"]
    assert np.isnan(new.x["numeric"][2, 1]) and new.x["numeric"].dtype == np.float32


def test_missing_columns_and_text_in_numeric_columns_are_errors(tmp_path, meta):
    (tmp_path / "short.csv").write_text("rooms,price\n3,1.0\n")
    with pytest.raises(DataError, match=r"got no column \['area', 'city', 'zip'\]; expected every feature column"):
        encode_csv(tmp_path / "short.csv", meta)
    (tmp_path / "text.csv").write_text("rooms,area,city,zip\n3,50,Paris,75001\nthree,40,Lyon,75001\n")
    with pytest.raises(DataError, match=r"line 3: column 'rooms': got 'three'; expected a number"):
        encode_csv(tmp_path / "text.csv", meta)

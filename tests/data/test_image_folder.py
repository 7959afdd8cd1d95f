"""Tests for topnet.data.image_folder: layouts, manifests, labels, meta, errors and skip_bad.

Images are tiny (8x12) and written in the test; pixels are checked against Pillow's own decoding
of the file each row names. The cache itself is tested in test_image_cache.py.
"""
import hashlib
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from topnet.data import image_cache, image_folder
from topnet.data.dataset import Splits
from topnet.data.image_folder import read_image_folder, read_images
from topnet.errors import DataError


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TOPNET_CACHE", str(tmp_path / "cache"))


def _image(path, seed=0, size=(12, 8), mode="RGB"):
    """An image of random pixels (``size`` is Pillow's (width, height))."""
    path.parent.mkdir(parents=True, exist_ok=True)
    channels = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
    shape = (size[1], size[0], channels) if channels > 1 else (size[1], size[0])
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8), mode).save(path)
    return path


def _folder(root, classes=("cat", "dog"), per_class=2, **kwargs):
    for c, name in enumerate(classes):
        for i in range(per_class):
            _image(root / name / f"{i}.png", seed=10 * c + i, **kwargs)
    return root


def _pixels(path, mode="RGB"):
    with Image.open(path) as image:
        pixels = np.asarray(image.convert(mode))
    return pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)


def test_class_folders_give_sorted_classes_and_labels(tmp_path):
    root = _folder(tmp_path / "photos", classes=("zebra", "Ant", "bee"))
    _image(root / "bee" / "nested" / "deep.png", seed=99)  # searched recursively
    splits = read_image_folder(root, image_size=(8, 12))
    train = splits.train
    assert isinstance(splits, Splits) and splits.valid is None and splits.test is None
    assert train.class_names == ("Ant", "bee", "zebra") and train.name == "photos"
    assert train.x.dtype == np.uint8 and train.x.shape == (7, 3, 8, 12) and train.y.dtype == np.int64
    assert train.meta["paths"][2:5] == ["bee/0.png", "bee/1.png", "bee/nested/deep.png"]
    for row, path in enumerate(train.meta["paths"]):
        assert train.class_names[train.y[row]] == path.split("/")[0]
        np.testing.assert_array_equal(train.x[row], _pixels(root / path))


def test_meta_keys_and_a_read_only_view_of_the_cache_file(tmp_path):
    root = _folder(tmp_path / "photos")
    train = read_image_folder(root).train
    assert set(train.meta) == {"kind", "source", "image_size", "fit", "channels", "paths", "skipped", "ignored",
                               "cache"}
    assert train.meta["kind"] == "image_folder" and train.meta["source"] == str(root.absolute())
    assert train.meta["fit"] == "pad" and train.meta["channels"] == 3 and train.meta["skipped"] == []
    assert os.path.getsize(train.meta["cache"]) == train.x.size
    assert not train.x.flags.writeable and not train.x.flags.owndata
    base = train.x
    while base is not None and not isinstance(base, np.memmap):
        base = base.base
    assert isinstance(base, np.memmap)  # file-backed: rows are read from disk when sliced


def test_default_image_size_is_the_capped_median_of_the_longer_side(tmp_path):
    root = tmp_path / "sizes"
    for i, size in enumerate([(20, 10), (30, 30)]):  # (width, height): longer sides 20, 30
        _image(root / "a" / f"{i}.png", size=size)
    for i, size in enumerate([(10, 40), (12, 12), (50, 16)]):  # 40, 12, 50
        _image(root / "b" / f"{i}.png", size=size)
    assert read_image_folder(root).train.meta["image_size"] == [30, 30]  # median of 12, 20, 30, 40, 50
    assert read_image_folder(root, max_image_size=16).train.meta["image_size"] == [16, 16]
    os.remove(root / "b" / "2.png")  # 12, 20, 30, 40: median 25
    assert read_image_folder(root).train.x.shape[1:] == (3, 25, 25)
    assert read_image_folder(root, image_size=7).train.x.shape[1:] == (3, 7, 7)


def test_channels_are_one_only_when_every_image_is_gray(tmp_path):
    root = _folder(tmp_path / "gray", mode="L")
    gray = read_image_folder(root, image_size=(8, 12)).train
    assert gray.meta["channels"] == 1 and gray.x.shape[1] == 1
    np.testing.assert_array_equal(gray.x[0], _pixels(root / "cat" / "0.png", "L"))
    _image(root / "dog" / "colour.png", seed=5)
    mixed = read_image_folder(root, image_size=(8, 12)).train
    assert mixed.meta["channels"] == 3
    row = mixed.meta["paths"].index("cat/0.png")
    np.testing.assert_array_equal(mixed.x[row], np.repeat(_pixels(root / "cat" / "0.png", "L"), 3, axis=0))


def _hashed_sample(paths, size):
    """The documented pick, written out: the ``size`` paths with the smallest BLAKE2b of "0:" + path."""
    return sorted(paths, key=lambda path: hashlib.blake2b(f"0:{path}".encode(), digest_size=8).digest())[:size]


def test_the_sample_is_fixed_by_the_seed_and_each_path():
    paths = [f"c{i % 3}/{i}.png" for i in range(50)]
    picked = {paths[i] for i in image_folder._sample(paths, 10)}
    assert picked == set(_hashed_sample(paths, 10))
    assert {paths[::-1][i] for i in image_folder._sample(paths[::-1], 10)} == picked  # order does not matter
    grown = paths + ["c0/new.png"]
    assert len(picked - {grown[i] for i in image_folder._sample(grown, 10)}) <= 1
    assert sorted(image_folder._sample(paths[:3], 10)) == [0, 1, 2]


def test_default_image_size_is_the_median_over_the_sample_and_only_its_headers_are_read(tmp_path, monkeypatch):
    monkeypatch.setattr(image_folder, "SAMPLE_SIZE", 3)
    root = tmp_path / "sizes"
    paths = [f"{'ab'[i % 2]}/{i}.png" for i in range(7)]
    sampled = _hashed_sample(paths, 3)
    small, large = iter([10, 12, 14, 16]), iter([40, 42, 44])  # every file: median 16; the sample: 42
    for path in paths:
        _image(root / path, size=(next(large if path in sampled else small), 8))  # (width, height)
    opened = []
    original = image_cache.read_header
    monkeypatch.setattr(image_cache, "read_header", lambda file: opened.append(file) or original(file))
    train = read_image_folder(root, num_workers=1).train
    assert train.meta["image_size"] == [42, 42] and len(train) == 7
    assert sorted(os.path.relpath(file, root) for file in opened) == sorted(sampled)


def test_a_sample_of_unreadable_files_falls_back_to_every_header(tmp_path, monkeypatch):
    monkeypatch.setattr(image_folder, "SAMPLE_SIZE", 1)
    root = _folder(tmp_path / "photos", per_class=3)
    paths = [f"{name}/{i}.png" for name in ("cat", "dog") for i in range(3)]
    sampled = _hashed_sample(paths, 1)[0]
    (root / sampled).write_text("not an image")
    train = read_image_folder(root, skip_bad=True).train
    assert train.meta["image_size"] == [12, 12] and train.meta["channels"] == 3
    assert [item["path"] for item in train.meta["skipped"]] == [sampled]


def test_predefined_split_folders(tmp_path):
    root = tmp_path / "data"
    _folder(root / "train", classes=("cat", "dog"))
    _folder(root / "test", classes=("bird", "cat"), per_class=1)
    _folder(root / "Val", classes=("dog",), per_class=1)
    splits = read_image_folder(root, image_size=(8, 12))
    assert [name for name, _ in splits.items()] == ["train", "valid", "test"]
    assert splits.train.class_names == ("bird", "cat", "dog") == splits.test.class_names
    assert splits.train.y.tolist() == [1, 1, 2, 2] and splits.test.y.tolist() == [0, 1]
    assert splits.valid.meta["paths"] == ["Val/dog/0.png"] and splits.valid.y.tolist() == [2]
    np.testing.assert_array_equal(splits.test.x[0], _pixels(root / "test" / "bird" / "0.png"))


def _manifest_images(root):
    paths = [_image(root / "imgs" / f"{i}.png", seed=i) for i in range(5)]
    outside = _image(root.parent / "elsewhere" / "x.png", seed=50)
    rows = {"path": ["imgs/0.png", "imgs/1.png", "imgs/2.png", "imgs/3.png", "imgs/4.png", str(outside)],
            "label": ["dog", "cat", "dog", "cat", "bird", "cat"],
            "split": ["TRAIN", "test", "Validation", "train", "val", "train"]}
    return rows, paths + [outside]


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".parquet"])
def test_manifest_with_splits_and_relative_paths(tmp_path, suffix):
    root = tmp_path / "set"
    rows, files = _manifest_images(root)
    manifest = root / f"labels{suffix}"
    if suffix in (".csv", ".tsv"):
        sep = "," if suffix == ".csv" else "\t"
        manifest.write_text("".join(sep.join(row) + "\n" for row in zip(*([k] + v for k, v in rows.items()))))
    else:
        pq.write_table(pa.table(rows), manifest)
    splits = read_image_folder(manifest, image_size=(8, 12))
    assert splits.train.class_names == ("bird", "cat", "dog")
    assert splits.train.meta["paths"] == ["imgs/0.png", "imgs/3.png", str(files[-1])]
    assert splits.train.y.tolist() == [2, 1, 1] and splits.test.y.tolist() == [1]
    assert splits.valid.meta["paths"] == ["imgs/2.png", "imgs/4.png"] and splits.blend is None
    for name, data in splits.items():
        for row, path in enumerate(data.meta["paths"]):
            np.testing.assert_array_equal(data.x[row], _pixels(files[rows["path"].index(path)]))


def test_manifest_integer_labels_sort_as_numbers_and_no_split_column_means_train(tmp_path):
    for i in range(3):
        _image(tmp_path / f"{i}.png", seed=i)
    (tmp_path / "m.csv").write_text("file,target\n0.png,10\n1.png,2\n2.png,10\n")
    splits = read_image_folder(tmp_path / "m.csv", path_column="file", label_column="target")
    assert splits.train.class_names == ("2", "10") and splits.train.y.tolist() == [1, 0, 1]
    assert splits.test is None


def test_manifest_errors_name_the_problem(tmp_path):
    _image(tmp_path / "a.png")
    (tmp_path / "bad_split.csv").write_text("path,label,split\na.png,x,train\na.png,y,holdout\n")
    with pytest.raises(DataError, match="'holdout'.*train, valid"):
        read_image_folder(tmp_path / "bad_split.csv")
    (tmp_path / "no_label.csv").write_text("path,kind\na.png,x\n")
    with pytest.raises(DataError, match="label"):
        read_image_folder(tmp_path / "no_label.csv")
    (tmp_path / "one.csv").write_text("path,label\na.png,x\na.png,x\n")
    with pytest.raises(DataError, match="at least two classes"):
        read_image_folder(tmp_path / "one.csv")
    (tmp_path / "missing.csv").write_text("path,label\na.png,x\ngone.png,y\n")
    with pytest.raises(DataError, match="gone.png"):
        read_image_folder(tmp_path / "missing.csv")


def test_hidden_and_non_image_files_are_ignored_with_one_note(tmp_path, caplog):
    root = _folder(tmp_path / "photos")
    (root / ".DS_Store").write_bytes(b"\0\1")
    (root / "cat" / ".hidden.png").write_bytes(b"not an image")
    _image(root / ".ipynb_checkpoints" / "x.png")
    _image(root / "dog" / ".cache" / "y.png")
    (root / "README.md").write_text("about")
    (root / "cat" / "labels.txt").write_text("cat")
    (root / "bird").mkdir()
    train = read_image_folder(root, image_size=4).train
    assert train.class_names == ("cat", "dog") and len(train) == 4
    notes = train.meta["ignored"]
    assert len(notes) == 2 and any("bird/" in note for note in notes)
    files_note = next(note for note in notes if "not images" in note)
    assert "2 file(s)" in files_note and "README.md" in files_note and "cat/labels.txt" in files_note
    assert "not images" in caplog.text


def _truncated(path, fmt):
    pixels = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, fmt)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


@pytest.mark.parametrize("name, write", [
    ("cut.png", lambda p: _truncated(p, "PNG")),
    ("cut.jpg", lambda p: _truncated(p, "JPEG")),
    ("text.png", lambda p: p.write_text("I am not a picture")),
])
def test_unreadable_files_are_named_or_skipped(tmp_path, name, write):
    root = _folder(tmp_path / "photos")
    write(root / "dog" / name)
    with pytest.raises(DataError, match=rf"dog/{name}.*skip_bad=True \(--skip-bad\)"):
        read_image_folder(root, image_size=4)
    train = read_image_folder(root, image_size=4, skip_bad=True).train
    assert len(train) == 4 and f"dog/{name}" not in train.meta["paths"]
    assert [item["path"] for item in train.meta["skipped"]] == [f"dog/{name}"]
    assert train.meta["skipped"][0]["error"]
    for row, path in enumerate(train.meta["paths"]):
        assert np.array_equal(train.x[row], read_images(root / path, image_size=4, fit="pad", channels=3)[0][0])


@pytest.mark.parametrize("layout, match", [
    ({"cat": 2}, "only one class.*at least two"),
    ({"": 3}, "directly in the folder and no class subfolders.*topnet predict"),
    ({"cat": 2, "dog": 0}, "only one class"),
    ({}, r"no images and no .txt files.*or for text one subfolder per class of .txt files"),
])
def test_layouts_without_two_classes_explain_the_layout(tmp_path, layout, match):
    root = tmp_path / "photos"
    root.mkdir()
    for name, count in layout.items():
        (root / name).mkdir(exist_ok=True)
        for i in range(count):
            _image(root / name / f"{i}.png")
    with pytest.raises(DataError, match=match):
        read_image_folder(root)


def test_bad_arguments_are_named(tmp_path):
    root = _folder(tmp_path / "photos")
    with pytest.raises(DataError, match="nothing exists"):
        read_image_folder(tmp_path / "nope")
    with pytest.raises(ValueError, match=r"fit: got 'fill'; expected one of \['pad', 'crop', 'stretch'\]"):
        read_image_folder(root, fit="fill")
    with pytest.raises(ValueError, match="image_size"):
        read_image_folder(root, image_size=(0, 4))
    with pytest.raises(ValueError, match="num_workers"):
        read_image_folder(root, num_workers=0)
    with pytest.raises(ValueError, match="max_image_size"):
        read_image_folder(root, max_image_size=0)
    with pytest.raises(DataError, match="topnet predict"):
        read_image_folder(root / "cat" / "0.png")


def test_read_images_for_predict(tmp_path):
    root = _folder(tmp_path / "new", mode="L")
    _image(root / "loose.png", seed=7, mode="L")
    (root / "notes.txt").write_text("ignored")
    x, paths, skipped = read_images(root, image_size=(8, 12), fit="pad", channels=3)
    assert paths == ["cat/0.png", "cat/1.png", "dog/0.png", "dog/1.png", "loose.png"] and skipped == []
    assert x.shape == (5, 3, 8, 12)
    np.testing.assert_array_equal(x[4], np.repeat(_pixels(root / "loose.png", "L"), 3, axis=0))
    one, names, _ = read_images(root / "loose.png", image_size=(8, 12), fit="pad", channels=1)
    assert names == ["loose.png"] and np.array_equal(one[0], _pixels(root / "loose.png", "L"))
    (root / "list.csv").write_text("path\ndog/1.png\ncat/0.png\n")
    listed, names, _ = read_images(root / "list.csv", image_size=(8, 12), fit="pad", channels=1)
    assert names == ["dog/1.png", "cat/0.png"] and np.array_equal(listed[1], _pixels(root / "cat" / "0.png", "L"))
    (root / "bad.png").write_text("text")
    with pytest.raises(DataError, match="bad.png"):
        read_images(root, image_size=4, fit="pad", channels=1)
    x, paths, skipped = read_images(root, image_size=4, fit="pad", channels=1, skip_bad=True)
    assert len(x) == 5 and "bad.png" not in paths and skipped[0]["path"] == "bad.png"
    (tmp_path / "empty").mkdir()
    assert read_images(tmp_path / "empty", image_size=4, fit="pad", channels=3)[0].shape == (0, 3, 4, 4)

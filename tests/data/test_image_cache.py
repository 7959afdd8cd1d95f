"""Tests for topnet.data.image_cache through read_image_folder: decode once, re-decode only what
changed, recover from killed writes, and decode the same pixels in one process or several."""
import json
import os
import time

import numpy as np
import pytest
from PIL import Image

from topnet.data import image_cache, image_folder
from topnet.data.image_decode import decode_image, decode_image_and_mode, read_header
from topnet.data.image_folder import read_image_folder, read_images


def _image(path, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (8, 12, 3), dtype=np.uint8)).save(path)
    return path


def _gray(path, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (8, 12), dtype=np.uint8), "L").save(path)
    return path


def _folder(root, per_class=3):
    for c, name in enumerate(("cat", "dog")):
        for i in range(per_class):
            _image(root / name / f"{i}.png", seed=10 * c + i)
    return root


def _pixels(path):
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB")).transpose(2, 0, 1)


@pytest.fixture
def decoded(monkeypatch):
    """The files decoded (in this process: num_workers=1)."""
    calls = []
    original = image_cache.decode_image_and_mode

    def counting(path, *args):
        calls.append(os.path.basename(os.fspath(path)))
        return original(path, *args)

    monkeypatch.setattr(image_cache, "decode_image_and_mode", counting)
    return calls


def _load(root, cache, **kwargs):
    return read_image_folder(root, image_size=(8, 12), cache_dir=cache, num_workers=1, **kwargs).train


def _check(train, root):
    for row, path in enumerate(train.meta["paths"]):
        np.testing.assert_array_equal(train.x[row], _pixels(root / path))


def test_a_second_load_opens_no_image(tmp_path, decoded, monkeypatch):
    root, cache = _folder(tmp_path / "photos"), tmp_path / "cache"
    first = read_image_folder(root, cache_dir=cache, num_workers=1).train  # default size: headers read
    assert len(decoded) == 6
    decoded.clear()

    def refuse(*args, **kwargs):
        raise AssertionError("an image file was opened")

    monkeypatch.setattr(Image, "open", refuse)
    second = read_image_folder(root, cache_dir=cache, num_workers=1).train
    assert decoded == [] and second.meta == first.meta
    np.testing.assert_array_equal(second.x, first.x)


def test_only_changed_or_added_files_are_decoded_and_removed_ones_dropped(tmp_path, decoded):
    root, cache = _folder(tmp_path / "photos"), tmp_path / "cache"
    _load(root, cache)
    decoded.clear()
    changed = _image(root / "dog" / "1.png", seed=77)  # new pixels, new size/mtime
    stat = os.stat(changed)
    os.utime(changed, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    train = _load(root, cache)
    assert decoded == ["1.png"]
    _check(train, root)
    decoded.clear()
    _image(root / "cat" / "new.png", seed=88)
    train = _load(root, cache)
    assert decoded == ["new.png"] and len(train) == 7
    _check(train, root)
    decoded.clear()
    os.remove(root / "cat" / "0.png")
    train = _load(root, cache)
    assert decoded == [] and "cat/0.png" not in train.meta["paths"] and len(train) == 6
    _check(train, root)
    assert sorted(p.suffix for p in (cache / os.listdir(cache)[0]).glob("8x12-*.u8")) == [".u8"]  # old ones deleted


def test_a_different_setting_makes_a_new_cache(tmp_path, decoded):
    root, cache = _folder(tmp_path / "photos"), tmp_path / "cache"
    first = _load(root, cache)
    decoded.clear()
    other = read_image_folder(root, image_size=4, cache_dir=cache, num_workers=1).train
    assert len(decoded) == 6 and other.x.shape == (6, 3, 4, 4) and other.meta["cache"] != first.meta["cache"]
    assert os.path.exists(first.meta["cache"])
    decoded.clear()
    read_image_folder(root, image_size=4, fit="crop", cache_dir=cache, num_workers=1)
    assert len(decoded) == 6


@pytest.mark.parametrize("damage", ["corrupt index", "short pixels file", "index of the wrong version",
                                    "index naming a file elsewhere"])
def test_a_killed_or_damaged_cache_is_rebuilt(tmp_path, decoded, damage):
    root, cache = _folder(tmp_path / "photos"), tmp_path / "cache"
    first = _load(root, cache)
    folder = os.path.dirname(first.meta["cache"])
    index = os.path.join(folder, "8x12-pad-3ch.json")
    if damage == "corrupt index":
        with open(index, "w") as file:
            file.write('{"version": 1, "rows": [["cat/0.p')  # cut off mid-write
    elif damage == "short pixels file":
        os.truncate(first.meta["cache"], 100)
    elif damage == "index of the wrong version":
        content = json.loads(open(index).read())
        json.dump({**content, "version": 0}, open(index, "w"))
    else:
        elsewhere = tmp_path / "precious.u8"
        elsewhere.write_bytes(open(first.meta["cache"], "rb").read())  # even the right length
        content = json.loads(open(index).read())
        json.dump({**content, "data": str(elsewhere)}, open(index, "w"))
    decoded.clear()
    train = _load(root, cache)
    assert len(decoded) == 6
    _check(train, root)
    if damage == "index naming a file elsewhere":
        assert elsewhere.exists()  # never read, never deleted


def test_leftovers_of_a_killed_load_are_ignored_then_removed(tmp_path, decoded):
    root, cache = _folder(tmp_path / "photos"), tmp_path / "cache"
    first = _load(root, cache)
    folder = os.path.dirname(first.meta["cache"])
    orphan = os.path.join(folder, "8x12-pad-3ch-deadbeef0000.u8")  # pixels written, index never replaced
    temporary = os.path.join(folder, ".8x12-pad-3ch.json.0123.tmp")
    for path in (orphan, temporary):
        open(path, "wb").write(b"\xff" * 50)
        os.utime(path, (time.time() - 7200, time.time() - 7200))
    _image(root / "cat" / "9.png", seed=9)  # a change, so the cache is written again
    decoded.clear()
    train = _load(root, cache)
    assert decoded == ["9.png"]
    _check(train, root)
    assert not os.path.exists(orphan) and not os.path.exists(temporary)


def test_a_corrupt_headers_file_is_rebuilt(tmp_path):
    root, cache = _folder(tmp_path / "photos"), tmp_path / "cache"
    first = read_image_folder(root, cache_dir=cache, num_workers=1).train
    headers = os.path.join(os.path.dirname(first.meta["cache"]), "headers.json")
    open(headers, "w").write("[1, 2")
    again = read_image_folder(root, cache_dir=cache, num_workers=1).train
    assert again.meta["image_size"] == [12, 12]
    np.testing.assert_array_equal(again.x, first.x)


def _check_decoded(train, root, channels):
    for row, path in enumerate(train.meta["paths"]):
        np.testing.assert_array_equal(train.x[row], decode_image(root / path, (8, 12), "pad", channels))


def test_a_sample_that_misses_the_only_colour_image_still_gives_three_channels(tmp_path, decoded, monkeypatch):
    monkeypatch.setattr(image_folder, "SAMPLE_SIZE", 1)
    root, cache = tmp_path / "photos", tmp_path / "cache"
    paths = [f"{name}/{i}.png" for name in ("cat", "dog") for i in range(3)]
    colour = next(path for i, path in enumerate(paths) if i not in image_folder._sample(paths, 1))
    for seed, path in enumerate(paths):
        (_image if path == colour else _gray)(root / path, seed)
    train = _load(root, cache)
    assert train.meta["channels"] == 3 and train.x.shape == (6, 3, 8, 12)
    assert len(decoded) == 12  # guessed 1 channel from the gray sample, then decoded again with 3
    _check_decoded(train, root, 3)
    decoded.clear()
    again = _load(root, cache)
    assert decoded == [] and again.meta == train.meta
    os.remove(root / colour)
    gray = _load(root, cache)
    assert decoded == [] and gray.meta["channels"] == 1  # every row copied from the 1-channel cache
    _check_decoded(gray, root, 1)


def test_a_colour_image_that_fails_to_decode_does_not_make_three_channels(tmp_path, decoded):
    root, cache = tmp_path / "photos", tmp_path / "cache"
    for i, name in enumerate(("cat", "dog")):
        _gray(root / name / "0.png", seed=i)
    data = _image(root / "dog" / "cut.png", seed=3).read_bytes()
    (root / "dog" / "cut.png").write_bytes(data[:len(data) // 2])  # its header says RGB; its pixels fail
    train = _load(root, cache, skip_bad=True)
    assert train.meta["channels"] == 1 and [item["path"] for item in train.meta["skipped"]] == ["dog/cut.png"]
    _check_decoded(train, root, 1)


def _every_kind(folder):
    """One file of each mode and path through the decoder: gray, alpha, palette, bilevel, 16-bit,
    float, an EXIF-rotated JPEG and a JPEG large enough for the draft."""
    rgb = np.random.default_rng(0).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90 degrees
    images = {"l.png": Image.fromarray(rgb[:30, :40, 0]), "la.png": Image.fromarray(rgb[:30, :40, :2]),
              "rgb.png": Image.fromarray(rgb[:30, :40]),
              "rgba.png": Image.fromarray(np.dstack([rgb[:30, :40], rgb[:30, :40, :1]])),
              "p.png": Image.fromarray(rgb[:30, :40]).convert("P", palette=Image.Palette.ADAPTIVE, colors=8),
              "b.png": Image.fromarray(rgb[:30, :40, 0]).convert("1"),
              "i16.png": Image.fromarray(rgb[:30, :40, 0].astype(np.uint16) * 257),
              "f.tif": Image.fromarray(rgb[:30, :40, 0].astype(np.float32) * 1.5), "big.jpg": Image.fromarray(rgb)}
    for name, image in images.items():
        image.save(folder / name)
    Image.fromarray(rgb[:30, :40]).save(folder / "turned.jpg", exif=exif)
    return sorted(folder.iterdir())


@pytest.mark.parametrize("fit", ["pad", "crop", "stretch"])
def test_the_workers_decode_gives_decode_images_pixels_and_read_headers_gray_flag(tmp_path, fit):
    for path in _every_kind(tmp_path):
        for channels in (1, 3):
            pixels, gray = decode_image_and_mode(str(path), (8, 12), fit, channels)
            np.testing.assert_array_equal(pixels, decode_image(path, (8, 12), fit, channels), err_msg=path.name)
            assert gray is read_header(path)[2], path.name


def test_bad_files_are_remembered_and_not_decoded_again(tmp_path, decoded):
    root, cache = _folder(tmp_path / "photos"), tmp_path / "cache"
    data = (_image(root / "dog" / "cut.png", seed=3)).read_bytes()
    (root / "dog" / "cut.png").write_bytes(data[:len(data) // 2])
    first = _load(root, cache, skip_bad=True)
    assert "cut.png" in decoded and len(first) == 6
    decoded.clear()
    again = _load(root, cache, skip_bad=True)
    assert decoded == [] and again.meta["skipped"] == first.meta["skipped"]
    with pytest.raises(ValueError, match="dog/cut.png"):
        _load(root, cache)


def test_one_and_two_workers_give_identical_arrays(tmp_path, monkeypatch):
    monkeypatch.setattr(image_cache, "_MIN_FILES_PER_WORKER", 1)  # use the pool even for a few files
    monkeypatch.setattr(image_cache, "_MAX_CHUNK", 2)
    root = _folder(tmp_path / "photos", per_class=5)
    (root / "cat" / "text.png").write_text("not an image")
    data = (_image(root / "dog" / "cut.png", seed=3)).read_bytes()
    (root / "dog" / "cut.png").write_bytes(data[:len(data) // 2])
    one = read_image_folder(root, skip_bad=True, cache_dir=tmp_path / "one", num_workers=1).train
    two = read_image_folder(root, skip_bad=True, cache_dir=tmp_path / "two", num_workers=2).train
    assert one.meta["image_size"] == [12, 12]
    assert one.meta["paths"] == two.meta["paths"] and len(one) == 10
    assert one.meta["skipped"] == two.meta["skipped"] and len(one.meta["skipped"]) == 2
    np.testing.assert_array_equal(one.x, two.x)
    stretched = read_image_folder(root, image_size=(8, 12), skip_bad=True, cache_dir=tmp_path / "two", num_workers=2)
    _check(stretched.train, root)
    x, paths, _ = read_images(root, image_size=(12, 12), fit="pad", channels=3, skip_bad=True,
                              cache_dir=tmp_path / "two", num_workers=2)
    np.testing.assert_array_equal(x, two.x)


def test_the_default_cache_folder_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("TOPNET_CACHE", str(tmp_path / "mine"))
    assert image_cache.default_cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("TOPNET_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert image_cache.default_cache_dir() == tmp_path / "xdg" / "topnet" / "images"
    root = _folder(tmp_path / "photos")
    train = read_image_folder(root, num_workers=1).train
    assert train.meta["cache"].startswith(str(tmp_path / "xdg" / "topnet" / "images" / "photos-"))

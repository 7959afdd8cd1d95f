"""Tests for topnet.data.cifar: both CIFAR versions, the restricted unpickler, safe unpacking."""
import io
import os
import pickle
import struct
import tarfile

import numpy as np
import pytest

from topnet.data import read_cifar
from topnet.data.cifar import CIFAR10_CLASSES, extract_tar
from topnet.errors import DataError, UnsafeFileError


def _images(n, seed):
    return np.random.default_rng(seed).integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)


class _Python2Pickler(pickle._Pickler):
    """Writes str and bytes as Python 2 strings (BINSTRING), like CIFAR's own pickles."""

    def save_str(self, obj):
        self.save_bytes(obj.encode("latin1"))

    def save_bytes(self, obj):
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch = dict(pickle._Pickler.dispatch)
    dispatch[str] = save_str
    dispatch[bytes] = save_bytes


def _dump_python2(path, content):
    buffer = io.BytesIO()
    _Python2Pickler(buffer, protocol=2).dump(content)
    # NumPy 1 (which wrote CIFAR) named the module numpy.core
    path.write_bytes(buffer.getvalue().replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))


def _write_cifar10_python(folder, train, test, python2=True):
    folder.mkdir(parents=True)
    dump = _dump_python2 if python2 else lambda p, c: p.write_bytes(pickle.dumps(c))
    for i in range(5):
        images, labels = train[0][i::5], train[1][i::5]
        dump(folder / f"data_batch_{i + 1}", {"batch_label": "batch", "data": images.reshape(len(images), -1),
                                                "labels": labels.tolist(), "filenames": [b"a.png"] * len(labels)})
    dump(folder / "test_batch", {"data": test[0].reshape(len(test[0]), -1), "labels": test[1].tolist()})
    dump(folder / "batches.meta", {"label_names": [f"class{i}" for i in range(10)], "num_vis": 3072})


def test_cifar10_python_version_written_like_python2(tmp_path):
    train = (_images(10, 0), np.arange(10) % 10)
    test = (_images(3, 1), np.array([9, 0, 5]))
    _write_cifar10_python(tmp_path / "cifar-10-batches-py", train, test)
    splits = read_cifar(tmp_path)  # the parent folder works too
    order = np.concatenate([np.arange(10)[i::5] for i in range(5)])  # batch order
    assert splits.train.x.dtype == np.uint8 and splits.train.x.shape == (10, 3, 32, 32)
    np.testing.assert_array_equal(splits.train.x, train[0][order])
    assert splits.train.y.dtype == np.int64 and splits.train.y.tolist() == train[1][order].tolist()
    np.testing.assert_array_equal(splits.test.x, test[0])
    assert splits.test.class_names == tuple(f"class{i}" for i in range(10))


def test_cifar10_python_version_written_by_python3(tmp_path):
    train, test = (_images(5, 2), np.arange(5)), (_images(2, 3), np.array([1, 2]))
    _write_cifar10_python(tmp_path / "py", train, test, python2=False)
    (tmp_path / "py" / "batches.meta").unlink()
    splits = read_cifar(tmp_path / "py")
    np.testing.assert_array_equal(splits.train.x, train[0])
    assert splits.train.class_names == CIFAR10_CLASSES  # no meta file: the known names


def _write_binary(folder, names, records):
    folder.mkdir(parents=True)
    for name, chunk in zip(names, records):
        (folder / name).write_bytes(chunk.tobytes())


def test_cifar10_binary_version(tmp_path):
    images, labels = _images(10, 4), np.arange(10) % 10
    records = np.concatenate([labels[:, None].astype(np.uint8), images.reshape(10, -1)], axis=1)
    names = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
    _write_binary(tmp_path / "cifar-10-batches-bin", names, [records[2 * i:2 * i + 2] for i in range(5)] + [records[:3]])
    (tmp_path / "cifar-10-batches-bin" / "batches.meta.txt").write_text("\n".join(CIFAR10_CLASSES[::-1]) + "\n\n")
    splits = read_cifar(tmp_path)
    np.testing.assert_array_equal(splits.train.x, images)
    assert splits.train.y.tolist() == labels.tolist() and splits.test.y.tolist() == [0, 1, 2]
    assert splits.train.class_names == CIFAR10_CLASSES[::-1] and splits.train.name == "cifar10"


def test_cifar100_binary_fine_and_coarse(tmp_path):
    images, coarse, fine = _images(4, 5), np.array([0, 19, 3, 4]), np.array([99, 0, 50, 7])
    records = np.concatenate([coarse[:, None], fine[:, None], images.reshape(4, -1)], axis=1).astype(np.uint8)
    folder = tmp_path / "cifar-100-binary"
    _write_binary(folder, ["train.bin", "test.bin"], [records, records[:1]])
    (folder / "fine_label_names.txt").write_text("\n".join(f"f{i}" for i in range(100)))
    splits = read_cifar(tmp_path)
    assert splits.train.y.tolist() == fine.tolist() and splits.train.class_names[99] == "f99"
    np.testing.assert_array_equal(splits.train.x, images)
    coarse_splits = read_cifar(tmp_path, label_mode="coarse")
    assert coarse_splits.train.y.tolist() == coarse.tolist() and coarse_splits.train.class_names is None


def test_cifar100_python_version(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    images = _images(3, 6)
    for name in ("train", "test"):
        _dump_python2(folder / name, {"data": images.reshape(3, -1), "fine_labels": [5, 6, 7],
                                      "coarse_labels": [1, 2, 3]})
    _dump_python2(folder / "meta", {"fine_label_names": [f"f{i}" for i in range(100)],
                                    "coarse_label_names": [f"c{i}" for i in range(20)]})
    splits = read_cifar(folder, label_mode="coarse")
    assert splits.test.y.tolist() == [1, 2, 3] and splits.test.class_names[:2] == ("c0", "c1")
    np.testing.assert_array_equal(splits.test.x, images)
    assert read_cifar(folder).train.y.tolist() == [5, 6, 7]


class _Exploit:
    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("protocol", [0, 2, 4])
def test_malicious_pickle_is_refused_without_running(tmp_path, protocol):
    exploit = _Exploit()
    exploit.marker = tmp_path / "pwned"
    _write_cifar10_python(tmp_path / "py", (_images(5, 0), np.arange(5)), (_images(1, 0), np.array([0])),
                          python2=False)
    (tmp_path / "py" / "data_batch_3").write_bytes(pickle.dumps({"data": exploit}, protocol=protocol))
    with pytest.raises(UnsafeFileError, match=r"refused to load the global (posix|os|nt)\.system"):
        read_cifar(tmp_path / "py")
    assert not exploit.marker.exists()


def test_other_globals_are_refused(tmp_path):
    folder = tmp_path / "py"
    _write_cifar10_python(folder, (_images(5, 0), np.arange(5)), (_images(1, 0), np.array([0])), python2=False)
    (folder / "test_batch").write_bytes(pickle.dumps({"data": np.load}))
    with pytest.raises(UnsafeFileError, match="numpy.*load"):
        read_cifar(folder)


def test_damaged_files(tmp_path):
    folder = tmp_path / "bin"
    _write_binary(folder, [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"],
                  [np.zeros(3073, np.uint8)] * 5 + [np.zeros(3000, np.uint8)])
    with pytest.raises(DataError, match="test_batch.bin: file is truncated"):
        read_cifar(folder)
    (folder / "test_batch.bin").write_bytes(bytes([10]) + bytes(3072))
    with pytest.raises(DataError, match="expected 0 to 9"):
        read_cifar(folder)
    with pytest.raises(DataError, match="no CIFAR files found"):
        read_cifar(tmp_path / "elsewhere")


def _tar(path, members):
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)


def _file(name, data=b"x"):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def test_extract_tar_unpacks_plain_files(tmp_path):
    _tar(tmp_path / "a.tar.gz", [_file("top/one.bin", b"abc"), _file("top/sub/two.bin", b"de")])
    extract_tar(tmp_path / "a.tar.gz", tmp_path / "out")
    assert (tmp_path / "out/top/one.bin").read_bytes() == b"abc"
    assert (tmp_path / "out/top/sub/two.bin").read_bytes() == b"de"


@pytest.mark.parametrize("kind", ["parent", "absolute", "symlink", "hardlink"])
def test_extract_tar_refuses_unsafe_members(tmp_path, kind):
    if kind in ("symlink", "hardlink"):
        info = tarfile.TarInfo("top/link")
        info.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE
        info.linkname = "/etc/passwd"
        member = (info, None)
    else:
        member = _file("../evil" if kind == "parent" else "/tmp/evil")
    _tar(tmp_path / "a.tar.gz", [_file("top/ok.bin"), member])
    with pytest.raises(UnsafeFileError, match="not unpacked"):
        extract_tar(tmp_path / "a.tar.gz", tmp_path / "out")
    assert not (tmp_path / "out").exists() and not (tmp_path / "evil").exists()

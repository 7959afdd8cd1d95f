"""Tests for topnet.data.idx: IDX reading and writing."""
import gzip
import struct

import numpy as np
import pytest

from topnet.data import read_idx, write_idx
from topnet.errors import DataError


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("name", ["a-idx3-ubyte", "a-idx3-ubyte.gz"])
def test_round_trip(tmp_path, dtype, name):
    array = (np.arange(24) - 5).reshape(2, 3, 4).astype(dtype)
    write_idx(tmp_path / name, array)
    back = read_idx(tmp_path / name)
    assert back.dtype == np.dtype(dtype) and back.dtype.isnative
    np.testing.assert_array_equal(back, array)
    back[0, 0, 0] = 1  # writable


def test_reads_big_endian_by_the_specification(tmp_path):
    # magic 0x00000C01: int32, one dimension of size 2; items big-endian
    raw = bytes([0, 0, 0x0C, 1]) + struct.pack(">I", 2) + struct.pack(">ii", 0x01020304, -2)
    (tmp_path / "f").write_bytes(raw)
    assert read_idx(tmp_path / "f").tolist() == [0x01020304, -2]
    write_idx(tmp_path / "g.gz", np.array([0x01020304, -2], np.int32))
    assert gzip.decompress((tmp_path / "g.gz").read_bytes()) == raw


def _write(tmp_path, data, name="bad-idx1-ubyte"):
    (tmp_path / name).write_bytes(data)
    return tmp_path / name


@pytest.mark.parametrize(
    "data, message",
    [
        (b"\x00\x00", "truncated"),
        (b"\x01\x00\x08\x01" + struct.pack(">I", 1) + b"\x00", "bad magic"),
        (b"\x00\x00\x07\x01" + struct.pack(">I", 1) + b"\x00", "bad magic"),
        (b"\x00\x00\x08\x00", "0 dimensions"),
        (b"\x00\x00\x08\x03" + struct.pack(">I", 1), "header"),
        (b"\x00\x00\x08\x01" + struct.pack(">I", 5) + b"\x00" * 4, "truncated: got 4 bytes of data; expected 5"),
        (b"\x00\x00\x0c\x01" + struct.pack(">I", 1) + b"\x00" * 5, "longer than its header"),
    ],
)
def test_malformed_files_raise_data_error_naming_the_file(tmp_path, data, message):
    path = _write(tmp_path, data)
    with pytest.raises(DataError, match=message) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_truncated_gzip_stream(tmp_path):
    write_idx(tmp_path / "x.gz", np.arange(1000, dtype=np.int32))
    data = (tmp_path / "x.gz").read_bytes()
    path = _write(tmp_path, data[: len(data) // 2], "cut.gz")
    with pytest.raises(DataError, match="gzip stream is damaged or truncated"):
        read_idx(path)


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nope.gz")


def test_write_rejects_types_idx_cannot_hold(tmp_path):
    with pytest.raises(DataError, match="int64"):
        write_idx(tmp_path / "x", np.arange(3, dtype=np.int64))
    with pytest.raises(DataError, match="dimensions"):
        write_idx(tmp_path / "x", np.uint8(3))

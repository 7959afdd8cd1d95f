"""Read and write IDX files, the format of MNIST and Fashion-MNIST (gzip-compressed or raw).

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of dimensions),
one big-endian uint32 per dimension, then the items in C order, big-endian.

Example:
    >>> import numpy as np, tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "labels-idx1-ubyte.gz"
    >>> write_idx(path, np.array([3, 1, 4], np.uint8))
    >>> read_idx(path)
    array([3, 1, 4], dtype=uint8)
"""
from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from topnet.errors import DataError

__all__ = ["read_idx", "write_idx"]

# IDX type code -> big-endian item type.
_TYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dtype.newbyteorder("="): code for code, dtype in _TYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, decompressed when it starts with the gzip magic number."""
    raw = path.read_bytes()
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(
            f"{path}: the gzip stream is damaged or truncated ({error}); "
            "expected a complete .gz file; download it again"
        ) from None


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (``.gz`` or raw) into an array in native byte order.

    Args:
        path: the file, e.g. ``train-images-idx3-ubyte.gz``.

    Returns:
        An array of the file's shape and type, e.g. uint8 ``(60000, 28, 28)`` for images.

    Raises:
        FileNotFoundError: when the file does not exist.
        DataError: when the file is not IDX (bad magic number, unknown type code) or is
            truncated or longer than its header says.
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise DataError(f"{path}: file is truncated: got {len(data)} bytes; expected a 4-byte IDX header")
    zero1, zero2, code, ndim = data[:4]
    if zero1 != 0 or zero2 != 0 or code not in _TYPES:
        raise DataError(
            f"{path}: bad magic number 0x{data[:4].hex()}; expected 0x0000TTDD with type code TT in "
            f"{sorted(f'0x{c:02X}' for c in _TYPES)}; is this an IDX file (e.g. train-images-idx3-ubyte)?"
        )
    if ndim == 0:
        raise DataError(f"{path}: header declares 0 dimensions; expected at least 1")
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise DataError(
            f"{path}: file is truncated: got {len(data)} bytes; expected a {header_size}-byte header "
            f"for {ndim} dimensions"
        )
    shape = struct.unpack(f">{ndim}I", data[4:header_size])
    dtype = _TYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    payload = len(data) - header_size
    if payload != expected:
        problem = "truncated" if payload < expected else "longer than its header says"
        raise DataError(
            f"{path}: file is {problem}: got {payload} bytes of data; expected {expected} "
            f"(shape {shape} x {dtype.itemsize} bytes); download it again"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header_size).reshape(shape)
    return array.astype(dtype.newbyteorder("="))  # a writable copy in native byte order


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write ``array`` as an IDX file, gzip-compressed when ``path`` ends with ``.gz``.

    Args:
        path: where to write.
        array: uint8, int8, int16, int32, float32 or float64 array with at least one dimension.

    Raises:
        DataError: for a dtype IDX cannot hold or a 0-dimensional array.
    """
    array = np.asarray(array)
    native = array.dtype.newbyteorder("=")
    if native not in _CODES:
        raise DataError(
            f"array: got dtype {array.dtype}; expected one of uint8, int8, int16, int32, float32, "
            "float64; convert it with array.astype(...)"
        )
    if array.ndim == 0 or array.ndim > 255:
        raise DataError(f"array: got {array.ndim} dimensions; expected 1 to 255")
    header = bytes([0, 0, _CODES[native], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + np.ascontiguousarray(array, dtype=_TYPES[_CODES[native]]).tobytes()
    path = Path(path)
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)

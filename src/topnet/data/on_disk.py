"""Arrays that stay on disk: rows taken from, and values computed on, a large memory map.

A folder of images is decoded into a memory-mapped uint8 file (`topnet.data.image_cache`).
When that file is large next to this machine's memory, the arrays made from it (the
train / valid / blend / test rows that `split` takes, the float32 values `Standardizer`
computes) are written, chunk by chunk, to memory maps too, so no step holds the whole
dataset in memory: the operating system pages rows in as batches slice them. Smaller data
stays in memory, where it is fastest.

A derived file lives beside its source and is unlinked as soon as it is mapped, so it never
outlives the process that made it (a killed run leaves nothing behind).

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "x.npy"
    >>> source = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(6, 2))
    >>> source[:] = np.arange(12).reshape(6, 2)
    >>> rows = take_rows(source, np.array([4, 1]), spill_bytes=0)   # 0: always spill, for the example
    >>> type(rows).__name__, rows.tolist()
    ('memmap', [[8, 9], [2, 3]])
    >>> map_rows(source, lambda block: block * 0.5, np.float32, spill_bytes=0)[5].tolist()
    [5.0, 5.5]
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

__all__ = ["take_rows", "map_rows", "spill_threshold", "ROWS_PER_CHUNK"]

ROWS_PER_CHUNK = 4096
MEMORY_SHARE = 0.25  # a result larger than this share of physical memory is kept on disk


def spill_threshold() -> int:
    """Bytes above which an array derived from a memory map is written to disk (a quarter of RAM)."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") * MEMORY_SHARE)
    except (ValueError, OSError, AttributeError):  # not a POSIX system: assume 16 GiB of memory
        return int((16 << 30) * MEMORY_SHARE)


def _spills(array: np.ndarray, nbytes: int, spill_bytes: int | None) -> bool:
    limit = spill_threshold() if spill_bytes is None else spill_bytes
    return isinstance(array, np.memmap) and getattr(array, "filename", None) is not None and nbytes > limit


def _scratch(source: np.memmap, dtype: np.dtype, shape: tuple[int, ...]) -> np.memmap:
    """An unlinked memory-mapped file beside ``source``'s (so on the same disk as the data)."""
    folder = Path(source.filename).parent
    handle, name = tempfile.mkstemp(dir=folder, prefix=".derived-", suffix=".u8")
    os.close(handle)
    try:
        out = np.memmap(name, dtype=dtype, mode="w+", shape=shape)
    finally:
        os.unlink(name)  # the mapping keeps the pages; the name goes now
    return out


def take_rows(array: np.ndarray, indices: np.ndarray, *, spill_bytes: int | None = None) -> np.ndarray:
    """``array[indices]``, written to a memory map when ``array`` is one and the rows are large.

    Args:
        array: the source, samples on axis 0.
        indices: row indices or a boolean mask.
        spill_bytes: size above which the rows go to disk (None: `spill_threshold`).
    """
    indices = np.flatnonzero(indices) if np.asarray(indices).dtype == np.bool_ else np.asarray(indices)
    row_bytes = int(np.prod(array.shape[1:], dtype=np.int64)) * array.dtype.itemsize
    if not _spills(array, len(indices) * row_bytes, spill_bytes):
        return array[indices]
    out = _scratch(array, array.dtype, (len(indices), *array.shape[1:]))
    for start in range(0, len(indices), ROWS_PER_CHUNK):
        chunk = indices[start:start + ROWS_PER_CHUNK]
        out[start:start + len(chunk)] = array[chunk]
    return out


def map_rows(array: np.ndarray, function: Callable[[np.ndarray], np.ndarray], dtype: np.dtype | type, *,
             spill_bytes: int | None = None) -> np.ndarray | None:
    """``function`` applied to ``array`` block by block into a memory map of ``dtype``; None
    when ``array`` is not a large memory map (then the caller computes in memory)."""
    dtype = np.dtype(dtype)
    if not _spills(array, array.size * dtype.itemsize, spill_bytes):
        return None
    out = _scratch(array, dtype, array.shape)
    for start in range(0, len(array), ROWS_PER_CHUNK):
        out[start:start + ROWS_PER_CHUNK] = function(np.asarray(array[start:start + ROWS_PER_CHUNK]))
    return out

"""The on-disk cache of decoded images: each file is decoded once, then read from a uint8 file.

Layout: ``<cache_dir>/<source name>-<hash of its absolute path>/`` holds ``headers.json`` (the
width, height and gray flag of the files whose headers were read: the sample that chooses the
default size and channels) and, per ``(image_size, fit, channels)``, an index
``<h>x<w>-<fit>-<c>ch.json`` and the pixels it names, ``<h>x<w>-<fit>-<c>ch-<token>.u8``: raw
``(rows, channels, height, width)`` uint8. Every file's rows are keyed by ``(path, size in bytes,
mtime_ns)``: a changed or added file is decoded alone, rows of unchanged files are copied from
the previous pixels file, removed files are dropped. The index also lists the rows whose file is
in colour (read from the image's mode while decoding, at no extra cost), so the caller learns
whether every image is grayscale without a pass over the headers. Files that failed to decode
are remembered too, so a second load opens no image at all.

Writes never leave a cache that reads as valid but is wrong: pixels go to a new file under a
fresh token, the index (written to a temporary file, then ``os.replace``) is the last step and
the only thing that points at them, and an index that does not parse, or whose pixels file is
missing or of the wrong length, is ignored and rebuilt. Decoding runs in a pool of processes
(forked on Linux), each handed chunks of files; a worker opens the pixels file with
``np.memmap(mode="r+")`` and writes its rows itself, so pixels are never pickled back.

Example:
    >>> import tempfile, pathlib
    >>> from PIL import Image
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> Image.new("L", (4, 4), 7).save(folder / "a.png")
    >>> files = [image_file("a.png", folder / "a.png")]
    >>> pixels, kept, errors, all_gray = decode_cached(files, folder / "cache", (2, 2), "pad", 1, num_workers=1)
    >>> pixels.shape, pixels[0, 0].tolist(), kept, errors, all_gray
    ((1, 1, 2, 2), [[7, 7], [7, 7]], [0], {}, True)
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import multiprocessing
import os
import sys
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
from topnet.data.image_decode import decode_image_and_mode, read_header

__all__ = ["ImageFile", "image_file", "default_cache_dir", "cache_folder", "cpu_count", "read_headers",
           "decode_cached"]

log = logging.getLogger(__name__)
INDEX_VERSION = 2  # 2: indexes list their colour rows
_MIN_FILES_PER_WORKER = 32  # fewer files than this per worker: decode in this process
_MAX_CHUNK = 256  # files per task handed to a worker
_STALE_S = 3600  # an unreferenced pixels or temporary file this old was left by a killed load
_COPY_BYTES = 64 << 20  # rows copied from the previous pixels file per block


@dataclass(frozen=True)
class ImageFile:
    """One image: ``path`` as reported (relative to the source), ``file`` on disk, and the
    ``size`` and ``mtime_ns`` that, with ``path``, key its cached rows."""

    path: str
    file: str
    size: int
    mtime_ns: int

    @property
    def key(self) -> tuple[str, int, int]:
        return (self.path, self.size, self.mtime_ns)


def image_file(path: str, file: str | os.PathLike) -> ImageFile:
    """`ImageFile` for ``file`` from ``os.stat``; FileNotFoundError when it is missing."""
    stat = os.stat(file)
    return ImageFile(path, os.fspath(file), stat.st_size, stat.st_mtime_ns)


def default_cache_dir() -> Path:
    """``$TOPNET_CACHE``, else ``$XDG_CACHE_HOME/topnet/images``, else ``~/.cache/topnet/images``."""
    if os.environ.get("TOPNET_CACHE"):
        return Path(os.environ["TOPNET_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "topnet" / "images"


def cache_folder(cache_dir: str | os.PathLike | None, source: Path) -> Path:
    """The folder caching ``source`` (an absolute path): its name plus a hash of the path."""
    digest = hashlib.sha256(str(source).encode()).hexdigest()[:16]
    name = "".join(c if c.isalnum() or c in "._-" else "_" for c in source.name)[:40]
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    return root / f"{name}-{digest}"


def cpu_count() -> int:
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def _map_chunks(function: Callable[..., list], items: list, num_workers: int, *args: Any) -> list:
    """``function(chunk, *args)`` over chunks of ``items`` in a process pool; results in order."""
    workers = min(num_workers, math.ceil(len(items) / _MIN_FILES_PER_WORKER))
    if workers <= 1 or multiprocessing.current_process().daemon:  # a daemon process may not start children
        return function(items, *args)
    size = max(1, min(_MAX_CHUNK, math.ceil(len(items) / (4 * workers))))  # ~4 chunks per worker balance load
    context = multiprocessing.get_context("fork") if sys.platform.startswith("linux") else None
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        futures = [pool.submit(function, items[i:i + size], *args) for i in range(0, len(items), size)]
        return [result for future in futures for result in future.result()]


def _error(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"


def _header_chunk(files: list[str]) -> list[tuple[int, int, bool] | str]:
    results: list[tuple[int, int, bool] | str] = []
    for file in files:
        try:
            results.append(read_header(file))
        except Exception as error:  # noqa: BLE001 - any failure is reported per file, never fatal here
            results.append(_error(error))
    return results


def _decode_chunk(tasks: list[tuple[int, str]], data: str, shape: tuple[int, ...], image_size: tuple[int, int],
                  fit: str, channels: int) -> list[tuple[dict[int, str], list[int]]]:
    """Decode ``(row, file)`` tasks straight into the pixels file; returns ``[({row: error}, colour
    rows)]`` (one pair, so that `_map_chunks` gives one per chunk)."""
    mapped = np.memmap(data, np.uint8, "r+", shape=shape)  # (rows, channels, height, width)
    pixels = mapped.view(np.ndarray)  # the same memory, without np.memmap's per-row indexing overhead
    failures, colour = {}, []
    for row, file in tasks:
        try:
            pixels[row], gray = decode_image_and_mode(file, image_size, fit, channels)
        except Exception as error:  # noqa: BLE001 - a bad file is reported, the others still decode
            failures[row] = _error(error)
        else:
            if not gray:
                colour.append(row)
    mapped.flush()
    del pixels, mapped
    return [(failures, colour)]


def _write_json(path: Path, value: Any) -> None:
    """Write through a temporary file and ``os.replace``: readers see the old or the new file."""
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    temporary.write_text(json.dumps(value, separators=(",", ":")))
    os.replace(temporary, path)


def _read_json(path: Path) -> dict | None:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        if path.exists():
            log.info("ignoring the unreadable cache index %s (%s); rebuilding it", path, error)
        return None
    return value if isinstance(value, dict) and value.get("version") == INDEX_VERSION else None


def read_headers(files: list[ImageFile], folder: Path, num_workers: int) -> list[tuple[int, int, bool] | str]:
    """``(width, height, is_gray)`` of each file, or its error text; cached in ``headers.json``,
    which then holds these files only."""
    known = (_read_json(folder / "headers.json") or {}).get("files", {})
    results: list[Any] = [None] * len(files)
    for i, file in enumerate(files):
        entry = known.get(file.path) if isinstance(known, dict) else None
        if isinstance(entry, list) and entry[:2] == [file.size, file.mtime_ns] and len(entry) in (3, 5):
            results[i] = entry[2] if len(entry) == 3 else (int(entry[2]), int(entry[3]), bool(entry[4]))
    todo = [i for i, result in enumerate(results) if result is None]
    if todo:
        for i, result in zip(todo, _map_chunks(_header_chunk, [files[i].file for i in todo], num_workers)):
            results[i] = result
        entries = {f.path: [f.size, f.mtime_ns, *(r if isinstance(r, tuple) else [r])] for f, r in zip(files, results)}
        folder.mkdir(parents=True, exist_ok=True)
        _write_json(folder / "headers.json", {"version": INDEX_VERSION, "files": entries})
    return results


def _read_index(path: Path, settings: dict, row_bytes: int) -> dict | None:
    """The index at ``path`` if it matches ``settings`` and its pixels file has the right length."""
    index = _read_json(path)
    try:
        if index is None or any(index[key] != value for key, value in settings.items()):
            return None
        rows, bad = [tuple(r) for r in index["rows"]], {tuple(b[:3]): str(b[3]) for b in index["bad"]}
        colour = {int(row) for row in index["colour"]}
        name = index["data"]
        if rows and not (isinstance(name, str) and name.startswith(f"{path.stem}-") and name.endswith(".u8")
                         and name == os.path.basename(name)):  # only ever a pixels file beside the index
            raise ValueError(f"pixels file {name!r} is not a {path.stem}-*.u8 file in {path.parent}")
        data = path.parent / name if rows else None
        if data is not None and data.stat().st_size != len(rows) * row_bytes:
            raise ValueError(f"{data} has {data.stat().st_size} bytes; expected {len(rows) * row_bytes}")
    except (KeyError, TypeError, ValueError, IndexError, OSError) as error:
        log.info("ignoring the cache index %s (%s); rebuilding it", path, error)
        return None
    return {"rows": rows, "bad": bad, "colour": colour, "data": data}


def _open(data: Path | None, shape: tuple[int, ...]) -> np.ndarray:
    """The pixels as a read-only memmap (an empty read-only array when there are none)."""
    if shape[0] == 0 or data is None:
        empty = np.zeros(shape, np.uint8)
        empty.flags.writeable = False
        return empty
    return np.memmap(data, np.uint8, "r", shape=shape)


def _copy_rows(old: Path, old_shape: tuple[int, ...], new: Path, new_shape: tuple[int, ...],
               pairs: list[tuple[int, int]]) -> None:
    """Copy rows ``old[src] -> new[dst]`` for ``(dst, src)`` pairs, a block of rows at a time."""
    if not pairs:
        return
    source, target = np.memmap(old, np.uint8, "r", shape=old_shape), np.memmap(new, np.uint8, "r+", shape=new_shape)
    block = max(1, _COPY_BYTES // max(1, math.prod(new_shape[1:])))
    pairs_array = np.asarray(pairs, np.int64)
    for start in range(0, len(pairs_array), block):
        dst, src = pairs_array[start:start + block].T
        target[dst] = source[src]
    target.flush()
    del source, target


def _compact(data: Path, shape: tuple[int, ...], keep: list[int]) -> None:
    """Move rows ``keep`` (increasing) to the front, in order, and cut the file after them."""
    pixels = np.memmap(data, np.uint8, "r+", shape=shape)
    block = max(1, _COPY_BYTES // max(1, math.prod(shape[1:])))
    for start in range(0, len(keep), block):  # keep[i] >= i: a block never reads rows already overwritten
        rows = keep[start:start + block]
        pixels[start:start + len(rows)] = pixels[rows]
    pixels.flush()
    del pixels
    os.truncate(data, len(keep) * math.prod(shape[1:]))


def _remove_stale(folder: Path, stem: str, keep: str | None, old: Path | None) -> None:
    """Delete the pixels this load replaced and leftovers of killed loads (older than an hour)."""
    now = time.time()
    for path in folder.iterdir():
        leftover = path.name.startswith(f"{stem}-") or path.name.endswith(".tmp")
        try:
            if path.name != keep and (path == old or (leftover and now - path.stat().st_mtime > _STALE_S)):
                path.unlink()
        except OSError:  # removed by a concurrent load, or in use elsewhere (Windows)
            pass


def decode_cached(files: list[ImageFile], folder: Path, image_size: tuple[int, int], fit: str, channels: int,
                  num_workers: int) -> tuple[np.ndarray, list[int], dict[int, str], bool]:
    """Decode ``files`` into the cache at ``folder``, decoding only those not cached yet.

    Returns:
        ``(pixels, kept, errors, all_gray)``: a read-only ``(len(kept), channels, height,
        width)`` uint8 memmap; the indices into ``files`` of its rows, in order; ``{index:
        error}`` for files that could not be decoded; whether every decoded file is grayscale
        (by its mode, as `read_header` tells).
    """
    stem = f"{image_size[0]}x{image_size[1]}-{fit}-{channels}ch"
    row_shape = (channels, *image_size)
    settings = {"image_size": list(image_size), "fit": fit, "channels": channels}
    old = _read_index(folder / f"{stem}.json", settings, math.prod(row_shape))
    errors = {i: old["bad"][f.key] for i, f in enumerate(files) if old and f.key in old["bad"]}
    plan = [i for i in range(len(files)) if i not in errors]  # the rows of the new pixels file, in order
    if old and [files[i].key for i in plan] == old["rows"]:
        return _open(old["data"], (len(plan), *row_shape)), plan, errors, not old["colour"]
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / f"{stem}-{uuid.uuid4().hex[:12]}.u8"  # new pixels: no index points here until it is complete
    try:
        failures, colour = _fill(data, [files[i] for i in plan], old, row_shape, (image_size, fit, channels),
                                 num_workers)
    except BaseException:
        data.unlink(missing_ok=True)
        raise
    errors.update({plan[row]: error for row, error in failures.items()})
    rows = [row for row in range(len(plan)) if row not in failures]  # rows of the file once compacted
    kept = [plan[row] for row in rows]
    if not kept:
        data.unlink()
    _write_json(folder / f"{stem}.json", {"version": INDEX_VERSION, **settings, "data": data.name if kept else None,
                                          "rows": [files[i].key for i in kept],
                                          "colour": [j for j, row in enumerate(rows) if row in colour],
                                          "bad": [[*files[i].key, error] for i, error in sorted(errors.items())]})
    _remove_stale(folder, stem, data.name, old["data"] if old else None)
    return _open(data if kept else None, (len(kept), *row_shape)), kept, errors, not colour


def _fill(data: Path, files: list[ImageFile], old: dict | None, row_shape: tuple[int, ...], settings: tuple,
          num_workers: int) -> tuple[dict[int, str], set[int]]:
    """Write one row per file to ``data``: copied from the ``old`` pixels when cached, else decoded.

    Returns ``({row: error}, colour rows)``: files that failed (their rows are cut out of the
    file) and the rows whose file is in colour, both numbered before that cut.
    """
    shape = (len(files), *row_shape)
    with open(data, "wb") as handle:
        handle.truncate(math.prod(shape))
    old_rows = {key: row for row, key in enumerate(old["rows"])} if old else {}
    reused = [(row, old_rows[file.key]) for row, file in enumerate(files) if file.key in old_rows]
    if reused:
        _copy_rows(old["data"], (len(old["rows"]), *row_shape), data, shape, reused)
    colour = {row for row, old_row in reused if old_row in old["colour"]}
    tasks = [(row, file.file) for row, file in enumerate(files) if file.key not in old_rows]
    outcomes = _map_chunks(_decode_chunk, tasks, num_workers, str(data), shape, *settings) if tasks else []
    failures: dict[int, str] = {}
    for chunk_failures, chunk_colour in outcomes:
        failures.update(chunk_failures)
        colour.update(chunk_colour)
    if failures:
        _compact(data, shape, [row for row in range(len(files)) if row not in failures])
    return failures, colour

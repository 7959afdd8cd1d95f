"""Atomic file writes: a file is written whole under its real name, or not at all.

Every file is written to a temporary name in the same directory (``.NAME.XXXXXXXX.tmp``),
flushed, fsynced and renamed over the old one, so a crash mid-write never leaves a
half-written file under the real name. ``remove_leftovers`` clears the temporary files of
writers that were killed. ``topnet.io`` re-exports these names.

Example:
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "notes.txt"
    >>> atomic_write_text(target, "hello")
    >>> target.read_text()
    'hello'
"""
from __future__ import annotations

import contextlib
import glob
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_writer", "atomic_write_bytes", "atomic_write_text", "write_json", "remove_leftovers"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem lets a directory be opened
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success fsync it and rename it to ``path``.

    On any exception the temporary file is removed and ``path`` is left as it was.

    Example:
        >>> import tempfile, pathlib
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
        >>> with atomic_writer(target, "w") as f:
        ...     _ = f.write("hello")
        >>> target.read_text()
        'hello'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
        _fsync_dir(path.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file, fsync, rename)."""
    with atomic_writer(path, "wb") as handle:
        handle.write(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, document: Any, *, sort_keys: bool = False) -> Path:
    """Write ``document`` to ``path`` as indented JSON, atomically (keys in the document's order
    unless ``sort_keys``).

    Tuples and sets become lists, paths strings, numpy and torch values plain numbers or lists;
    anything else is written as its ``repr``.

    Example:
        >>> import tempfile, pathlib
        >>> file = write_json(pathlib.Path(tempfile.mkdtemp()) / "a.json", {"b": (1, 2), "a": pathlib.Path("x")},
        ...                   sort_keys=True)
        >>> json.loads(file.read_text())
        {'a': 'x', 'b': [1, 2]}
    """
    target = Path(path)
    atomic_write_text(target, json.dumps(document, indent=2, sort_keys=sort_keys, default=_plain_json) + "\n")
    return target


def _plain_json(value: Any) -> Any:
    if isinstance(value, (tuple, set)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):  # numpy arrays and scalars, torch tensors
        return value.tolist()
    return repr(value)


def remove_leftovers(directory: str | os.PathLike, prefix: str = "") -> list[Path]:
    """Remove the temporary files that atomic writes of files named ``prefix...`` in ``directory``
    left behind when their process was killed mid-write; return what was removed.

    Call it when a run (re)starts, before its first write: a temporary file of a live writer in
    the same directory would be removed too.

    Example:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (folder / ".backup.pt.x1y2.tmp").write_bytes(b"half")
        >>> [p.name for p in remove_leftovers(folder, "backup")]
        ['.backup.pt.x1y2.tmp']
    """
    directory = Path(directory)
    if not directory.is_dir():
        return []
    leftovers = sorted(directory.glob(f".{glob.escape(prefix)}*.tmp"))  # atomic_writer's names: .NAME.XXXXXXXX.tmp
    for leftover in leftovers:
        leftover.unlink(missing_ok=True)
    return leftovers

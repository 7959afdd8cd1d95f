"""Read a folder of ``.txt`` files, one subfolder per class, into `Splits` of texts.

Layouts, as Keras's ``text_dataset_from_directory`` reads them:

* ``reviews/neg/1.txt``, ``reviews/pos/2.txt``: one subfolder per class; class names are the
  sorted folder names, labels their indices; files are searched recursively in each.
* ``aclImdb/train/neg/...``, ``aclImdb/test/pos/...`` (the IMDB archive's layout): a ``train/``
  folder of class subfolders, and optionally ``test/``, give ``Splits(train=..., test=...)``
  with the train classes; a class missing from test is fine, one train lacks is an error.
  Files beside ``train/`` and ``test/`` (IMDB's ``README``, ``imdb.vocab``) are ignored. IMDB's
  ``train/unsup/`` (unlabelled reviews) is a class like any other, as in Keras: pass
  ``class_names=["neg", "pos"]`` to leave it out.

``class_names`` picks the subfolders and their order (labels are their positions). Only ``.txt``
files count (any case); hidden files and folders are skipped. Empty files are kept as ``""``
(with a warning), a UTF-8 byte-order mark is dropped, and a file that does not decode raises a
`DataError` naming it and the byte. ``x`` is a 1-D object array of str; `vectorize_text` turns
it into token ids.

Example:
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> for path, text in [("neg/a.txt", "Dull."), ("pos/b.txt", "Great fun!"), ("pos/c.TXT", "Loved it")]:
    ...     (root / path).parent.mkdir(exist_ok=True)
    ...     _ = (root / path).write_text(text)
    >>> data = read_text_folder(root).train
    >>> data.x.tolist(), data.y.tolist(), data.class_names, data.meta["paths"][0]
    (['Dull.', 'Great fun!', 'Loved it'], [0, 1, 1], ('neg', 'pos'), 'neg/a.txt')
"""
from __future__ import annotations

import codecs
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from topnet.data.dataset import Dataset, Splits
from topnet.errors import DataError, format_message

__all__ = ["TEXT_SUFFIX", "is_text_folder", "read_text_folder"]

TEXT_SUFFIX = ".txt"
LAYOUT = "one subfolder per class, each holding .txt files (e.g. reviews/neg/1.txt, reviews/pos/2.txt)"


def _hidden(name: str) -> bool:
    return name.startswith(".") or name == "__MACOSX"


def _image_suffixes() -> tuple[str, ...]:
    try:
        from topnet.data.image_decode import IMAGE_SUFFIXES
    except ImportError:  # no Pillow: the same list, so a folder of images is still told apart
        return (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")
    return IMAGE_SUFFIXES


def _subfolders(folder: Path) -> list[Path]:
    return sorted(Path(e.path) for e in os.scandir(folder) if e.is_dir() and not _hidden(e.name))


def _walk(folder: Path, suffixes: tuple[str, ...]) -> list[str]:
    """Files under ``folder`` (recursively, hidden ones skipped) whose suffix is in ``suffixes``, sorted."""
    found = []
    for parent, folders, names in os.walk(folder):
        folders[:] = [name for name in folders if not _hidden(name)]
        found += [os.path.join(parent, name) for name in names
                  if not _hidden(name) and os.path.splitext(name)[1].lower() in suffixes]
    return sorted(found)


def _class_root(root: Path) -> tuple[Path, Path | None]:
    """(the folder of train classes, the folder of test classes or None)."""
    train = root / "train"
    if train.is_dir() and any(_walk(folder, (TEXT_SUFFIX,)) for folder in _subfolders(train)):
        test = root / "test"
        return train, test if test.is_dir() else None
    return root, None


def is_text_folder(path: str | os.PathLike) -> bool:
    """Whether ``path`` (or its ``train/``) holds class subfolders of ``.txt`` files and no images."""
    root = Path(path).expanduser()
    if not root.is_dir():
        return False
    base, _ = _class_root(root)
    images, has_text = _image_suffixes(), False
    for folder in _subfolders(base):
        for parent, folders, names in os.walk(folder):
            folders[:] = [name for name in folders if not _hidden(name)]
            suffixes = {os.path.splitext(name)[1].lower() for name in names if not _hidden(name)}
            if suffixes & set(images):
                return False  # a folder of images, perhaps with a README.txt
            has_text = has_text or TEXT_SUFFIX in suffixes
    return has_text


def _check_options(class_names: Any, encoding: str, errors: str, max_files_per_class: int | None) -> None:
    names = None if class_names is None or isinstance(class_names, str) else list(class_names)
    if class_names is not None and (names is None or not all(isinstance(n, str) for n in names)
                                    or len(set(names)) != len(names)):
        raise ValueError(format_message("class_names", class_names, "None or a list of distinct folder names",
                                        "e.g. class_names=['neg', 'pos']"))
    try:
        codecs.lookup(encoding)
    except (LookupError, TypeError):
        raise ValueError(format_message("encoding", encoding, "a Python codec name",
                                        "e.g. 'utf-8' or 'latin-1'")) from None
    try:
        codecs.lookup_error(errors)
    except (LookupError, TypeError):
        raise ValueError(format_message("errors", errors, "a codec error handler: 'strict', 'replace', 'ignore', "
                                        "'backslashreplace' or 'surrogateescape'")) from None
    if max_files_per_class is not None and (isinstance(max_files_per_class, bool)
                                            or not isinstance(max_files_per_class, int) or max_files_per_class < 1):
        raise ValueError(format_message("max_files_per_class", max_files_per_class, "an int >= 1 or None"))


def _classes(folder: Path, class_names: Sequence[str] | None, where: str, required: bool) -> dict[str, list[str]]:
    """``{class name: .txt paths}`` of ``folder``'s class subfolders (those of ``class_names`` only, if given)."""
    found = {f.name: f for f in _subfolders(folder)}
    if class_names is not None:
        absent = [name for name in class_names if name not in found]
        if absent and required:
            raise DataError(format_message("class_names", list(class_names), f"names of subfolders of {folder}; "
                                           f"there is no folder for {absent}", f"available: {sorted(found)}"))
        found = {name: found[name] for name in class_names if name in found}
    classes = {name: _walk(sub, (TEXT_SUFFIX,)) for name, sub in found.items()}
    empty = [name for name, files in classes.items() if not files]
    if empty:
        raise DataError(f"{folder}: class folder(s) {empty} hold no .txt files; expected {LAYOUT}; "
                        f"add .txt files or leave the class out with class_names=[...]")
    if required and len(classes) < 2:
        got = f"only the class {next(iter(classes))!r}" if classes else "no class subfolders"
        raise DataError(f"{where}: found {got}; expected {LAYOUT}, at least two classes")
    return classes


def _read(file: str, encoding: str, errors: str) -> str:
    with open(file, "rb") as handle:
        data = handle.read()
    try:
        text = data.decode(encoding, errors)
    except UnicodeDecodeError as error:
        byte = data[error.start:error.start + 1].hex()
        raise DataError(f"{file}: byte 0x{byte} at offset {error.start} is not valid {encoding} ({error.reason}); "
                        f"expected {encoding} text; pass encoding='latin-1' (or the file's encoding) or "
                        "errors='replace'") from None
    return text.removeprefix("\ufeff")  # a byte-order mark is no part of the text


def _dataset(root: Path, classes: dict[str, list[str]], names: tuple[str, ...], encoding: str, errors: str,
             limit: int | None, empty: list[str]) -> Dataset:
    files = [(names.index(name), file) for name, paths in classes.items() for file in paths[:limit]]
    files.sort(key=lambda item: item[0])  # rows grouped by label, in class order
    texts = np.empty(len(files), dtype=object)
    for i, (_, file) in enumerate(files):
        texts[i] = _read(file, encoding, errors)
        if not texts[i]:
            empty.append(file)
    return Dataset(x=texts, y=np.array([label for label, _ in files], np.int64), class_names=names, name=root.name,
                   meta={"paths": [os.path.relpath(file, root).replace(os.sep, "/") for _, file in files],
                         "kind": "text"})


def read_text_folder(path: str | os.PathLike, *, class_names: Sequence[str] | None = None, encoding: str = "utf-8",
                     errors: str = "strict", max_files_per_class: int | None = None) -> Splits:
    """Read ``path/<class>/*.txt`` (or ``path/train/<class>/*.txt`` and ``path/test/...``) into `Splits`.

    Args:
        path: the folder.
        class_names: the class subfolders to read, in label order; None: every subfolder, sorted.
        encoding: the files' text encoding (any Python codec).
        errors: what to do with bytes that do not decode: ``"strict"`` (a `DataError`),
            ``"replace"``, ``"ignore"`` or any other codec error handler.
        max_files_per_class: read at most this many files of each class (the first, sorted).

    Returns:
        ``Splits(train=...)``, with ``test`` for a ``train/`` + ``test/`` layout; each `Dataset`
        has ``x`` (object array of str), ``y`` (int64 class ids), ``class_names`` and
        ``meta={"paths": [one path per row, relative to path], "kind": "text"}``.

    Raises:
        DataError: a folder that is not one of the layouts (fewer than two classes, a class
            without .txt files, a test class train lacks, an unknown ``class_names`` entry) or a
            file that does not decode.
        ValueError: an unknown ``encoding`` or ``errors``, a bad ``max_files_per_class``.

    Warns:
        UserWarning: once, when some files are empty (kept as ``""``), with their count.
    """
    _check_options(class_names, encoding, errors, max_files_per_class)
    class_names = None if class_names is None else list(class_names)
    root = Path(os.path.abspath(Path(path).expanduser()))
    if not root.is_dir():
        raise DataError(format_message("path", os.fspath(path), f"an existing folder with {LAYOUT}"))
    train_folder, test_folder = _class_root(root)
    train = _classes(train_folder, class_names, str(root), required=True)
    names = tuple(class_names) if class_names is not None else tuple(train)
    test = _classes(test_folder, class_names, str(test_folder), required=False) if test_folder else {}
    unknown = sorted(set(test) - set(names))
    if unknown:
        raise DataError(f"{test_folder}: class folder(s) {unknown} are not in train ({list(names)}); expected test "
                        "classes that train has; rename them, or pick classes with class_names=[...]")
    empty: list[str] = []
    parts = {"train": _dataset(root, train, names, encoding, errors, max_files_per_class, empty)}
    if test:
        parts["test"] = _dataset(root, test, names, encoding, errors, max_files_per_class, empty)
    if empty:
        warnings.warn(f"{root}: {len(empty)} empty .txt file(s), kept as empty texts (first: {empty[0]})",
                      UserWarning, stacklevel=2)
    return Splits(**parts)

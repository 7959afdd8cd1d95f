"""Which files a source of images holds, with which labels and splits.

A folder of class subfolders (``photos/cat/1.jpg``), a folder of split folders each holding
class subfolders (``photos/train/cat/1.jpg``, ``photos/test/dog/2.png``; also ``valid/`` (or
``val/``, ``validation/``) and ``blend/``), or a manifest (``.csv`` / ``.tsv`` / ``.parquet``)
with a path column (relative to the manifest's folder, or absolute), a label column and an
optional split column. Rows come grouped by split (train, valid, blend, test), so each split is
one contiguous block of the decoded array. Hidden files and folders (``.DS_Store``,
``.ipynb_checkpoints``, ``__MACOSX``) are skipped silently; other non-image files and empty
class folders are skipped with a note in ``Listing.ignored``.

Example:
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> for path in ["train/cat/1.png", "train/dog/2.png", "test/dog/3.png", "train/README.md"]:
    ...     (root / path).parent.mkdir(parents=True, exist_ok=True)
    ...     _ = (root / path).write_bytes(b"")
    >>> listing = folder_listing(root)
    >>> listing.paths, listing.labels, listing.splits, listing.class_names
    (['train/cat/1.png', 'train/dog/2.png', 'test/dog/3.png'], [0, 1, 1], ['train', 'train', 'test'], ('cat', 'dog'))
    >>> listing.ignored[0][:40], listing.ignored[0].endswith("train/README.md")
    ('ignored 1 file(s) that are not images (b', True)
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from topnet.data.image_decode import IMAGE_SUFFIXES
from topnet.errors import DataError, format_message

__all__ = ["Listing", "folder_listing", "manifest_listing", "unlabelled", "read_table", "MANIFEST_SUFFIXES",
           "SPLIT_NAMES", "SPLITS"]

log = logging.getLogger(__name__)
MANIFEST_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq")
SPLIT_NAMES = {"train": "train", "valid": "valid", "validation": "valid", "val": "valid", "blend": "blend",
               "test": "test"}
SPLITS = ("train", "valid", "blend", "test")
LAYOUT = ("one subfolder per class, each holding images (e.g. photos/cat/1.jpg, photos/dog/2.jpg), "
          "at least two classes")
PREDICT = "to predict on images without labels, use `topnet predict --run RUN FOLDER`"


@dataclass
class Listing:
    """The labelled images of a source, grouped by split: what to decode and how to label it."""

    paths: list[str] = field(default_factory=list)  # as reported: relative to the source
    files: list[str | Path] = field(default_factory=list)  # on disk
    labels: list[int] = field(default_factory=list)
    splits: list[str] = field(default_factory=list)
    class_names: tuple[str, ...] = ()
    ignored: list[str] = field(default_factory=list)


def _hidden(name: str) -> bool:
    return name.startswith(".") or name == "__MACOSX"


def _relative(path: str, root: Path) -> str:
    return os.path.relpath(path, root).replace(os.sep, "/")


def _walk(folder: str, root: Path, others: list[str]) -> list[str]:
    """Image files under ``folder``, recursively, as sorted paths relative to ``root`` (with
    ``/``); other files go to ``others``. Plain strings: pathlib costs more than the stat."""
    found = []
    for parent, folders, names in os.walk(folder):
        folders[:] = [name for name in folders if not _hidden(name)]
        prefix = _relative(parent, root) + "/"
        for name in names:
            if not _hidden(name):
                is_image = os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES
                (found if is_image else others).append(name if prefix == "./" else prefix + name)
    return sorted(found)


def _classes(folder: Path, root: Path, listing: Listing, others: list[str]) -> tuple[dict[str, list[str]], int]:
    """``{class name: image paths}`` of ``folder``'s subfolders, and the count of loose images."""
    classes, loose = {}, 0
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if _hidden(entry.name):
            continue
        if entry.is_dir():
            images = _walk(entry.path, root, others)
            if images:
                classes[entry.name] = images
            else:
                listing.ignored.append(f"ignored the folder {_relative(entry.path, root)}/: it holds no images, "
                                       "so it is not a class")
        elif os.path.splitext(entry.name)[1].lower() in IMAGE_SUFFIXES:
            loose += 1
        else:
            others.append(_relative(entry.path, root))
    if loose and classes:
        where = "the folder" if folder == root else _relative(str(folder), root)
        listing.ignored.append(f"ignored {loose} image(s) directly in {where}/: not in a class subfolder, so "
                               "they have no label")
    return classes, loose


def _split_folders(root: Path) -> dict[str, Path] | None:
    """``{split: folder}`` when every subfolder of ``root`` is a split name and one is train."""
    folders = [Path(e.path) for e in os.scandir(root) if e.is_dir() and not _hidden(e.name)]
    if not folders or any(f.name.lower() not in SPLIT_NAMES for f in folders):
        return None
    found: dict[str, Path] = {}
    for folder in sorted(folders):
        split = SPLIT_NAMES[folder.name.lower()]
        if split in found:
            raise DataError(f"{root}: both {found[split].name}/ and {folder.name}/ name the {split} split; "
                            "expected one folder per split; merge or rename one")
        found[split] = folder
    return found if "train" in found else None


def folder_listing(root: Path) -> Listing:
    """The images of a folder of class subfolders, or of split folders holding class subfolders.

    Raises:
        DataError: fewer than two classes with images, explaining the layout expected.
    """
    listing, others = Listing(), []
    splits = _split_folders(root) or {"train": root}
    per_split = {}
    for split, folder in splits.items():
        per_split[split], loose = _classes(folder, root, listing, others)
        if split == "train" and len(splits) == 1 and len(per_split[split]) < 2:
            _layout_error(root, per_split[split], loose)
    names = sorted({name for classes in per_split.values() for name in classes})
    if len(names) < 2:
        _layout_error(root, dict.fromkeys(names), 0)
    for split in sorted(per_split, key=SPLITS.index):
        for name, images in per_split[split].items():
            listing.paths += images
            listing.files += [os.path.join(root, path) for path in images]
            listing.labels += [names.index(name)] * len(images)
            listing.splits += [split] * len(images)
    if others:
        shown = ", ".join(sorted(others)[:3]) + (", ..." if len(others) > 3 else "")
        listing.ignored.append(f"ignored {len(others)} file(s) that are not images (by extension; expected "
                               f"{' '.join(IMAGE_SUFFIXES)}): {shown}")
    listing.class_names = tuple(names)
    return listing


TEXT_LAYOUT = ", or for text one subfolder per class of .txt files (e.g. reviews/neg/1.txt, reviews/pos/2.txt)"


def _layout_error(root: Path, classes: dict, loose: int) -> None:
    after = f"; {PREDICT}"
    if loose and not classes:
        found = f"{loose} image(s) directly in the folder and no class subfolders"
    elif classes:
        found = f"only one class with images ({next(iter(classes))!r})"
    else:  # neither images nor .txt files (`is_text_folder` sends those to read_text_folder)
        found, after = "no images and no .txt files", TEXT_LAYOUT
    raise DataError(f"{root}: found {found}; expected {LAYOUT}{after}")


def read_table(path: Path, columns: list[str], required: list[str], text: tuple[str, ...] = ()) -> dict[str, list]:
    """The ``columns`` of a manifest as Python lists (those absent and not required are left out);
    CSV columns in ``text`` are read as strings, not guessed numbers."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            table = pq.read_table(path)
        else:
            delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
            types = {name: pa.string() for name in text}
            table = pacsv.read_csv(path, parse_options=pacsv.ParseOptions(delimiter=delimiter),
                                   convert_options=pacsv.ConvertOptions(column_types=types))
    except (pa.ArrowException, OSError) as error:
        raise DataError(f"{path}: not a readable manifest ({error}); expected a {path.suffix} table with a "
                        f"{required[0]!r} column") from None
    missing = [name for name in required if name not in table.column_names]
    if missing:
        raise DataError(format_message(f"{path}: columns", table.column_names, f"the columns {missing} too",
                                       "name them with path_column= / label_column="))
    return {name: table.column(name).to_pylist() for name in columns if name in table.column_names}


def _nulls(path: Path, column: str, values: list) -> None:
    empty = [i + 1 for i, value in enumerate(values) if value is None or value == ""]
    if empty:
        raise DataError(f"{path}: column {column!r} is empty in row(s) {empty[:5]}; expected a value in every row")


def manifest_listing(path: Path, path_column: str, label_column: str, split_column: str) -> Listing:
    """The rows of a manifest; integer labels sort as numbers, others as text.

    Raises:
        DataError: a missing column, an empty cell, an unknown split value or a single class.
    """
    table = read_table(path, [path_column, label_column, split_column], [path_column, label_column],
                       text=(path_column, split_column))
    paths, labels = table[path_column], table[label_column]
    _nulls(path, path_column, paths)
    _nulls(path, label_column, labels)
    paths = [str(p) for p in paths]
    numeric = all(isinstance(v, int) and not isinstance(v, bool) for v in labels)
    names = sorted(set(labels)) if numeric else sorted({str(v) for v in labels})
    if len(names) < 2:
        raise DataError(format_message(f"{path}: labels in {label_column!r}", names, "at least two classes",
                                       PREDICT))
    ids = {name: i for i, name in enumerate(names)}
    splits = ["train"] * len(paths)
    if split_column in table:
        _nulls(path, split_column, table[split_column])
        for i, value in enumerate(table[split_column]):
            splits[i] = SPLIT_NAMES.get(str(value).strip().lower()) or _unknown_split(path, split_column, i, value)
    order = sorted(range(len(paths)), key=lambda i: SPLITS.index(splits[i]))  # each split's rows contiguous
    return Listing(paths=[paths[i] for i in order], files=[_resolve(path, paths[i]) for i in order],
                   labels=[ids[labels[i] if numeric else str(labels[i])] for i in order],
                   splits=[splits[i] for i in order], class_names=tuple(str(n) for n in names))


def _unknown_split(path: Path, column: str, row: int, value: str) -> str:
    raise DataError(format_message(f"{path}: column {column!r}, row {row + 1}", value,
                                   "train, valid (or validation / val), blend or test (any case)"))


def _resolve(manifest: Path, text: str) -> Path:
    path = Path(text).expanduser()
    return path if path.is_absolute() else manifest.parent / path


def unlabelled(source: Path, path_column: str) -> tuple[list[str], list[Path]]:
    """Paths and files of every image a predict input holds: a folder, a manifest, or one file."""
    if source.is_dir():
        others: list[str] = []
        paths = _walk(str(source), source, others)
        if others:
            log.warning("%s: ignored %d file(s) that are not images", source, len(others))
        return paths, [os.path.join(source, path) for path in paths]
    if source.suffix.lower() in MANIFEST_SUFFIXES:
        paths = read_table(source, [path_column], [path_column], text=(path_column,))[path_column]
        _nulls(source, path_column, paths)
        return [str(p) for p in paths], [_resolve(source, str(p)) for p in paths]
    return [source.name], [source]

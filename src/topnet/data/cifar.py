"""Read CIFAR-10 and CIFAR-100 in their binary or Python (pickle) versions, and unpack their
tarballs safely.

The Python version is a set of pickles. Pickles can run arbitrary code, so they are read with
an unpickler that resolves only the four globals a NumPy array needs and refuses any other with
`UnsafeFileError`; the binary version is plain bytes and needs no such care.

Example (a fake binary CIFAR-10 of one image per file):
    >>> import numpy as np, tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> record = np.zeros(1 + 3072, np.uint8); record[0] = 3  # the label byte, then the pixels
    >>> for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
    ...     record.tofile(folder / name)
    >>> splits = read_cifar(folder)
    >>> splits.train.x.shape, splits.train.x.dtype, splits.train.class_names[3]
    ((5, 3, 32, 32), dtype('uint8'), 'cat')
"""
from __future__ import annotations

import os
import pickle
import tarfile
from pathlib import Path
from typing import Any

import numpy as np

from topnet.data.dataset import Dataset, Splits
from topnet.errors import DataError, UnsafeFileError

__all__ = ["read_cifar", "extract_tar", "CIFAR10_CLASSES"]

CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)
_PIXELS = 3 * 32 * 32
try:  # NumPy 2 moved the module; old pickles (and CIFAR's) name numpy.core.
    from numpy._core.multiarray import _reconstruct
except ImportError:  # pragma: no cover - NumPy 1.x
    from numpy.core.multiarray import _reconstruct

# The only globals a pickled dict of NumPy arrays refers to (protocols 0 to 4).
_SAFE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}
# Layouts: (train files, test files, number of label bytes before each image) per version.
_BINARY = {
    "cifar10": ([f"data_batch_{i}.bin" for i in range(1, 6)], ["test_batch.bin"], 1),
    "cifar100": (["train.bin"], ["test.bin"], 2),
}
_PYTHON = {
    "cifar10": ([f"data_batch_{i}" for i in range(1, 6)], ["test_batch"]),
    "cifar100": (["train"], ["test"]),
}
_FOLDERS = ("cifar-10-batches-bin", "cifar-10-batches-py", "cifar-100-binary", "cifar-100-python")


class _SafeUnpickler(pickle.Unpickler):
    """An unpickler that resolves only NumPy's array constructors."""

    def __init__(self, file: Any, path: Path) -> None:
        super().__init__(file, encoding="bytes")  # CIFAR's pickles come from Python 2
        self.path = path

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _SAFE_GLOBALS:
            return _SAFE_GLOBALS[(module, name)]
        raise UnsafeFileError(
            f"{self.path}: refused to load the global {module}.{name}; expected a pickle of plain "
            "data and NumPy arrays (CIFAR's format); this file may run code when unpickled, so it "
            "was not loaded. Use the binary version of CIFAR, or re-save the arrays with np.savez"
        )


def _unpickle(path: Path) -> dict[str, Any]:
    """A CIFAR pickle as a dict with str keys."""
    try:
        with open(path, "rb") as file:
            content = _SafeUnpickler(file, path).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as error:
        if isinstance(error, UnsafeFileError):
            raise
        raise DataError(f"{path}: not a readable CIFAR pickle ({error}); download it again") from None
    if not isinstance(content, dict):
        raise DataError(f"{path}: got a pickled {type(content).__name__}; expected a dict (CIFAR's format)")
    return {key.decode() if isinstance(key, bytes) else str(key): value for key, value in content.items()}


def _images(data: Any, path: Path) -> np.ndarray:
    """(N, 3072) pixel rows -> uint8 (N, 3, 32, 32), channels first."""
    data = np.asarray(data)
    if data.dtype == object or data.ndim != 2 or data.shape[1] != _PIXELS:
        raise DataError(f"{path}: got image data of shape {data.shape}; expected (N, {_PIXELS}) uint8")
    return data.astype(np.uint8).reshape(-1, 3, 32, 32)


def _read_binary(path: Path, num_label_bytes: int, label_index: int) -> tuple[np.ndarray, np.ndarray]:
    raw = np.fromfile(path, dtype=np.uint8)
    record = num_label_bytes + _PIXELS
    if raw.size == 0 or raw.size % record:
        raise DataError(
            f"{path}: file is truncated or not CIFAR: got {raw.size} bytes; expected a multiple "
            f"of {record} (label bytes + 3072 pixels per image)"
        )
    raw = raw.reshape(-1, record)
    return _images(raw[:, num_label_bytes:], path), raw[:, label_index].astype(np.int64)


def _read_pickle(path: Path, label_key: str) -> tuple[np.ndarray, np.ndarray]:
    content = _unpickle(path)
    missing = [key for key in ("data", label_key) if key not in content]
    if missing:
        raise DataError(f"{path}: missing keys {missing}; found {sorted(content)}")
    return _images(content["data"], path), np.asarray(content[label_key], dtype=np.int64)


def _class_names(root: Path, version: str, fine: bool) -> tuple[str, ...] | None:
    """Class names from the meta file of either version, when present."""
    text_file = root / ("batches.meta.txt" if version == "cifar10" else
                        "fine_label_names.txt" if fine else "coarse_label_names.txt")
    if text_file.is_file():
        return tuple(line.strip() for line in text_file.read_text().splitlines() if line.strip())
    meta_file = root / ("batches.meta" if version == "cifar10" else "meta")
    if meta_file.is_file():
        key = "label_names" if version == "cifar10" else "fine_label_names" if fine else "coarse_label_names"
        names = _unpickle(meta_file).get(key)
        if names is not None:
            return tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)
    return CIFAR10_CLASSES if version == "cifar10" else None


def _detect(path: Path) -> tuple[Path, str, str]:
    """(folder, "cifar10" | "cifar100", "binary" | "python") for a folder or its parent."""
    for root in [path, *(path / folder for folder in _FOLDERS)]:
        for version in ("cifar10", "cifar100"):
            if all((root / f).is_file() for f in _BINARY[version][0] + _BINARY[version][1]):
                return root, version, "binary"
            if all((root / f).is_file() for f in _PYTHON[version][0] + _PYTHON[version][1]):
                return root, version, "python"
    raise DataError(
        f"{path}: no CIFAR files found; expected data_batch_1.bin ... test_batch.bin, "
        "data_batch_1 ... test_batch, train.bin/test.bin or train/test (CIFAR-100), "
        f"in the folder or in one of {list(_FOLDERS)}; unpack the tarball there first"
    )


def read_cifar(path: str | os.PathLike, *, label_mode: str = "fine") -> Splits:
    """Read CIFAR-10 or CIFAR-100 (binary or Python version) from an unpacked folder.

    Args:
        path: the unpacked folder (e.g. ``cifar-10-batches-py``) or the folder holding it.
        label_mode: CIFAR-100 only: ``"fine"`` (100 classes) or ``"coarse"`` (20 superclasses),
            as in Keras.

    Returns:
        ``Splits(train, test)`` with uint8 images ``(N, 3, 32, 32)``, int64 labels and class names.

    Raises:
        DataError: when no CIFAR files are found, or a file is truncated or damaged.
        UnsafeFileError: when a pickle refers to anything but NumPy's array constructors.
        ValueError: for an unknown ``label_mode``.
    """
    if label_mode not in ("fine", "coarse"):
        raise ValueError(f"label_mode: got {label_mode!r}; expected 'fine' or 'coarse'")
    root, version, kind = _detect(Path(path).expanduser())
    fine = label_mode == "fine"
    splits = {}
    for split, index in (("train", 0), ("test", 1)):
        parts = []
        for file in (_BINARY if kind == "binary" else _PYTHON)[version][index]:
            if kind == "binary":
                label_bytes = _BINARY[version][2]
                parts.append(_read_binary(root / file, label_bytes, int(fine and version == "cifar100")))
            else:
                key = "labels" if version == "cifar10" else f"{label_mode}_labels"
                parts.append(_read_pickle(root / file, key))
        splits[split] = (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
    names = _class_names(root, version, fine)
    num_classes = 10 if version == "cifar10" else 100 if fine else 20
    for split, (_, labels) in splits.items():
        if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
            raise DataError(f"{root}: {split} labels span [{labels.min()}, {labels.max()}]; "
                            f"expected 0 to {num_classes - 1} for {version}")
    datasets = {split: Dataset(x=x, y=y, class_names=names, name=version) for split, (x, y) in splits.items()}
    return Splits(train=datasets["train"], test=datasets["test"])


def extract_tar(archive: str | os.PathLike, destination: str | os.PathLike) -> None:
    """Unpack a tarball, refusing absolute paths, ``..``, links and device files.

    Raises:
        UnsafeFileError: naming the first member that would write outside ``destination`` or
            is not a plain file or folder; nothing is written in that case.
    """
    destination = Path(destination)
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        for member in members:
            parts = Path(member.name).parts
            if member.name.startswith(("/", "\\")) or Path(member.name).is_absolute() or ".." in parts:
                raise UnsafeFileError(f"{archive}: member {member.name!r} would be written outside "
                                      "the destination; expected relative paths; not unpacked")
            if not (member.isfile() or member.isdir()):
                raise UnsafeFileError(f"{archive}: member {member.name!r} is a link or special file; "
                                      "expected plain files and folders; not unpacked")
        for member in members:
            target = destination / member.name
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with tar.extractfile(member) as source, open(target, "wb") as out:
                while chunk := source.read(1 << 20):
                    out.write(chunk)

"""Read a dataset from a NumPy ``.npz`` file of named arrays.

By default the labels are the array ``y`` (or ``labels`` / ``label``) and every other array is
an input: ``x`` alone gives a single input array, several arrays give a dict of named inputs
(for multi-input models). Keys with a split suffix (``x_train``, ``y_train``, ``x_test``,
``y_test``; also ``_valid`` / ``_val`` and ``_blend``) give a predefined split. String labels
become class ids with sorted class names; an optional ``class_names`` array names integer ones.

Example:
    >>> import numpy as np, tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "toy.npz"
    >>> np.savez(path, x_train=np.zeros((4, 2)), y_train=np.array([0, 1, 0, 1]),
    ...          x_test=np.ones((2, 2)), y_test=np.array([1, 0]))
    >>> splits = read_npz(path)
    >>> len(splits.train), len(splits.test)
    (4, 2)
"""
from __future__ import annotations

import os
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from topnet.data.dataset import Dataset, Splits
from topnet.errors import DataError, UnsafeFileError, nearest

__all__ = ["read_npz"]

# Key suffix -> split name.
_SUFFIXES = {"_train": "train", "_valid": "valid", "_val": "valid", "_validation": "valid",
             "_blend": "blend", "_test": "test"}
_LABEL_DEFAULTS = ("y", "labels", "label")


def _load_arrays(path: Path) -> dict[str, np.ndarray]:
    with open(path, "rb") as file:
        if not file.read(4).startswith(b"PK"):  # np.load would try to unpickle anything not zip / .npy
            raise DataError(f"{path}: not a .npz file; expected a zip archive of arrays as written "
                            "by np.savez")
    try:
        with np.load(path, allow_pickle=False) as file:
            return {key: file[key] for key in file.files}
    except ValueError as error:
        if "allow_pickle" in str(error) or "Object arrays" in str(error):
            raise UnsafeFileError(
                f"{path}: holds an object array, which can only be loaded by unpickling and may run "
                "code; expected numeric or string arrays; re-save it with arrays of a plain dtype "
                "(e.g. np.asarray(values, dtype=np.float32))"
            ) from None
        raise DataError(f"{path}: not a readable .npz file ({error})") from None
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        if isinstance(error, FileNotFoundError):
            raise
        raise DataError(f"{path}: not a readable .npz file ({error}); expected np.savez output") from None


def _group(arrays: dict[str, np.ndarray], path: Path) -> dict[str, dict[str, np.ndarray]]:
    """Arrays grouped by split, suffixes stripped; one group ``train`` when no key has a suffix."""
    groups: dict[str, dict[str, np.ndarray]] = {}
    loose = []
    for key, array in arrays.items():
        suffix = next((s for s in sorted(_SUFFIXES, key=len, reverse=True) if key.endswith(s)), None)
        if suffix is None or key == suffix[1:]:
            loose.append(key)
        else:
            groups.setdefault(_SUFFIXES[suffix], {})[key[: -len(suffix)]] = array
    if not groups:
        return {"train": arrays}
    if "train" not in groups:
        raise DataError(f"{path}: split keys {sorted(arrays)} have no _train arrays; expected e.g. "
                        "x_train and y_train beside x_test and y_test")
    if loose:
        raise DataError(f"{path}: keys {loose} have no split suffix while others do; expected every "
                        f"key to end with one of {sorted(set(_SUFFIXES))} (or be 'class_names')")
    return groups


def _labels_key(arrays: dict[str, np.ndarray], y: str | None, path: Path) -> str | None:
    if y is None:
        return None
    candidates = _LABEL_DEFAULTS if y == "y" else (y,)
    found = next((key for key in candidates if key in arrays), None)
    if found is None:
        guess = nearest(y, arrays)
        raise DataError(
            f"{path}: no label array {y!r}; available arrays: {sorted(arrays)}"
            + (f"; did you mean y={guess!r}?" if guess else "")
            + "; pass y=NAME, or y=None for unlabelled data"
        )
    return found


def _inputs(arrays: dict[str, np.ndarray], x: str | Sequence[str] | None, label: str | None,
            path: Path) -> np.ndarray | dict[str, np.ndarray]:
    names = [key for key in arrays if key != label] if x is None else [x] if isinstance(x, str) else list(x)
    missing = [name for name in names if name not in arrays]
    if missing:
        raise DataError(f"{path}: input arrays {missing} not found; available: {sorted(arrays)}")
    if not names:
        raise DataError(f"{path}: no input arrays; expected at least one array besides the labels {label!r}")
    return arrays[names[0]] if len(names) == 1 else {name: arrays[name] for name in names}


def _encode_labels(labels: list[np.ndarray], class_names: tuple[str, ...] | None):
    """String labels -> int64 ids with sorted class names; ints -> int64; floats -> float32."""
    if all(label.dtype.kind in "US" for label in labels):
        names = tuple(sorted({str(v) for label in labels for v in label.tolist()}))
        index = {name: i for i, name in enumerate(names)}
        return [np.array([index[str(v)] for v in label.tolist()], np.int64) for label in labels], names
    if all(label.dtype.kind in "iub" for label in labels):
        return [label.astype(np.int64) for label in labels], class_names
    return [label.astype(np.float32) for label in labels], class_names


def read_npz(path: str | os.PathLike, x: str | Sequence[str] | None = None, y: str | None = "y") -> Splits:
    """Read an ``.npz`` file of named arrays into ``Splits`` (``train`` only, or its predefined split).

    Args:
        path: the ``.npz`` file (as written by ``np.savez``).
        x: the input array name, a list of names (a dict of inputs), or None for every array
            that is not the labels.
        y: the label array name (default ``"y"``, falling back to ``"labels"`` / ``"label"``),
            or None for unlabelled data.

    Returns:
        ``Splits`` with ``train`` (and ``valid`` / ``blend`` / ``test`` for suffixed keys).

    Raises:
        UnsafeFileError: when the file holds object arrays (loading them would unpickle).
        DataError: when the file is not an ``.npz``, the labels are missing, or lengths differ.
    """
    path = Path(path).expanduser()
    arrays = _load_arrays(path)
    class_names = arrays.pop("class_names", None)
    class_names = tuple(str(c) for c in class_names.tolist()) if class_names is not None else None
    groups = _group(arrays, path)
    splits = {}
    for split, group in groups.items():
        label = _labels_key(group, y, path)
        splits[split] = (_inputs(group, x, label, path), group[label] if label else None)
    labelled = [name for name, (_, labels) in splits.items() if labels is not None]
    encoded, class_names = _encode_labels([splits[name][1] for name in labelled], class_names)
    labels = dict(zip(labelled, encoded))
    datasets = {
        name: Dataset(x=inputs, y=labels.get(name), class_names=class_names if labelled else None,
                      name=path.stem, meta={"source": str(path)})
        for name, (inputs, _) in splits.items()
    }
    return Splits(**datasets)

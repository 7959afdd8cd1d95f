"""The inputs of ``topnet predict``, read and checked against the run's ``dataset.json``.

Runs on a table take a ``.csv`` / ``.tsv`` / ``.parquet`` file: columns by name, encoded with the
run's vocabularies (`topnet.data.table.encode_table`), text columns as text. Runs on a folder of
text take a folder (every ``.txt`` inside, recursively), one ``.txt`` file, a table's ``text``
column or a list of strings; `topnet.pipeline.predict` turns the texts into token ids with the
run's vocabulary (``text_vectorizer.json``). Runs on a folder of images take a folder
(every image inside, recursively), an image manifest (``.csv`` / ``.parquet`` with a ``path``
column) or one image file, decoded and resized with the run's own settings
(``dataset.json["images"]``); they also take arrays as below. Runs on arrays (images, vectors) take a ``.npz`` (array
``x``, else ``x_test``, else its only input array; label arrays are ignored), a ``.npy`` or an
IDX file, or an array. The array must be ``(rows, *input_shape)``; two common variants are
accepted with a note: no channel axis where the run's has one channel (IDX images
``(N, 28, 28)``, MNIST-1D rows ``(N, 40)``), and rows flattened to ``(N, features)``.

Example:
    >>> x, notes, _ = read_inputs(np.zeros((3, 40), np.float32), {"kind": "vectors", "input_shape": [1, 40]})
    >>> x.shape, notes
    ((3, 1, 40), ['added the channel axis: (3, 40) -> (3, 1, 40)'])
"""
from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from topnet.errors import DataError, UnsafeFileError, format_message

__all__ = ["read_inputs"]

_LABELS = {"y", "labels", "label", "y_test", "y_train", "y_valid", "y_val", "y_blend", "class_names"}
_FORMATS = "a .npz, .npy or IDX file of inputs shaped like the run's (rows, *input_shape)"


def _load_npy_or_npz(path: Path) -> dict[str, np.ndarray]:
    with open(path, "rb") as handle:
        magic = handle.read(6)
    if not (magic.startswith(b"PK") or magic == b"\x93NUMPY"):  # np.load would try to unpickle anything else
        raise DataError(format_message("INPUT", str(path), "a .npz (np.savez) or .npy (np.save) file",
                                       f"its first bytes {magic!r} are neither; re-save the inputs with np.savez"))
    try:
        if magic == b"\x93NUMPY":
            return {"x": np.load(path, allow_pickle=False)}
        with np.load(path, allow_pickle=False) as loaded:
            return {key: loaded[key] for key in loaded.files}
    except ValueError as error:
        if "allow_pickle" in str(error) or "Object arrays" in str(error):
            raise UnsafeFileError(f"{path}: holds an object array, which loads only by unpickling and may run code; "
                                  "expected numeric arrays; re-save with np.asarray(x, dtype=np.float32)") from None
        raise DataError(format_message("INPUT", str(path), _FORMATS, f"it cannot be read ({error})")) from None
    except (OSError, EOFError, zipfile.BadZipFile) as error:
        raise DataError(format_message("INPUT", str(path), _FORMATS, f"it cannot be read ({error})")) from None


def _choose_array(arrays: dict[str, np.ndarray], path: Path) -> tuple[np.ndarray, list[str]]:
    for key in ("x", "x_test"):
        if key in arrays:
            return arrays[key], []
    inputs = [key for key in arrays if key not in _LABELS]
    if len(inputs) != 1:
        raise DataError(format_message(f"INPUT {str(path)!r} arrays", sorted(arrays),
                                       "an array named 'x' (or 'x_test'), or a single input array besides labels",
                                       "re-save with np.savez(path, x=inputs)"))
    return arrays[inputs[0]], [f"read array {inputs[0]!r} of {path.name}"]


def _read_array_file(path: Path) -> tuple[np.ndarray, list[str]]:
    if not path.is_file():
        raise FileNotFoundError(format_message("INPUT", str(path), "an existing file", "check the path"))
    suffix = path.suffix.lower()
    if suffix == ".csv":
        raise DataError(format_message("INPUT", str(path), _FORMATS + " (a .csv is for runs on a CSV table)",
                                       "save the inputs with np.savez(path, x=inputs)"))
    if suffix in (".npz", ".npy"):
        return _choose_array(_load_npy_or_npz(path), path)
    from topnet.data.idx import read_idx

    try:
        return read_idx(path), []
    except DataError as error:
        raise DataError(format_message("INPUT", str(path), _FORMATS + " (by suffix .npz / .npy, else IDX)",
                                       f"read as IDX it fails: {error}")) from None


def fit_shape(array: np.ndarray, input_shape: list[int], what: str = "INPUT") -> tuple[np.ndarray, list[str]]:
    """``array`` as ``(rows, *input_shape)``: as it is, with the channel axis added, or unflattened.

    Raises:
        DataError: any other shape, naming the shape got and expected and how to fix it.
    """
    expected = tuple(int(n) for n in input_shape)
    shape = array.shape
    if shape[1:] == expected:
        return array, []
    if array.ndim == len(expected) and expected[0] == 1 and shape[1:] == expected[1:]:
        fitted = array[:, None]
        return fitted, [f"added the channel axis: {shape} -> {fitted.shape}"]
    if array.ndim == 2 and len(expected) > 1 and shape[1] == int(np.prod(expected)):
        fitted = array.reshape(len(array), *expected)
        return fitted, [f"unflattened the rows: {shape} -> {fitted.shape}"]
    fix = f"pass an array shaped (rows, {', '.join(map(str, expected))}) like the run's training inputs"
    if array.ndim == len(expected) + 1 and shape[-1] == expected[0] and shape[1:-1] == expected[1:]:
        fix = "the inputs are channels-last; transpose them to channels-first: x.transpose(0, 3, 1, 2)"
    raise DataError(format_message(f"{what} shape", shape, f"(rows, {', '.join(map(str, expected))}) (the run's "
                                   "input_shape in dataset.json)", fix))


def _tabular(input: Any, info: dict[str, Any]) -> tuple[dict[str, np.ndarray], list[str]]:  # noqa: A002
    from topnet.data.registry import TABLE_SUFFIXES
    from topnet.data.table_encode import encode_table

    if isinstance(input, np.ndarray) or not str(input).lower().endswith(TABLE_SUFFIXES):
        raise DataError(format_message("INPUT", input if not isinstance(input, np.ndarray) else "an array",
                                       f"a {' / '.join(TABLE_SUFFIXES)} file with the columns {info.get('feature_names')}",
                                       "this run was trained on a table"))
    if not Path(input).is_file():
        raise FileNotFoundError(format_message("INPUT", str(input), "an existing table file", "check the path"))
    table = encode_table(input, info["csv"])
    target = info.get("target")
    ignored = [name for name in table.meta["ignored_columns"] if name != target]
    notes = [f"ignored columns the run did not train on: {ignored}"] if ignored else []
    for column, values in table.meta["unseen_categories"].items():
        shown = values[:5] + (["..."] if len(values) > 5 else [])
        code = "<other>" if "<other>" in info["csv"]["vocabularies"].get(column, ()) else "<missing>"
        notes.append(f"column {column!r}: values not seen in training {shown} read as {code!r}")
    return table.x, notes


def _texts(input: Any) -> tuple[np.ndarray, list[str], list[str] | None]:  # noqa: A002
    """New texts for a run on a folder of text: a folder (every ``.txt`` file inside,
    recursively), one ``.txt`` file, a table's ``text`` column, or a list of strings."""
    if not isinstance(input, (str, os.PathLike)):
        texts = np.asarray(list(input) if not isinstance(input, np.ndarray) else input, dtype=object).reshape(-1)
        if not all(isinstance(t, str) for t in texts):
            raise DataError(format_message("INPUT", "a sequence with non-strings", "strings (one text per row)"))
        return texts, [], None
    from topnet.data.registry import TABLE_SUFFIXES

    path = Path(input).expanduser()
    if not path.exists():
        raise FileNotFoundError(format_message("INPUT", str(input), "an existing folder of .txt files, a .txt file "
                                               "or a table with a 'text' column", "check the path"))
    if path.suffix.lower() in TABLE_SUFFIXES:
        return _text_column(path)
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() == ".txt"
                   and not any(part.startswith(".") for part in p.relative_to(path).parts)) if path.is_dir() else [path]
    if not files:
        raise DataError(format_message("INPUT", str(input), "a folder holding .txt files (in subfolders or not)",
                                       "check the folder"))
    texts, notes = [], []
    for file in files:
        data = file.read_bytes()
        try:
            texts.append(data.decode("utf-8-sig"))
        except UnicodeDecodeError as error:
            texts.append(data.decode("utf-8-sig", errors="replace"))
            notes.append(f"{file}: not UTF-8 at byte {error.start}; undecodable bytes read as U+FFFD")
    empty = [str(f) for f, t in zip(files, texts) if not t.strip()]
    if empty:
        notes.append(f"{len(empty)} empty file(s), e.g. {empty[0]}: predicted from no words")
    return np.asarray(texts, dtype=object), notes, [str(f) for f in files]


def _text_column(path: Path) -> tuple[np.ndarray, list[str], None]:
    """The ``text`` column of a table (or its only column)."""
    from topnet.data.table_read import read_header, require_pyarrow
    from topnet.data.table import table_format

    require_pyarrow()
    fmt, delimiter = table_format(path, None)
    header = read_header(path, fmt, delimiter)
    name = "text" if "text" in header else header[0] if len(header) == 1 else None
    if name is None:
        raise DataError(format_message(f"INPUT {str(path)!r} columns", header, "a column named 'text' (or a single column)",
                                       "rename the column holding the texts to 'text'"))
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=[name]) if fmt == "parquet" else pacsv.read_csv(
        path, parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(include_columns=[name], column_types={name: "string"}))
    texts = ["" if t is None else str(t) for t in table.column(name).to_pylist()]
    missing = sum(t == "" for t in texts)
    return np.asarray(texts, dtype=object), [f"{missing} missing text(s) read as empty"] if missing else [], None


def _is_image_input(input: Any) -> bool:  # noqa: A002
    """A folder, an image file or an image manifest (by suffix: the array formats are not)."""
    from topnet.data.image_decode import IMAGE_SUFFIXES
    from topnet.data.registry import TABLE_SUFFIXES

    if not isinstance(input, (str, os.PathLike)):
        return False
    path = Path(input).expanduser()
    return path.is_dir() or path.suffix.lower() in IMAGE_SUFFIXES + TABLE_SUFFIXES


def _images(input: Any, info: dict[str, Any]) -> tuple[np.ndarray, list[str], list[str]]:  # noqa: A002
    """Decode a folder, manifest or image file with the run's own image settings."""
    from topnet.data.image_decode import IMAGE_SUFFIXES
    from topnet.data.image_folder import read_images

    settings = info["images"]
    path = Path(input).expanduser()
    if not path.exists():
        raise FileNotFoundError(format_message("INPUT", str(input), "an existing folder, image file or manifest",
                                               "check the path"))
    array, paths, skipped = read_images(path, image_size=tuple(settings["image_size"]), fit=settings["fit"],
                                        channels=int(settings["channels"]), skip_bad=True)
    notes = [f"skipped {len(skipped)} unreadable file(s): "
             + ", ".join(f"{item['path']} ({item['error']})" for item in skipped[:5])] if skipped else []
    if len(array) == 0:
        raise DataError(format_message("INPUT", str(input), "at least one readable image file "
                                       f"({', '.join(IMAGE_SUFFIXES)})", "check the folder"))
    return array, notes, paths


def read_inputs(input: Any, info: dict[str, Any]) -> tuple[Any, list[str], list[str] | None]:  # noqa: A002
    """The raw inputs for a run: an array ``(rows, *input_shape)`` or a table dict, notes, paths.

    Args:
        input: a file path (see the module docstring) or an array.
        info: the run's ``dataset.json`` (``kind``, ``input_shape``, for tables ``csv``, for a
            folder of images ``images``).

    Returns:
        ``(x, notes, paths)``: ``x`` as the run's data was loaded (not yet standardised);
        ``paths`` names each row's image file for image inputs, else None.

    Raises:
        DataError: a file of the wrong kind, missing CSV columns, or a shape that does not fit.
        UnsafeFileError: a ``.npz`` / ``.npy`` holding object arrays.
    """
    if info.get("kind") == "text" and "csv" not in info:
        return _texts(input)
    if info.get("kind") in ("tabular", "text"):
        if "csv" not in info:
            raise DataError("the run's data: got several named input arrays (dataset.json has no CSV columns); "
                        "expected one input array or a CSV table; predict in Python with "
                        "Ensemble.load(RUN/ensemble) after applying the run's standardizer.json")
        return (*_tabular(input, info), None)
    paths = None
    if "images" in info and _is_image_input(input):
        array, notes, paths = _images(input, info)
    elif isinstance(input, (str, os.PathLike)):
        array, notes = _read_array_file(Path(input).expanduser())
    else:
        array, notes = np.asarray(input), []
    if array.dtype.kind not in "biuf":
        raise DataError(format_message("INPUT dtype", str(array.dtype), "numbers (bool, int, uint or float)"))
    if array.ndim < 1 or len(array) == 0:
        raise DataError(format_message("INPUT shape", array.shape, "(rows, *input_shape) with at least one row"))
    array, shaped = fit_shape(array, info["input_shape"])
    return array, notes + shaped, paths

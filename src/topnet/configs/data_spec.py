"""The data a configuration trains on: a `DataSpec` any process can load, and what it implies.

A `DataSpec` (dataset name or file, split fractions, seed) loads the same splits on any
machine: a study records it, so a ``topnet worker`` elsewhere trains on the rows the search
does. ``topnet train``, the search and ``topnet run`` all split through it, so the same seed
gives the same rows everywhere; a search drops the test split before anything reads it.
`Prepared` carries splits already loaded together with their spec (``topnet run`` loads once
and hands the search its splits). `task_of`, `model_arguments` and `TrialData` turn the
splits into what a model of a family takes.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from topnet.data import Dataset, Splits, flatten_tabular, load, split, standardize
from topnet.data.registry import image_options
from topnet.errors import format_message
from topnet.seeding import derive_seed

TEXT_FAMILIES = ("text_cnn", "text_rnn", "text_transformer")  # builders that take token ids

__all__ = ["DataSpec", "Prepared", "prepare_splits", "load_split_standardize", "take_train_samples", "task_of",
           "model_arguments", "TrialData", "data_kind", "vectorize", "has_text", "text_input", "text_only",
           "TEXT_FAMILIES"]


@dataclass(frozen=True)
class DataSpec:
    """Where a search's data comes from and how it is split.

    Args:
        data: a dataset name (``fashion-mnist``, ``mnist1d``, ...), a folder of images, or a
            ``.npz`` / ``.csv`` / ``.parquet`` path.
        data_path: the folder holding a named dataset's files (None: the usual places).
        target: the target column of a CSV file.
        valid / blend / test: fractions of the training pool (``test`` only when the dataset
            has no test split of its own; either way the test split is dropped here).
        seed: seeds the split (and ``max_samples``).
        max_samples: use a random subset of this many samples of the pool (quick searches).
        train_samples: after splitting, train on a random subset of this many train rows
            (valid and blend stay whole: a cheaper search that is scored like the full one).
        image_size / image_fit / skip_bad: how a folder of images is read (see
            `topnet.data.read_image_folder`: ``image_size``, ``fit``, ``skip_bad``).
        max_tokens / sequence_length / tokenizer: how text is turned into token ids (see
            `topnet.data.TextVectorizer`; the vocabulary is fitted on train only).

    Example:
        >>> DataSpec.from_dict(DataSpec("mnist1d", max_samples=500).to_dict()).max_samples
        500
    """

    data: str
    data_path: str | None = None
    target: str | None = None
    valid: float = 0.1
    blend: float = 0.1
    test: float = 0.1
    seed: int = 0
    max_samples: int | None = None
    train_samples: int | None = None
    image_size: int | tuple[int, int] | None = None
    image_fit: str = "pad"
    skip_bad: bool = False
    max_tokens: int = 20000
    sequence_length: int | None = None
    tokenizer: str = "word"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def load(self) -> Splits:
        """The data as `topnet.data.load` gives it, with the image options that were set."""
        return load(self.data, path=self.data_path, target=self.target,
                    **image_options(self.image_size, self.image_fit, self.skip_bad))

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> DataSpec:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(document) - names)
        if unknown:
            raise ValueError(format_message("data spec: unknown key(s)", unknown, f"only {sorted(names)}"))
        return cls(**document)


def load_split_standardize(spec: DataSpec) -> tuple[Splits, dict[str, Any], Any]:
    """Load ``spec``'s data, split it four ways and standardise it (fitted on train only).

    Returns:
        ``(splits with test, {input: Standardizer}, the test inputs as loaded)``; ``topnet run``
        keeps test for its one final evaluation, a search drops it (`prepare_splits`).
    """
    splits = spec.load()
    if spec.max_samples is not None:
        pool = splits.train
        if not 0 < spec.max_samples <= len(pool):
            raise ValueError(format_message("max_samples", spec.max_samples, f"an int in [1, {len(pool)}]"))
        rng = np.random.default_rng(derive_seed(spec.seed, "max_samples"))
        chosen = np.sort(rng.choice(len(pool), spec.max_samples, replace=False))
        splits = dataclasses.replace(splits, train=pool.take(chosen))
    splits = split(splits, valid=spec.valid, blend=spec.blend, test=spec.test, seed=spec.seed)
    raw_test_x = splits.test.x if splits.test is not None else None
    splits = vectorize(splits, spec)  # the vocabulary is fitted on train only
    splits, standardizers = standardize(splits)  # fitted on the whole train split
    return splits, standardizers, raw_test_x


def vectorize(splits: Splits, spec: DataSpec) -> Splits:
    """``splits`` with every text input replaced by token ids (a `TextVectorizer` fitted on
    train only); each vectoriser's state goes in ``meta["text"][input]["state"]`` (``topnet
    predict`` encodes new text with it). A table whose only input is text becomes plain token
    ids (``meta["text"]["x"]["table_input"] == "text"``). Splits without text come back unchanged."""
    if not has_text(splits.train):
        return splits
    from topnet.data import vectorize_text

    splits, vectorizers = vectorize_text(splits, max_tokens=spec.max_tokens, sequence_length=spec.sequence_length,
                                         tokenizer=spec.tokenizer)
    states = {key: v.state_dict() for key, v in vectorizers.items()}

    def record(dataset: Dataset) -> Dataset:
        text = {key: {**info, "state": states[key]} for key, info in dataset.meta.get("text", {}).items()}
        x = dataset.x
        if isinstance(x, dict) and set(x) == {"text"}:  # a table of one text column: plain token ids
            x, text = x["text"], {"x": {**text["text"], "table_input": "text"}}
        return dataclasses.replace(dataset, x=x, meta={**dataset.meta, "text": text})

    return Splits(**{name: record(dataset) for name, dataset in splits.items()})


def has_text_input(train: Dataset) -> bool:
    """Whether ``train`` is a table with a ``"text"`` input (strings, or token ids after `vectorize`)."""
    return isinstance(train.x, dict) and "text" in train.x


def has_text(train: Dataset) -> bool:
    """Whether ``train`` holds text (strings) as its input or as a table's ``"text"`` input."""
    from topnet.data.text import is_text

    return is_text(train.x["text"]) if has_text_input(train) else is_text(train.x)


def text_input(train: Dataset) -> dict[str, int]:
    """``{"vocab_size", "sequence_length"}`` of ``train``'s token ids (after `vectorize`)."""
    text = train.meta.get("text", {})
    if not text:
        raise ValueError(format_message("data", train.name or "this data", "text (token ids from a TextVectorizer)",
                                        "use a text family only on a folder of .txt files or a table with a text column"))
    info = text.get("x", text.get("text"))
    return {"vocab_size": int(info["vocabulary_size"]), "sequence_length": int(info["sequence_length"])}


@dataclass(frozen=True)
class Prepared:
    """Splits already loaded, with the `DataSpec` that gives them again on another machine.

    Attributes:
        splits: train / valid / blend (never test), standardised with train's statistics.
        spec: loads the same splits elsewhere (a study records it for its workers).
        standardizers: ``{input: Standardizer state}`` the inputs were standardised with.
    """

    splits: Splits
    spec: DataSpec
    standardizers: dict[str, Any]


def take_train_samples(splits: Splits, spec: DataSpec) -> Splits:
    """``splits`` with ``spec.train_samples`` random train rows (all of them when None or more);
    valid and blend stay whole, so a cheaper search is scored like the full one.

    Example:
        >>> s = Splits(train=Dataset(x=np.zeros((10, 2)), y=np.zeros(10, dtype=np.int64)))
        >>> len(take_train_samples(s, DataSpec("x.npz", train_samples=4)).train)
        4
    """
    if spec.train_samples is None or spec.train_samples >= len(splits.train):
        return splits
    if spec.train_samples < 1:
        raise ValueError(format_message("train_samples", spec.train_samples, "a positive int"))
    rng = np.random.default_rng(derive_seed(spec.seed, "train_samples"))
    chosen = np.sort(rng.choice(len(splits.train), spec.train_samples, replace=False))
    return dataclasses.replace(splits, train=splits.train.take(chosen))


def prepare_splits(spec: DataSpec) -> tuple[Splits, dict[str, Any]]:
    """Load, split, drop the test split, and standardise (fitted on train only); then, with
    ``spec.train_samples``, keep that many random train rows (`take_train_samples`).

    Returns:
        ``(splits without test, {input: standardizer state})``.
    """
    splits, standardizers, _ = load_split_standardize(spec)
    splits = take_train_samples(dataclasses.replace(splits, test=None), spec)  # test: never read by a search
    return splits, {key: s.state_dict() for key, s in standardizers.items()}


def task_of(train: Dataset) -> tuple[str, int, str, list[str]]:
    """``(task, output units, loss, metrics)`` from the training targets.

    Example:
        >>> task_of(Dataset(x=np.zeros((3, 2)), y=np.array([0, 2, 1])))
        ('classification', 3, 'cross_entropy', ['accuracy'])
    """
    if train.task == "classification":
        return "classification", int(train.num_classes), "cross_entropy", ["accuracy"]
    width = 1 if np.ndim(train.y) == 1 else int(np.shape(train.y)[1])
    return "regression", width, "mse", ["mae"]


def model_arguments(name: str, train: Dataset, width: int) -> dict[str, Any]:
    """The builder's data-dependent arguments: input shape and output units (and, for
    ``wide_and_deep``, the numeric width and each categorical column's vocabulary size).

    Example:
        >>> model_arguments("mlp", Dataset(x=np.zeros((3, 5)), y=np.array([0, 1, 1])), 2)
        {'input_shape': [5], 'num_classes': 2}
    """
    if name in TEXT_FAMILIES:
        return {**text_input(train), "num_classes": width}
    if name != "wide_and_deep":
        return {"input_shape": list(np.shape(train.x)[1:]), "num_classes": width}
    if not isinstance(train.x, dict):
        raise ValueError(format_message("model", name, "tabular data (a CSV with numeric/categorical columns)",
                                        "use mlp for array inputs"))
    columns = train.meta.get("categorical_columns", [])
    arguments = {"num_classes": width,
                 "num_numeric": int(np.shape(train.x["numeric"])[1]) if "numeric" in train.x else 0,
                 "categorical_sizes": [len(train.meta["vocabularies"][c]) for c in columns]}
    if has_text_input(train):  # a text tower beside the numeric and categorical columns
        text = text_input(train)
        arguments.update(text_vocab_size=text["vocab_size"], text_length=text["sequence_length"])
    return arguments


def data_kind(train: Dataset) -> str:
    """``"images"`` for (n, channels, height, width) inputs, ``"text"`` for texts (strings, or
    their token ids, alone or as a table's only input), ``"tabular"`` for named CSV inputs,
    ``"vectors"`` otherwise (flat or sequence arrays such as MNIST-1D).

    Example:
        >>> data_kind(Dataset(x=np.zeros((2, 1, 8, 8)), y=np.array([0, 1])))
        'images'
        >>> data_kind(Dataset(x=np.array(["a good film", "dull"], dtype=object), y=np.array([1, 0])))
        'text'
    """
    if isinstance(train.x, dict):
        return "tabular"
    if "x" in train.meta.get("text", {}) or has_text(train):
        return "text"
    return "images" if np.ndim(train.x) == 4 else "vectors"


class TrialData:
    """The splits a trial trains on, in the form its model family takes.

    ``wide_and_deep`` takes the named CSV inputs; every other family one matrix, so named
    tabular inputs are one-hot flattened once, on first use. Only ``train``, ``valid`` and
    ``blend`` are ever touched.
    """

    def __init__(self, splits: Splits):
        if splits.valid is None:
            raise ValueError(format_message("data.valid", None, "a validation split (model selection needs one)",
                                            "split(data, valid=0.1, ...)"))
        self.splits = splits
        self._flat: Splits | None = None
        self.task, self.width, self.loss, self.metrics = task_of(splits.train)

    def for_family(self, family: str) -> Splits:
        """The splits for models of ``family``."""
        if family in TEXT_FAMILIES and isinstance(self.splits.train.x, dict):
            return text_only(self.splits)
        if family == "wide_and_deep" or not isinstance(self.splits.train.x, dict):
            return self.splits
        if self._flat is None:
            present = {name: getattr(self.splits, name) for name in ("train", "valid", "blend")}
            self._flat = flatten_tabular(Splits(**{k: v for k, v in present.items() if v is not None}))
        return self._flat


def text_only(splits: Splits) -> Splits:
    """A table's splits with only their ``"text"`` input (token ids), for the text families."""
    def take(dataset: Dataset) -> Dataset:
        if not isinstance(dataset.x, dict):
            return dataset
        if "text" not in dataset.x:
            raise ValueError(format_message("family", "text_*", "a table with a text column",
                                            "use wide_and_deep or mlp for tables without text"))
        return dataclasses.replace(dataset, x=dataset.x["text"])

    return Splits(**{name: take(dataset) for name, dataset in splits.items()})

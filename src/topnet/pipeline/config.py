"""`RunConfig`: every setting of ``topnet run``, from defaults, a TOML file and ``--set`` overrides.

One frozen dataclass; unknown keys are errors (with the nearest name). The resolved config is
written to ``config.json`` in the run directory, passwords in storage URLs redacted.

Example:
    >>> config = resolve_config(overrides={"budget": "5m", "top_k": 2})
    >>> config.budget_s, config.top_k, config.data
    (300.0, 2, 'fashion-mnist')
"""
from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from topnet.budget import parse_duration
from topnet.data.registry import TABLE_SUFFIXES, image_options, is_manifest
from topnet.errors import format_message, unknown_name
from topnet.train.loop import check_precision
from topnet.tune.space import SearchSpace
from topnet.tune.space_check import check_space

__all__ = ["RunConfig", "resolve_config", "read_space", "class_weights"]

CLASS_WEIGHTS = (None, "balanced")

TOKENIZERS = ("word", "wordpiece", "bpe")  # topnet.data.TextVectorizer's


@dataclass(frozen=True)
class RunConfig:
    """The settings of one ``topnet run`` (each is a TOML key and a ``--set`` key).

    Attributes:
        data: a dataset name (``fashion-mnist``, ``cifar10``, ``mnist1d``, ...), a folder of
            images (one subfolder per class), an image manifest, or a ``.csv`` / ``.tsv`` /
            ``.parquet`` / ``.npz`` path (see docs/data.md).
        data_path: the folder of a named dataset's files (None: the usual places).
        target: the target column of a table (required there).
        image_size: the side (or ``[height, width]``) images from a folder are resized to
            (None: chosen from the data, see `topnet.data.read_image_folder`).
        image_fit: how a folder's images keep their aspect ratio: ``pad``, ``crop`` or ``stretch``.
        skip_bad: skip unreadable image files (counted in the report) instead of stopping.
        max_tokens: text: the vocabulary's size (most frequent train tokens, PAD and UNK included).
        sequence_length: text: tokens kept per text (None: the 95th percentile of train's
            lengths, at most 512); longer texts are truncated (counted in the log).
        tokenizer: text: ``word`` (words, as Keras's TextVectorization), ``wordpiece`` or ``bpe``.
        budget: the wall time of the whole run (``"15m"``, ``"2h"``, seconds); every phase gets
            a share, and time a phase leaves unused goes to the later ones.
        out: the run directory.
        seed: seeds the split, the search, every model and every sampled mask.
        storage: a database URL for the search (``postgresql://...`` lets ``topnet worker``
            processes on other machines join); default: ``OUT/search/study.db``.
        valid / blend / test: fractions of the training pool (``test`` only when the dataset
            has none of its own).
        top_k: configurations retrained (diverse architecture families first).
        ensemble_size: retrained models the run aims for, each with an equal share of the
            retraining time: the ``top_k`` configurations in turn, each again with a new seed.
            Past a point, another member is worth more than more epochs
            (docs/measured-defaults.md).
        max_epochs: the most epochs a retrained model gets (fewer when the budget is short).
        min_epochs: fewer than ``ensemble_size`` models are retrained when each could not train
            this many epochs in the time (a short budget: one well-trained model beats three
            half-trained); a model is added after them while one more can train this many.
        precision: ``auto`` (bf16 where the device does it in hardware: a recent GPU, or a CPU
            with AVX512-BF16 or AMX, where it trains convnets about twice as fast), ``bf16`` or
            ``float32``: how the search's trials and the retrained models train.
        patience: early stopping patience of the retrained models (on the validation metric).
        search_epochs / search_samples: epochs per search trial and train rows a trial sees
            (None: chosen from the budget; the retrained models always use every train row).
        lr_find_steps: steps of the learning-rate range test (None: as many as fit in its
            share of the budget, at most 300; fewer than 30 skip it).
        search: ``"auto"`` (the default) runs the search, except for images or a bagged table
            on a CPU under 30 minutes (`topnet.budget.zero_shot`), where its trials are skipped
            and the portfolio's configurations are trained directly beside the baseline (B8 in
            docs/benchmarks.md measured why); true always runs the search; false skips it and
            gives its time to retraining the baseline configuration (the ablation that shows
            what the search buys).
        sampler / pruner: as in ``topnet tune``.
        space: a search space TOML file, in the format of ``topnet tune --space`` (see
            docs/tuning.md); None: the default space for the data. It is read and checked
            here, so a missing file or an unknown key fails before anything is written.
        lightgbm: add the classic member to the ensemble: LightGBM, or for text TF-IDF (word 1-2
            grams) and a logistic regression (`topnet.ensemble.TfidfLinearMember`).
        class_weight: None (every row counts the same) or ``"balanced"``: each class weighs
            ``n_samples / (n_classes * count(class))`` on train (scikit-learn's formula), so every
            class adds the same total to the loss; the search's trials and the retrained
            networks train with it (``fit``'s ``class_weight``). Classification only.
        bagging: on a table, k ≥ 2 makes every member k-fold bagged on the train, valid and blend
            rows together, with the ensemble fitted on their out-of-fold predictions, and adds
            the classic members (CatBoost, forests, k-NN, linear, XGBoost beside LightGBM;
            `topnet.pipeline.bagged`); ``"auto"`` (the default) bags with 5 folds a table of at
            most 50,000 rows (train + valid + blend); 0 keeps the train / valid / blend splits.
            Other kinds of data ignore it.
        threads: CPU threads of the classic members (LightGBM, CatBoost, XGBoost, the forests,
            k-NN); 0 (the default): each library's own choice, all cores. Set it to share a
            machine fairly (B11 runs topnet beside AutoGluon with one thread each).
        mc_samples: MC dropout samples for the uncertainty estimates (0: none).
        tensorboard: write TensorBoard logs of the retrained models (needs ``tensorboard``).
        device: ``auto`` (CUDA when present), ``cpu`` or ``cuda``.
        verbose: 0 silent, 1 progress.
    """

    data: str = "fashion-mnist"
    data_path: str | None = None
    target: str | None = None
    image_size: int | tuple[int, int] | None = None
    image_fit: str = "pad"
    skip_bad: bool = False
    max_tokens: int = 20000
    sequence_length: int | None = None
    tokenizer: str = "word"
    budget: str = "15m"
    out: str = "runs/run"
    seed: int = 0
    storage: str | None = None
    valid: float = 0.1
    blend: float = 0.1
    test: float = 0.1
    top_k: int = 3
    ensemble_size: int = 5
    max_epochs: int = 60
    min_epochs: int = 8
    patience: int = 6
    search_epochs: int | None = None
    search_samples: int | None = None
    lr_find_steps: int | None = None
    search: bool | str = "auto"
    sampler: str = "tpe"
    pruner: str = "median"
    space: str | None = None
    lightgbm: bool = True
    class_weight: str | None = None
    bagging: int | str = "auto"
    threads: int = 0
    mc_samples: int = 30
    tensorboard: bool = True
    device: str = "auto"
    precision: str = "auto"
    verbose: int = 1

    def __post_init__(self) -> None:
        parse_duration(self.budget)  # a malformed budget fails here, before anything is written
        for name in ("top_k", "ensemble_size", "max_epochs", "min_epochs", "patience"):
            _positive_int(name, getattr(self, name))
        _positive_int("max_tokens", self.max_tokens)
        if self.tokenizer not in TOKENIZERS:
            raise unknown_name("tokenizer", self.tokenizer, TOKENIZERS)
        for name in ("search_epochs", "search_samples", "lr_find_steps", "sequence_length"):
            if getattr(self, name) is not None:
                _positive_int(name, getattr(self, name))
        check_precision(self.precision)
        image_options(self.image_size, self.image_fit)  # a bad value fails before anything is written
        if isinstance(self.image_size, (list, tuple)):  # as config.json holds it, so resume compares equal
            object.__setattr__(self, "image_size", [int(n) for n in self.image_size])
        if self.bagging != "auto" and (isinstance(self.bagging, bool) or not isinstance(self.bagging, int)
                                       or self.bagging < 0 or self.bagging == 1):
            raise ValueError(format_message("bagging", self.bagging, "'auto', 0 (off) or a number of folds k >= 2",
                                            "e.g. --set bagging=5"))
        if not isinstance(self.search, bool) and self.search != "auto":
            raise ValueError(format_message("search", self.search, "'auto', true or false", "e.g. --set search=false"))
        if isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 0:
            raise ValueError(format_message("threads", self.threads, "a non-negative int (0: all cores)",
                                            "e.g. --set threads=1"))
        if not isinstance(self.mc_samples, int) or self.mc_samples < 0:
            raise ValueError(format_message("mc_samples", self.mc_samples, "a non-negative int (0: no MC dropout)"))
        if self.data.lower().endswith(TABLE_SUFFIXES) and not self.target and not is_manifest(self.data):
            raise ValueError(format_message("target", self.target, f"the column of {self.data!r} to predict",
                                            "pass --target COLUMN (an image manifest needs 'path' and 'label' "
                                            "columns instead)"))
        if self.space is not None:
            read_space(self.space)
        if self.class_weight not in CLASS_WEIGHTS:
            raise ValueError(format_message("class_weight", self.class_weight,
                                            "'balanced', or None (unset: the default)",
                                            'e.g. --set class_weight=balanced'))

    @property
    def budget_s(self) -> float:
        """The budget in seconds."""
        return parse_duration(self.budget)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(format_message(name, value, "a positive int"))


def class_weights(setting: str | None, task: str, y: Any) -> dict[int, float] | None:
    """The class weights of the ``class_weight`` setting on the train targets ``y``.

    ``"balanced"`` is scikit-learn's ``compute_class_weight("balanced")``: class ``c`` weighs
    ``n_samples / (n_classes * count(c))`` over the classes present in ``y``.

    Raises:
        ValueError: ``"balanced"`` for a regression target, or targets that are not one class id per row.

    Example:
        >>> class_weights("balanced", "classification", np.array([0, 0, 0, 1]))
        {0: 0.6666666666666666, 1: 2.0}
    """
    if setting is None:
        return None
    if task != "classification":
        raise ValueError(format_message("class_weight", setting, f"none for a {task} target (class weights need "
                                        "classes)", "remove the class_weight setting, or predict a class column"))
    y = np.asarray(y)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(format_message("class_weight", setting, "train targets of one class id per row",
                                        f"the targets have shape {y.shape} and dtype {y.dtype}"))
    classes, counts = np.unique(y, return_counts=True)
    return {int(c): len(y) / (len(classes) * int(n)) for c, n in zip(classes, counts)}


def read_space(path: str | os.PathLike) -> SearchSpace:
    """The search space of the TOML file ``path`` (``topnet tune --space``'s format), checked
    against the configuration vocabulary (`topnet.tune.space_check.check_space`).

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: invalid TOML, an unknown key (naming the nearest one) or a bad value.

    Example:
        >>> read_space("no/such/space.toml")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        FileNotFoundError: space 'no/such/space.toml' is not a file; expected a search space TOML file ...
    """
    try:
        space = SearchSpace.from_toml(Path(path))  # a Path: always a file, never TOML text
        check_space(space)
    except (FileNotFoundError, IsADirectoryError):
        raise FileNotFoundError(f"space {str(path)!r} is not a file; expected a search space TOML file "
                                "(the format of `topnet tune --space`, see docs/tuning.md)") from None
    except ValueError as error:  # tomllib.TOMLDecodeError is one too
        raise ValueError(f"space {str(path)!r}: {error}") from None
    return space


def _read_toml(path: str | os.PathLike) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            document = tomllib.load(handle)
    except FileNotFoundError:
        raise FileNotFoundError(f"--config {str(path)!r} does not exist; expected a TOML file of run settings") from None
    except tomllib.TOMLDecodeError as error:
        raise ValueError(format_message(f"--config {str(path)!r}", f"invalid TOML ({error})",
                                        "key = value lines, e.g. budget = \"30m\"")) from None
    return document.get("run", document)  # a [run] table or top-level keys


def resolve_config(config_file: str | os.PathLike | None = None, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Defaults, then the TOML file (top-level keys or a ``[run]`` table), then ``overrides``.

    Raises:
        ValueError: an unknown key (naming the nearest one) or a bad value.
        FileNotFoundError: a missing config file.
    """
    values: dict[str, Any] = {}
    if config_file is not None:
        values.update(_read_toml(config_file))
    values.update({k: v for k, v in (overrides or {}).items()})
    names = [f.name for f in dataclasses.fields(RunConfig)]
    for key in values:
        if key not in names:
            raise unknown_name("run setting", key, names)
    if "budget" in values and isinstance(values["budget"], (int, float)) and not isinstance(values["budget"], bool):
        values["budget"] = f"{values['budget']}s"
    try:
        return RunConfig(**values)
    except TypeError as error:
        raise ValueError(f"run settings: {error}") from None

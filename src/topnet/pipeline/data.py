"""The data of ``topnet run``: load, split four ways, standardise on train, describe.

The splits are exactly those the search's `DataSpec` makes (same loader, fractions and seed),
so a ``topnet worker`` on another machine trains on the same rows. The test split is sealed
(read once, at the end), with its inputs as loaded (the report shows the least-sure images as they were).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from topnet.configs import DataSpec, Prepared, data_kind, load_split_standardize, take_train_samples, task_of
from topnet.data import SealedSplit, Splits
from topnet.pipeline.config import RunConfig

__all__ = ["RunSplits", "prepare", "data_spec"]

# What `topnet predict` needs to encode new rows as the run's table was encoded.
TABLE_META = ("numeric_columns", "categorical_columns", "vocabularies", "datetime_columns", "text_columns")


@dataclass
class RunSplits:
    """The run's data.

    Attributes:
        splits: train / valid / blend, standardised with train's statistics (no test).
        test: the test split, sealed: `SealedSplit.open` gives it once, to the final evaluation
            (a second read anywhere in the run raises); its ``meta["raw_x"]`` holds the inputs
            as loaded, before standardisation (the report shows the least-sure ones).
        standardizers: ``{input: Standardizer state}`` (for ``topnet predict``).
        kind: ``"images"``, ``"text"``, ``"vectors"`` or ``"tabular"``.
        task / width / loss / metrics: as ``topnet.configs.task_of`` gives them.
        info: ``dataset.json`` (`topnet.report.schema.DatasetInfo` plus the CSV encoding).
    """

    splits: Splits
    test: SealedSplit
    standardizers: dict[str, Any]
    kind: str
    task: str
    width: int
    loss: str
    metrics: list[str]
    info: dict[str, Any]
    text_vectorizers: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def on_disk(self) -> bool:
        """Whether the training inputs stay on disk (a memory map: larger than a quarter of memory)."""
        return isinstance(self.splits.train.x, np.memmap)

    @property
    def channels_last(self) -> bool:
        """Whether networks train in the channels-last layout (images: faster convolutions)."""
        return self.kind == "images"

    def for_search(self, config: RunConfig, train_samples: int | None) -> Prepared:
        """The splits a search trains on, as loaded here (``train_samples`` random train rows, or
        all), with the `DataSpec` that loads the same rows on a worker's machine."""
        spec = data_spec(config, train_samples)
        return Prepared(take_train_samples(self.splits, spec), spec, self.standardizers)


def data_spec(config: RunConfig, train_samples: int | None = None) -> DataSpec:
    """The `DataSpec` that gives the search the run's splits (``train_samples``: a subset of train)."""
    return DataSpec(config.data, data_path=config.data_path, target=config.target, valid=config.valid,
                    blend=config.blend, test=config.test, seed=config.seed, train_samples=train_samples,
                    image_size=config.image_size, image_fit=config.image_fit, skip_bad=config.skip_bad,
                    max_tokens=config.max_tokens, sequence_length=config.sequence_length, tokenizer=config.tokenizer)


def prepare(config: RunConfig) -> RunSplits:
    """Load ``config.data``, split it into train / valid / blend / test and standardise it."""
    splits, standardizers, raw_test_x = load_split_standardize(data_spec(config))
    test = dataclasses.replace(splits.test, meta={**splits.test.meta, "raw_x": raw_test_x})
    train = splits.train
    task, width, loss, metrics = task_of(train)
    kind = data_kind(train)
    meta = dict(train.meta)
    info = {"name": train.name or config.data, "task": task, "kind": "image" if kind == "images" else kind,
            "num_rows": {name: len(d) for name, d in splits.items()},
            "input_shape": None if isinstance(train.x, dict) else list(np.shape(train.x)[1:])}
    if train.class_names is not None:
        info["class_names"] = list(train.class_names)
    elif task == "classification":
        info["class_names"] = [str(i) for i in range(width)]
    if meta.get("kind") == "image_folder":  # what `topnet predict` needs to read new images the same way
        info["images"] = {key: meta.get(key) for key in ("source", "image_size", "fit", "channels")}
        skipped = [item for _, part in splits.items() for item in part.meta.get("skipped", [])]
        info["images"]["skipped"] = list({item["path"]: item for item in skipped}.values())  # test/ has its own
        info["images"]["ignored"] = list(meta.get("ignored", []))
    text = meta.get("text", {})
    if text:  # what `topnet predict` needs to encode new text (the vocabularies: text_vectorizer.json)
        info["text"] = {key: {k: v for k, v in entry.items() if k != "state"} for key, entry in text.items()}
    if kind == "tabular" or meta.get("text_columns"):
        info["feature_names"] = list(meta.get("numeric_columns", [])) + list(meta.get("categorical_columns", []))
        info["target"] = config.target
        info["csv"] = {key: meta[key] for key in TABLE_META if key in meta}
    states = {key: {k: np.asarray(v).tolist() for k, v in s.state_dict().items()} for key, s in standardizers.items()}
    sealed = SealedSplit(test, "test")
    vectorizers = {key: entry["state"] for key, entry in text.items()}
    return RunSplits(dataclasses.replace(splits, test=None), sealed, states, kind, task, width, loss, metrics, info,
                     vectorizers)

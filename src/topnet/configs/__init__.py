"""Train one configuration: the layer below both the search (`topnet.tune`) and ``topnet run``.

A configuration is a plain dict (``{"family": "convnet", "width": 32, "lr": 1e-3, ...}``, the
vocabulary in `topnet.configs.builders`); a `DataSpec` says where its data comes from and how it
is split; `FitSettings` how it trains and is scored; `train_config` trains it and returns the
model with its best validation value. ``topnet train``, each search trial and each model that
``topnet run`` retrains use this one path.

Example:
    >>> import numpy as np
    >>> from topnet.data import Dataset, Splits
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(64, 4)).astype(np.float32)
    >>> data = Splits(train=Dataset(x=x, y=(x[:, 0] > 0).astype(np.int64)),
    ...               valid=Dataset(x=x[:16], y=(x[:16, 0] > 0).astype(np.int64)))
    >>> outcome = train_config({"family": "mlp", "lr": 0.01}, TrialData(data), FitSettings(epochs=2, device="cpu"), seed=0)
    >>> outcome.epochs_run, 0.0 <= outcome.value <= 1.0
    (2, True)
"""
from topnet.configs.builders import (
                                     AUGMENTATIONS,
                                     SCHEDULES,
                                     build_augment,
                                     build_model,
                                     build_optimizer,
                                     check_keys,
                                     complete_config,
                                     model_spec,
                                     schedule_callbacks,
)
from topnet.configs.data_spec import (
                                     DataSpec,
                                     Prepared,
                                     TrialData,
                                     data_kind,
                                     load_split_standardize,
                                     model_arguments,
                                     prepare_splits,
                                     take_train_samples,
                                     task_of,
                                     text_only,
                                     vectorize,
)
from topnet.configs.settings import FitSettings
from topnet.configs.training import TrainOutcome, train_config

__all__ = [
    "FitSettings",
    "TrainOutcome",
    "train_config",
    "DataSpec",
    "Prepared",
    "TrialData",
    "prepare_splits",
    "load_split_standardize",
    "take_train_samples",
    "task_of",
    "model_arguments",
    "data_kind",
    "text_only",
    "vectorize",
    "complete_config",
    "check_keys",
    "model_spec",
    "build_model",
    "build_optimizer",
    "build_augment",
    "schedule_callbacks",
    "SCHEDULES",
    "AUGMENTATIONS",
]

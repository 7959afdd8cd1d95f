"""Hyperparameter and architecture search on Optuna: the only package that imports Optuna.

It holds what talks to Optuna (the space, the study, the objective, the workers); training one
configuration is `topnet.configs`.

``tune(space, data, budget="10m")`` samples configurations from a `SearchSpace` (the default
one for the data's kind, a TOML file, or your own), trains each on ``train``, scores it on
``valid``, prunes hopeless trials after each epoch, and keeps the best checkpoints; the test
split is never read. The study is an Optuna RDB storage (SQLite by default, PostgreSQL to
share it with ``topnet worker`` processes on other machines, or ``topnet.tune.worker.join_study``
in Python); running again resumes it.

Example:
    >>> from topnet.tune import SearchSpace, Categorical, Float
    >>> space = SearchSpace({"family": Categorical(["mlp"]), "lr": Float(1e-4, 1e-1, log=True)})
    >>> sorted(space.to_dict()["params"])
    ['family', 'lr']
"""
from topnet.budget import Budget, parse_budget, parse_duration
from topnet.callbacks import Deadline, PruningCallback
from topnet.configs import (
                            DataSpec,
                            FitSettings,
                            TrainOutcome,
                            TrialData,
                            build_model,
                            complete_config,
                            model_spec,
                            prepare_splits,
                            train_config,
)
from topnet.tune.checkpoints import TrialRecord, select_top_k
from topnet.tune.defaults import default_space, image_space, signal_space, vector_space
from topnet.tune.portfolio import default_portfolio
from topnet.tune.results import TuneResult
from topnet.tune.space import Categorical, Fixed, Float, Int, Rule, SearchSpace
from topnet.tune.study import PRUNERS, SAMPLERS, make_pruner, make_sampler, make_storage
from topnet.tune.tuner import tune

# FitSettings, TrainOutcome, train_config, DataSpec, TrialData, prepare_splits, build_model,
# complete_config, model_spec (now `topnet.configs`), Budget, parse_budget, parse_duration (now
# `topnet.budget`), Deadline and PruningCallback (now `topnet.callbacks`) are re-exported here for
# one release; import them from their new homes.
__all__ = [
    "tune",
    "TuneResult",
    "TrialRecord",
    "select_top_k",
    "SearchSpace",
    "Categorical",
    "Int",
    "Float",
    "Fixed",
    "Rule",
    "default_space",
    "image_space",
    "signal_space",
    "vector_space",
    "default_portfolio",
    "DataSpec",
    "TrialData",
    "prepare_splits",
    "FitSettings",
    "TrainOutcome",
    "train_config",
    "build_model",
    "complete_config",
    "model_spec",
    "PruningCallback",
    "Budget",
    "Deadline",
    "parse_budget",
    "parse_duration",
    "SAMPLERS",
    "PRUNERS",
    "make_sampler",
    "make_pruner",
    "make_storage",
]

"""Hyperparameter and architecture search on Optuna: the only package that imports Optuna.

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
from topnet.tune.budget import Budget, Deadline, parse_budget, parse_duration
from topnet.tune.builders import build_model, complete_config, model_spec
from topnet.tune.checkpoints import TrialRecord, select_top_k
from topnet.tune.data import DataSpec, TrialData, prepare_splits
from topnet.tune.defaults import default_space, image_space, signal_space, vector_space
from topnet.tune.portfolio import default_portfolio
from topnet.tune.objective import FitSettings, TrainOutcome, train_config
from topnet.tune.pruning import PruningCallback
from topnet.tune.results import TuneResult
from topnet.tune.search import tune
from topnet.tune.space import Categorical, Fixed, Float, Int, Rule, SearchSpace
from topnet.tune.study import PRUNERS, SAMPLERS, make_pruner, make_sampler, make_storage

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

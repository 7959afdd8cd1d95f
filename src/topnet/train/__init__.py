"""Training: ``fit``, ``evaluate``, ``predict``, losses, metrics, optimizers, schedules, the
learning-rate range test, regularisation and pruning."""
from topnet.callbacks.weight_pruning import Pruning  # a callback, re-exported here as before
from topnet.train.diagnostics import Diagnosis, Finding, diagnose
from topnet.train.loop import evaluate, fit, predict, resolve_device
from topnet.train.lr_finder import LRFinderResult, lr_find
from topnet.train.pruning import apply_masks, prune, pruning_report, sparsity
from topnet.train.regularizers import add_dropout, dropout_layers, l1, l1_l2, l2, penalty
from topnet.train.schedules import (
    OneCycle,
    cosine_decay,
    exponential_decay,
    one_cycle,
    piecewise_constant,
    power_decay,
)
from topnet.train.state import TrainState

__all__ = [
    "fit", "evaluate", "predict", "resolve_device", "TrainState",
    "lr_find", "LRFinderResult", "diagnose", "Diagnosis", "Finding",
    "power_decay", "exponential_decay", "piecewise_constant", "cosine_decay", "one_cycle", "OneCycle",
    "l1", "l2", "l1_l2", "penalty", "add_dropout", "dropout_layers",
    "prune", "apply_masks", "sparsity", "Pruning", "pruning_report",
]

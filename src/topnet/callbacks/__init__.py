"""Keras-style callbacks, one per module; ``base.py`` documents the hook order and ``state.py``
holds ``TrainState``, the one object every hook receives.

Every callback of the package lives here, the ones ``topnet run`` and the search use inside
too (`EpochProgress`, `StepTimer`, `StopFlag`, and `LRRangeTest` behind ``lr_find``: import
them from their modules).
"""
from topnet.callbacks.activation_logger import ActivationLogger
from topnet.callbacks.backup_and_restore import BackupAndRestore
from topnet.callbacks.base import HOOKS, Callback
from topnet.callbacks.csv_logger import CSVLogger
from topnet.callbacks.deadline import Deadline
from topnet.callbacks.diagnostics import Diagnostics
from topnet.callbacks.early_stopping import EarlyStopping
from topnet.callbacks.history import History
from topnet.callbacks.learning_rate_log import LearningRateLog
from topnet.callbacks.learning_rate_scheduler import LearningRateScheduler
from topnet.callbacks.max_norm import MaxNorm
from topnet.callbacks.model_checkpoint import ModelCheckpoint
from topnet.callbacks.progress_bar import ProgressBar
from topnet.callbacks.reduce_lr_on_plateau import ReduceLROnPlateau
from topnet.callbacks.tensorboard import TensorBoard
from topnet.callbacks.terminate_on_nan import TerminateOnNaN
from topnet.callbacks.trial_pruning import PruningCallback
from topnet.callbacks.weight_pruning import Pruning

__all__ = [
    "HOOKS",
    "Callback",
    "History",
    "ActivationLogger",
    "BackupAndRestore",
    "CSVLogger",
    "Deadline",
    "Diagnostics",
    "EarlyStopping",
    "LearningRateLog",
    "LearningRateScheduler",
    "MaxNorm",
    "ModelCheckpoint",
    "ProgressBar",
    "Pruning",
    "PruningCallback",
    "ReduceLROnPlateau",
    "TensorBoard",
    "TerminateOnNaN",
]

"""Keras-style callbacks, one per module; ``base.py`` documents the hook order."""
from topnet.callbacks.backup_and_restore import BackupAndRestore
from topnet.callbacks.base import HOOKS, Callback
from topnet.callbacks.csv_logger import CSVLogger
from topnet.callbacks.diagnostics import Diagnostics
from topnet.callbacks.early_stopping import EarlyStopping
from topnet.callbacks.history import History
from topnet.callbacks.learning_rate_scheduler import LearningRateScheduler
from topnet.callbacks.max_norm import MaxNorm
from topnet.callbacks.model_checkpoint import ModelCheckpoint
from topnet.callbacks.progress_bar import ProgressBar
from topnet.callbacks.reduce_lr_on_plateau import ReduceLROnPlateau
from topnet.callbacks.tensorboard import TensorBoard
from topnet.callbacks.terminate_on_nan import TerminateOnNaN
from topnet.train.pruning import Pruning

__all__ = [
    "HOOKS",
    "Callback",
    "History",
    "BackupAndRestore",
    "CSVLogger",
    "Diagnostics",
    "EarlyStopping",
    "LearningRateScheduler",
    "MaxNorm",
    "ModelCheckpoint",
    "ProgressBar",
    "Pruning",
    "ReduceLROnPlateau",
    "TensorBoard",
    "TerminateOnNaN",
]

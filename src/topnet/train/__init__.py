"""Training: ``fit``, ``evaluate``, ``predict``, losses, metrics and optimizers."""
from topnet.train.loop import evaluate, fit, predict, resolve_device
from topnet.train.state import TrainState

__all__ = ["fit", "evaluate", "predict", "resolve_device", "TrainState"]

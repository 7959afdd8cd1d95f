"""The jobs the command line runs, as public functions."""
from topnet.pipeline.train import TrainConfig, train_run

__all__ = ["TrainConfig", "train_run"]

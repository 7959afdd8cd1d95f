"""The jobs the command line runs, as public functions."""
from topnet.pipeline.config import RunConfig, resolve_config
from topnet.pipeline.predict import Predictions, predict_run
from topnet.pipeline.run import run
from topnet.pipeline.train import TrainConfig, train_run

__all__ = ["RunConfig", "resolve_config", "run", "Predictions", "predict_run", "TrainConfig", "train_run"]

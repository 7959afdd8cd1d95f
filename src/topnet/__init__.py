"""topnet: take a PyTorch model from "works okay" to "works great".

The public API is listed in ``__all__``; subpackages: ``topnet.data``, ``topnet.nn``,
``topnet.train``, ``topnet.callbacks``, ``topnet.io``.
"""
from topnet.callbacks.history import History
from topnet.train.loop import evaluate, fit, predict
from topnet.train.diagnostics import diagnose
from topnet.train.lr_finder import lr_find
from topnet.uncertainty.mc_dropout import mc_predict

__version__ = "0.1.0"

__all__ = ["fit", "evaluate", "predict", "lr_find", "diagnose", "mc_predict", "History", "__version__"]

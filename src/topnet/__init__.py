"""topnet: take a PyTorch model from "works okay" to "works great".

The public API is listed in ``__all__``; subpackages: ``topnet.data``, ``topnet.nn``,
``topnet.train``, ``topnet.callbacks``, ``topnet.io``.
"""
from topnet.callbacks.history import History
from topnet.train.loop import evaluate, fit, predict
from topnet.train.lr_finder import lr_find

__version__ = "0.1.0"

__all__ = ["fit", "evaluate", "predict", "lr_find", "History", "__version__"]

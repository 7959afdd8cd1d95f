"""topnet: take a PyTorch model from "works okay" to "works great".

The public API is listed in ``__all__``; subpackages: ``topnet.data``, ``topnet.nn``,
``topnet.train``, ``topnet.callbacks``, ``topnet.io``.
"""
from topnet.callbacks.history import History
from topnet.train.loop import evaluate, fit, predict

__version__ = "0.1.0"

__all__ = ["fit", "evaluate", "predict", "History", "__version__"]

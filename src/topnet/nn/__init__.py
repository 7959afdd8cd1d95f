"""Building blocks and models (``topnet.nn``)."""
from topnet.nn.models import create_model, model_names, register_model

__all__ = ["create_model", "model_names", "register_model"]

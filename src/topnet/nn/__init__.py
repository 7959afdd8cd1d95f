"""Building blocks and models (``topnet.nn``)."""
from topnet.nn.models import create_model, list_models, register_model

__all__ = ["create_model", "list_models", "register_model"]

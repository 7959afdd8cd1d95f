"""Model builders, registered by name, and ``create_model``.

The registry (``register_model``, ``create_model``, ``list_models``, ``config_of``,
``MODELS``) lives in `topnet.nn.models.registry`; this package imports the built-in builder
modules, which registers them, and re-exports the registry's names.
"""
from __future__ import annotations

# importing the builder modules registers the built-in builders
from topnet.nn.models import (basic, convnets, inception, presets, resnet, selu,  # noqa: F401
                              sequence, text, wide_and_deep, xception)
from topnet.nn.models.registry import MODELS, config_of, create_model, list_models, register_model
from topnet.nn.models.registry import _CONFIGS  # noqa: F401  topnet.nn.transfer records a clone's config here

__all__ = ["register_model", "create_model", "list_models", "config_of", "MODELS"]

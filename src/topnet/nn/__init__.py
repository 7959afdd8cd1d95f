"""Building blocks and models (``topnet.nn``): initialisers, activations, layers, blocks,
registered model builders and the books' presets."""
from topnet.nn.activations import ACTIVATIONS, get_activation
from topnet.nn.blocks import (
    InceptionModule,
    ResidualBlock,
    SELUStack,
    XceptionEntryFlow,
    XceptionExitFlow,
    XceptionMiddleFlow,
)
from topnet.nn.init import INITIALIZERS, VarianceScaling, get_initializer, initialize, initializer_for
from topnet.nn.layers import BatchRenorm1d, BatchRenorm2d, ConvBNAct, SeparableConv2d, batch_norm
from topnet.nn.models import config_of, create_model, list_models, register_model
from topnet.nn.models.wide_and_deep import WideAndDeep

__all__ = [
    "ACTIVATIONS",
    "INITIALIZERS",
    "BatchRenorm1d",
    "BatchRenorm2d",
    "ConvBNAct",
    "InceptionModule",
    "ResidualBlock",
    "SELUStack",
    "SeparableConv2d",
    "VarianceScaling",
    "WideAndDeep",
    "XceptionEntryFlow",
    "XceptionExitFlow",
    "XceptionMiddleFlow",
    "batch_norm",
    "config_of",
    "create_model",
    "get_activation",
    "get_initializer",
    "initialize",
    "initializer_for",
    "list_models",
    "register_model",
]

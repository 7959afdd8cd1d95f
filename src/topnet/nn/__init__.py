"""Building blocks and models (``topnet.nn``): initialisers, activations, layers, blocks,
registered model builders and the books' presets; summary, plot, BN folding, ONNX export and
transfer learning."""
from topnet.nn.activations import ACTIVATIONS, get_activation
from topnet.nn.export import check_onnx, export_onnx
from topnet.nn.fold import fold_batchnorm, foldable_pairs
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
from topnet.nn.plot import plot_model
from topnet.nn.summary import ModelSummary, count_params, summary
from topnet.nn.transfer import clone_model, freeze, param_groups, replace_head, unfreeze

__all__ = [
    "ACTIVATIONS",
    "INITIALIZERS",
    "BatchRenorm1d",
    "BatchRenorm2d",
    "ConvBNAct",
    "ModelSummary",
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
    "check_onnx",
    "clone_model",
    "count_params",
    "export_onnx",
    "fold_batchnorm",
    "foldable_pairs",
    "freeze",
    "param_groups",
    "plot_model",
    "replace_head",
    "summary",
    "unfreeze",
    "config_of",
    "create_model",
    "get_activation",
    "get_initializer",
    "initialize",
    "initializer_for",
    "list_models",
    "register_model",
]

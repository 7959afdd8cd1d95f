"""The default search spaces: the choices of Chollet 7.3.2 and Géron ch. 11, per kind of data.

Images: architecture family (small convnet, convnet, depthwise-separable convnet, ResNet),
depth and width, activation with its matching initialiser, batch norm, dropout, optimizer,
learning rate (log scale) and schedule, weight decay, batch size and augmentation (flips are a
choice, not a default: they hurt on digits). Vectors and tables: MLPs (Wide & Deep too for
CSV tables), where SELU means a self-normalising net: ``selu_mlp`` with LeCun initialisation,
AlphaDropout and no batch norm. Signals and sequences (``(channels, length)`` samples such as
MNIST-1D): 1-D convnets, recurrent nets (GRU / LSTM, bidirectional) and MLPs. Text (token
ids): embedding + 1-D convolutions, embedding + GRU / LSTM, and a small transformer encoder.

Example:
    >>> space = image_space()
    >>> space.config_from_params({"family": "convnet", "depth": 2, "width": 16, "activation": "selu",
    ...     "optimizer": "adam", "lr": 1e-3, "schedule": "cosine", "weight_decay": 1e-5,
    ...     "batch_size": 64, "augment": "none"})["batch_norm"]
    False
"""
from __future__ import annotations

from typing import Any

import numpy as np

from topnet.configs.data_spec import data_kind, has_text_input
from topnet.data import Splits
from topnet.errors import unknown_name
from topnet.tune.portfolio import default_portfolio
from topnet.tune.space import Categorical, Fixed, Float, Int, Rule, SearchSpace

__all__ = ["image_space", "vector_space", "signal_space", "text_space", "default_space", "space_kind", "training_params"]

IMAGE_FAMILIES = ("small_convnet", "convnet", "separable_convnet", "resnet")
SIGNAL_FAMILIES = ("conv1d_net", "rnn_net", "mlp")
TEXT_FAMILIES = ("text_cnn", "text_rnn", "text_transformer")
SPACE_KINDS = ("images", "signals", "text", "vectors", "tabular")
_ACTIVATIONS = ("relu", "elu", "gelu", "selu")
_SELF_NORMALISING = {"batch_norm": False, "initializer": "lecun_normal"}


_TRAINING_BASELINE = {"optimizer": "adam", "lr": 1e-3, "schedule": "cosine", "weight_decay": 1e-6, "batch_size": 128}


def _allowed(param: object, value: object) -> bool:
    """Whether a baseline value lies in the (possibly narrowed) range of its parameter."""
    if isinstance(param, Categorical):
        return value in param.choices
    if isinstance(param, (Int, Float)):
        return param.low <= value <= param.high
    return False


def training_params(*, augment: bool = False) -> dict:
    """The optimisation choices shared by every default space."""
    params = {
        "optimizer": Categorical(["adam", "adamw", "sgd_nesterov", "rmsprop"]),
        "lr": Float(1e-4, 1e-1, log=True),
        "schedule": Categorical(["constant", "cosine", "one_cycle"]),
        "weight_decay": Float(1e-6, 1e-2, log=True),
        "batch_size": Categorical([32, 64, 128, 256]),
    }
    if augment:
        params["augment"] = Categorical(["none", "flip", "crop", "flip_crop"])
    return params


def image_space(families: tuple[str, ...] = IMAGE_FAMILIES, widths: tuple[int, ...] = (16, 32, 64),
                max_depth: int = 3) -> SearchSpace:
    """The default space for (channels, height, width) images.

    Args:
        families: the convnet builders to choose between.
        widths: channels of the first stage (each later stage doubles them).
        max_depth: the most stages (each halves height and width; 3 suits 28×28 and 32×32).
    """
    params = {
        "family": Categorical(list(families)),
        "depth": Int(2, max_depth),
        "width": Categorical(list(widths)),
        "blocks": Int(1, 2, when={"family": "resnet"}),
        "activation": Categorical(list(_ACTIVATIONS), when={"family": ["convnet", "separable_convnet", "resnet"]}),
        "batch_norm": Categorical([True, False]),
        "dropout": Float(0.0, 0.5),
        **training_params(augment=True),
    }
    rules = (Rule(when={"family": "small_convnet"}, then={"activation": "relu"}),
             # SELU self-normalises: LeCun init, no BN; the convnets' head dropout is plain
             # Dropout, which breaks self-normalisation, so none
             Rule(when={"activation": "selu"}, then={**_SELF_NORMALISING, "dropout": 0.0}))
    baseline = {"family": "small_convnet", "depth": 2, "width": 32, "batch_norm": True, "dropout": 0.3,
                **_TRAINING_BASELINE, "augment": "none"}  # topnet train's default model and training
    return SearchSpace(params, rules, {k: v for k, v in baseline.items() if _allowed(params[k], v)},
                       default_portfolio("images"))


def vector_space(wide_and_deep: bool = False, widths: tuple[int, ...] = (64, 128, 256, 512),
                 max_depth: int = 4, text: bool = False) -> SearchSpace:
    """The default space for flat or sequence vectors (and CSV tables with ``wide_and_deep``).

    ``activation = "selu"`` selects ``selu_mlp`` (LeCun init, AlphaDropout, no batch norm). With
    ``text`` (a table with a text column) the baseline is a ``wide_and_deep``, the family that
    reads the token ids: an MLP on the flattened table leaves the text out, so a run whose search
    finishes no trial would retrain models blind to it.
    """
    params = {
        "activation": Categorical(list(_ACTIVATIONS)),
        "family": Categorical(["mlp", "wide_and_deep"]) if wide_and_deep else Fixed("mlp"),
        "depth": Int(1, max_depth),
        "width": Categorical(list(widths)),
        "batch_norm": Categorical([True, False]),
        "dropout": Float(0.0, 0.3),
        **training_params(),
    }
    rules = (Rule(when={"activation": "selu"}, then={"family": "selu_mlp", **_SELF_NORMALISING}),)
    baseline = {**({"family": "wide_and_deep"} if text and wide_and_deep else {}), "activation": "relu", "depth": 2,
                "width": 256, "batch_norm": False, "dropout": 0.0, **_TRAINING_BASELINE}
    return SearchSpace(params, rules, {k: v for k, v in baseline.items() if _allowed(params[k], v)},
                       default_portfolio("tabular" if wide_and_deep else "vectors"))


def signal_space(families: tuple[str, ...] = SIGNAL_FAMILIES, length: int | None = None) -> SearchSpace:
    """The default space for signals and sequences: ``(channels, length)`` samples.

    ``conv1d_net``: ``depth`` stages (each halves the length, so at most ``log2(length)``) of
    ``width`` channels doubling per stage, a kernel of 3, 5 or 7, a flattening or pooling head;
    ``rnn_net``: a GRU or LSTM of ``width`` units per direction, 1 or 2 layers,
    bidirectional or not; ``mlp`` on the flattened signal. The baseline is a 3-stage
    ``conv1d_net`` (the shape of the MNIST-1D paper's CNN).
    """
    max_depth = 4 if length is None else max(1, min(4, int(length).bit_length() - 1))
    params = {
        "family": Categorical(list(families)),
        "depth": Int(1, max_depth, when={"family": ["conv1d_net", "mlp"]}),
        "model.num_layers": Int(1, 2, when={"family": "rnn_net"}),
        "width": Categorical([16, 32, 64]),
        "model.kernel_size": Categorical([3, 5, 7], when={"family": "conv1d_net"}),
        "model.head": Categorical(["flatten", "avg"], when={"family": "conv1d_net"}),
        "model.cell": Categorical(["gru", "lstm"], when={"family": "rnn_net"}),
        "model.bidirectional": Categorical([True, False], when={"family": "rnn_net"}),
        "activation": Categorical(list(_ACTIVATIONS[:3]), when={"family": ["conv1d_net", "mlp"]}),
        "batch_norm": Categorical([True, False], when={"family": ["conv1d_net", "mlp"]}),
        "dropout": Float(0.0, 0.3),
        **training_params(),
    }
    rules = ()
    baseline = {"family": "conv1d_net", "depth": min(3, max_depth), "width": 32, "model.kernel_size": 5,
                "model.head": "flatten", "activation": "relu", "batch_norm": True, "dropout": 0.0, **_TRAINING_BASELINE}
    return SearchSpace(params, rules, {k: v for k, v in baseline.items() if _allowed(params[k], v)},
                       default_portfolio("signals"))


def text_space(families: tuple[str, ...] = TEXT_FAMILIES) -> SearchSpace:
    """The default space for text (token ids from a `topnet.data.TextVectorizer`).

    ``text_cnn``: parallel 1-D convolutions of ``width`` filters with ``depth`` kernel sizes
    (3; 3 and 5; 3, 5 and 7) and global max pooling; ``text_rnn``: an LSTM or GRU of ``width``
    units, ``depth`` layers, bidirectional or not; ``text_transformer``: ``depth`` encoder
    layers with a feed-forward width of ``2 * width``. Each embeds tokens in ``model.embed_dim``
    dimensions. The baseline is a ``text_cnn`` (fast on a CPU, strong on classification).
    """
    params = {
        "family": Categorical(list(families)),
        "depth": Int(1, 3, when={"family": "text_cnn"}),
        "model.num_layers": Int(1, 2, when={"family": ["text_rnn", "text_transformer"]}),
        "width": Categorical([32, 64, 128]),
        "model.embed_dim": Categorical([32, 64, 128]),
        "model.cell": Categorical(["gru", "lstm"], when={"family": "text_rnn"}),
        "model.bidirectional": Categorical([True, False], when={"family": "text_rnn"}),
        "dropout": Float(0.0, 0.5),
        **training_params(),
    }
    baseline = {"family": "text_cnn", "depth": 2, "width": 128, "model.embed_dim": 64, "dropout": 0.3,
                **_TRAINING_BASELINE}
    return SearchSpace(params, (), {k: v for k, v in baseline.items() if k in params and _allowed(params[k], v)},
                       default_portfolio("text"))


def space_kind(train: Any) -> str:
    """``"images"``, ``"signals"`` (``(channels, length)`` samples), ``"vectors"`` or ``"tabular"``:
    which default space suits a training split (a `Dataset`).

    Example:
        >>> import numpy as np
        >>> from topnet.data import Dataset
        >>> space_kind(Dataset(x=np.zeros((2, 1, 40)), y=np.array([0, 1])))
        'signals'
    """
    kind = data_kind(train)
    if kind == "vectors" and np.ndim(train.x) == 3:
        return "signals"
    return kind


def default_space(data: Splits | str) -> SearchSpace:
    """The default space for ``data`` (its splits, or a kind among `SPACE_KINDS`).

    Raises:
        ValueError: an unknown kind.
    """
    if isinstance(data, str):
        kind, length = data, None
    else:
        kind, length = space_kind(data.train), (int(np.shape(data.train.x)[-1]) if not isinstance(data.train.x, dict)
                                                else None)
    if kind == "images":
        return image_space()
    if kind == "signals":
        return signal_space(length=length)
    if kind == "text":
        return text_space()
    if kind in ("vectors", "tabular"):
        text = not isinstance(data, str) and has_text_input(data.train)
        return vector_space(wide_and_deep=kind == "tabular", text=text)
    raise unknown_name("data kind", kind, SPACE_KINDS)

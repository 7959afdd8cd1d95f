"""From a configuration (a plain dict) to a model, an optimizer, a schedule and an augmentation.

The vocabulary of a configuration; keys that are absent take the defaults shown:

    family        a registered model builder (``topnet.nn.list_models()``)            ["mlp"]
    depth, width  layers (stages) and units (channels of the first stage, doubling per
                  stage for convnets); mapped to each family's own arguments     [builder's]
    activation, batch_norm, dropout, initializer
                  passed to builders that take them; ``initializer`` defaults to the one
                  that suits ``activation`` (``topnet.nn.initializer_for``)      [builder's]
    blocks        residual blocks per stage (``resnet``)                           [builder's]
    model.NAME    any other builder argument, passed as is (``model.dense = 64``)
    optimizer     adam, adamw, sgd_nesterov (momentum 0.9), rmsprop or any
                  ``topnet.train.optimizers`` name                                  ["adam"]
    lr            learning rate (the peak rate for cosine and one_cycle)    [optimizer's]
    weight_decay  the optimizer's weight decay                              [optimizer's]
    schedule      constant, cosine (decay to 0, per step) or one_cycle            ["constant"]
    batch_size    samples per step                                                    [128]
    augment       none, flip, crop (pad 1/8 and crop) or flip_crop (images only)     ["none"]
    epochs        set from the search's settings when the configuration is completed

`complete_config` fills the defaults in, so a stored configuration rebuilds the trial exactly.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable

import torch

from topnet.callbacks import LearningRateScheduler
from topnet.data import Compose, PadAndCrop, RandomFlip
from topnet.errors import format_message, unknown_name
from topnet.nn import create_model, initializer_for
from topnet.nn.models import MODELS, list_models
from topnet.train.optimizers import get_optimizer
from topnet.train.schedules import cosine_decay, one_cycle

__all__ = ["check_keys", "complete_config", "model_spec", "build_model", "build_optimizer",
           "schedule_callbacks", "build_augment", "SCHEDULES", "AUGMENTATIONS"]

SCHEDULES = ("constant", "cosine", "one_cycle")
AUGMENTATIONS = ("none", "flip", "crop", "flip_crop")
_PASSED = ("activation", "batch_norm", "dropout", "initializer")  # given to builders that take them
_DEFAULTS = {"family": "mlp", "optimizer": "adam", "schedule": "constant", "batch_size": 128, "augment": "none"}
KEYS = (*_DEFAULTS, "depth", "width", *_PASSED, "blocks", "lr", "weight_decay", "epochs")  # and model.NAME


def _stages(depth: int, width: int) -> list[int]:
    return [int(width) * 2 ** i for i in range(int(depth))]


# family -> (depth, width) -> the builder's structural arguments
_SHAPES: dict[str, Callable[[int | None, int | None], dict[str, Any]]] = {
    "mlp": lambda d, w: {"hidden": [w or 100] * (d or 2)},
    "wide_and_deep": lambda d, w: {"hidden": [w or 64] * (d or 2)},
    "selu_mlp": lambda d, w: {**({"units": w} if w else {}), **({"num_layers": d} if d else {})},
    "small_convnet": lambda d, w: {"filters": _stages(d or 2, w or 32)},
    "convnet": lambda d, w: {"filters": _stages(d or 2, w or 32)},
    "separable_convnet": lambda d, w: {"filters": _stages(d or 3, w or 32)},
    "resnet": lambda d, w: {"stage_channels": _stages(d or 3, w or 16)},
    "inception_net": lambda d, w: {**({"stem_channels": w} if w else {}), **({"num_modules": d} if d else {})},
    "conv1d_net": lambda d, w: {"filters": _stages(d or 3, w or 32)},
    "rnn_net": lambda d, w: {**({"units": w} if w else {}), **({"num_layers": d} if d else {})},
    # text: depth is the number of kernel sizes (3, 5, 7) / recurrent or encoder layers
    "text_cnn": lambda d, w: {**({"filters": w} if w else {}), **({"kernel_sizes": [3, 5, 7][:d]} if d else {})},
    "text_rnn": lambda d, w: {**({"units": w} if w else {}), **({"num_layers": d} if d else {})},
    "text_transformer": lambda d, w: {**({"ff_dim": 2 * w} if w else {}), **({"num_layers": d} if d else {})},
}


def check_keys(names: Any) -> None:
    """Raise ValueError for a configuration key outside the vocabulary (a typo, or ``--set nosuch=1``).

    Example:
        >>> check_keys(["family", "lr", "model.dense"])
    """
    unknown = [name for name in names if name not in KEYS and not str(name).startswith("model.")]
    if unknown:
        raise unknown_name("configuration key", unknown[0], [*KEYS, "model.NAME"])


def complete_config(config: dict[str, Any], epochs: int | None = None) -> dict[str, Any]:
    """``config`` with every default filled in (and ``epochs`` when given).

    Raises:
        ValueError: a key outside the vocabulary above (a typo would otherwise be ignored),
            an unknown schedule or augmentation.

    Example:
        >>> complete_config({"family": "mlp", "activation": "selu"})["initializer"]
        'lecun_normal'
    """
    check_keys(config)
    done = {**_DEFAULTS, **config}
    if "activation" in done and "initializer" not in done:
        done["initializer"] = initializer_for(done["activation"])
    if epochs is not None:
        done["epochs"] = int(epochs)
    if done["schedule"] not in SCHEDULES:
        raise unknown_name("schedule", done["schedule"], SCHEDULES)
    if done["augment"] not in AUGMENTATIONS:
        raise unknown_name("augment", done["augment"], AUGMENTATIONS)
    return done


def model_spec(config: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """``(builder name, arguments)`` of the model ``config`` describes, without the
    data-dependent ones (input shape, classes).

    Example:
        >>> model_spec({"family": "convnet", "depth": 2, "width": 8, "activation": "elu", "dropout": 0.1})
        ('convnet', {'filters': [8, 16], 'activation': 'elu', 'dropout': 0.1})
    """
    family = config.get("family", _DEFAULTS["family"])
    if family not in list_models():
        raise unknown_name("model family", family, MODELS)
    takes = inspect.signature(MODELS[family]).parameters
    kwargs: dict[str, Any] = {}
    depth, width = config.get("depth"), config.get("width")
    if depth is not None or width is not None:
        if family not in _SHAPES:
            raise ValueError(format_message("depth/width", (depth, width), f"a family among {sorted(_SHAPES)}",
                                            f"set {family!r}'s arguments with model.NAME keys"))
        kwargs.update(_SHAPES[family](depth, width))
    if config.get("blocks") is not None and "blocks_per_stage" in takes:
        kwargs["blocks_per_stage"] = int(config["blocks"])
    kwargs.update({key: config[key] for key in _PASSED if key in config and key in takes})
    kwargs.update({key[len("model."):]: value for key, value in config.items() if key.startswith("model.")})
    return family, kwargs


def build_model(config: dict[str, Any], data_arguments: dict[str, Any]) -> torch.nn.Module:
    """The model of ``config``, built with ``create_model`` (so ``save_model`` can rebuild it).

    Args:
        config: a configuration.
        data_arguments: ``topnet.configs.model_arguments(...)`` (input shape, classes).
    """
    family, kwargs = model_spec(config)
    return create_model(family, **data_arguments, **kwargs)


def build_optimizer(config: dict[str, Any], model: torch.nn.Module) -> torch.optim.Optimizer:
    """The optimizer of ``config`` for ``model``'s parameters.

    Example:
        >>> opt = build_optimizer({"optimizer": "sgd_nesterov", "lr": 0.05}, torch.nn.Linear(2, 1))
        >>> type(opt).__name__, opt.defaults["nesterov"], opt.defaults["lr"]
        ('SGD', True, 0.05)
    """
    name = config.get("optimizer", _DEFAULTS["optimizer"])
    options: dict[str, Any] = {}
    if name == "sgd_nesterov":
        name, options = "sgd", {"momentum": 0.9, "nesterov": True}
    if config.get("weight_decay") is not None:
        options["weight_decay"] = float(config["weight_decay"])
    return get_optimizer(name, model.parameters(), lr=config.get("lr"), **options)


def schedule_callbacks(config: dict[str, Any], lr0: float, total_steps: int,
                       offset: int = 0) -> list[LearningRateScheduler]:
    """The learning-rate schedule of ``config`` as callbacks (none for ``constant``).

    Args:
        lr0: the peak learning rate (the optimizer's rate before any schedule changed it).
        total_steps: optimizer steps of the whole trial.
        offset: subtracted from ``state.step`` (a second ``fit`` of one trial counts its steps
            from ``initial_epoch * steps_per_epoch``; ``offset`` maps them onto the trial's).
    """
    schedule = config.get("schedule", "constant")
    if schedule == "constant":
        return []
    if schedule == "cosine":
        curve = cosine_decay(lr0, max(total_steps, 1))
        return [LearningRateScheduler(lambda step: curve(step - offset), per="step")]
    if schedule == "one_cycle":
        cycle = one_cycle(lr0, max(total_steps, 4))  # a cycle needs a few steps
        return [LearningRateScheduler(lambda step: cycle(step - offset), per="step",
                                      momentum_schedule=lambda step: cycle.momentum(step - offset))]
    raise unknown_name("schedule", schedule, SCHEDULES)


def build_augment(config: dict[str, Any], input_shape: Any) -> Callable | None:
    """The batch augmentation of ``config`` (None for ``"none"``); images only.

    Example:
        >>> build_augment({"augment": "flip_crop"}, (1, 28, 28))
        Compose([RandomFlip(horizontal=True, vertical=False, p=0.5), PadAndCrop(3, mode='reflect')])
    """
    name = config.get("augment", "none")
    if name == "none":
        return None
    if name not in AUGMENTATIONS:
        raise unknown_name("augment", name, AUGMENTATIONS)
    if isinstance(input_shape, dict) or len(input_shape) != 3:
        raise ValueError(format_message("augment", name, "'none' for inputs that are not images",
                                        "remove augment from the search space"))
    crop = PadAndCrop(max(1, min(input_shape[1:]) // 8))  # 4 pixels for 32x32, as for CIFAR
    return {"flip": RandomFlip(), "crop": crop, "flip_crop": Compose([RandomFlip(), crop])}[name]

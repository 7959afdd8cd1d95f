"""From configurations to models, optimizers, schedules and augmentations."""
import pytest
import torch

from topnet.callbacks import LearningRateScheduler
from topnet.configs.builders import (
    build_augment,
    build_model,
    build_optimizer,
    complete_config,
    model_spec,
    schedule_callbacks,
)
from topnet.nn import config_of
from topnet.train.schedules import cosine_decay, one_cycle
from topnet.train.state import TrainState


@pytest.mark.parametrize("config, builder, kwargs", [
    ({"family": "mlp", "depth": 3, "width": 32, "activation": "elu", "batch_norm": True},
     "mlp", {"hidden": [32, 32, 32], "activation": "elu", "batch_norm": True}),
    ({"family": "selu_mlp", "depth": 4, "width": 16, "activation": "selu", "batch_norm": False, "dropout": 0.1},
     "selu_mlp", {"units": 16, "num_layers": 4, "dropout": 0.1}),
    ({"family": "small_convnet", "depth": 3, "width": 8, "activation": "relu"},
     "small_convnet", {"filters": [8, 16, 32]}),
    ({"family": "resnet", "depth": 2, "width": 4, "blocks": 1},
     "resnet", {"stage_channels": [4, 8], "blocks_per_stage": 1}),
    ({"family": "convnet", "model.dense": 0, "model.kernel_size": 5}, "convnet", {"dense": 0, "kernel_size": 5}),
])
def test_model_spec_maps_depth_width_and_passes_what_the_builder_takes(config, builder, kwargs):
    assert model_spec(config) == (builder, kwargs)


def test_models_are_rebuildable_from_their_recorded_config():
    model = build_model({"family": "convnet", "depth": 2, "width": 4}, {"input_shape": [1, 8, 8], "num_classes": 3})
    assert config_of(model) == {"builder": "convnet", "kwargs": {"input_shape": [1, 8, 8], "num_classes": 3,
                                                                  "filters": [4, 8]}}


def test_model_spec_errors():
    with pytest.raises(ValueError, match="unknown model family 'mlpp'.*did you mean 'mlp'"):
        model_spec({"family": "mlpp"})
    with pytest.raises(ValueError, match="depth/width"):
        model_spec({"family": "xception_net", "depth": 2})


def test_complete_config_fills_defaults_and_checks_names():
    config = complete_config({"activation": "gelu"}, epochs=4)
    assert config == {"family": "mlp", "optimizer": "adam", "schedule": "constant", "batch_size": 128,
                      "augment": "none", "activation": "gelu", "initializer": "he_normal", "epochs": 4}
    with pytest.raises(ValueError, match="unknown schedule"):
        complete_config({"schedule": "cosin"})


@pytest.mark.parametrize("name, cls, extra", [("adam", torch.optim.Adam, {}), ("adamw", torch.optim.AdamW, {}),
                                              ("rmsprop", torch.optim.RMSprop, {}),
                                              ("sgd_nesterov", torch.optim.SGD, {"nesterov": True, "momentum": 0.9})])
def test_optimizers(name, cls, extra):
    optimizer = build_optimizer({"optimizer": name, "lr": 0.02, "weight_decay": 1e-4}, torch.nn.Linear(2, 1))
    assert type(optimizer) is cls and optimizer.defaults["lr"] == 0.02 and optimizer.defaults["weight_decay"] == 1e-4
    assert all(optimizer.defaults[k] == v for k, v in extra.items())


def run_schedule(callbacks, optimizer, steps, start=0):
    state = TrainState(model=torch.nn.Linear(1, 1), optimizer=optimizer)
    rates = []
    for state.step in range(start, start + steps):
        for callback in callbacks:
            callback.on_batch_begin(state)
        rates.append(state.learning_rate)
    return rates


@pytest.mark.parametrize("schedule, reference", [("cosine", lambda: cosine_decay(0.1, 20)),
                                                 ("one_cycle", lambda: one_cycle(0.1, 20))])
def test_schedules_follow_the_reference_and_an_offset_continues_them(schedule, reference):
    optimizer = torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=0.1, momentum=0.9)
    curve = reference()
    assert run_schedule(schedule_callbacks({"schedule": schedule}, 0.1, 20), optimizer, 20) == pytest.approx(
        [curve(s) for s in range(20)])
    # a second fit that counts its steps from 30 continues at the trial's step 5
    later = run_schedule(schedule_callbacks({"schedule": schedule}, 0.1, 20, offset=25), optimizer, 5, start=30)
    assert later == pytest.approx([curve(s) for s in range(5, 10)])
    assert schedule_callbacks({"schedule": "constant"}, 0.1, 20) == []
    assert all(isinstance(c, LearningRateScheduler) for c in schedule_callbacks({"schedule": schedule}, 0.1, 20))


def test_augmentations():
    x, generator = torch.randn(4, 1, 8, 8), torch.Generator().manual_seed(0)
    for name in ("flip", "crop", "flip_crop"):
        assert build_augment({"augment": name}, (1, 8, 8))(x, generator).shape == x.shape
    assert build_augment({"augment": "none"}, (1, 8, 8)) is None
    with pytest.raises(ValueError, match="not images"):
        build_augment({"augment": "flip"}, (8,))
    with pytest.raises(ValueError, match="unknown augment"):
        build_augment({"augment": "rotate"}, (1, 8, 8))

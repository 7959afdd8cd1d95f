"""Transfer learning: Géron's reuse-a-pretrained-model recipe with topnet.fit, and the tools."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import topnet.train.loop as loop
from topnet.nn.models import config_of, create_model
from topnet.nn.transfer import clone_model, freeze, param_groups, replace_head, unfreeze


def _blobs(num_classes: int = 10, per_class: int = 30, dim: int = 8, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    centers = torch.randn(num_classes, dim, generator=generator) * 4
    y = torch.arange(num_classes).repeat_interleave(per_class)
    x = centers[y] + torch.randn(len(y), dim, generator=generator)
    return x, y


def _mlp(num_classes: int) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, num_classes))


def _snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_reuse_a_model_under_a_new_head_frozen_then_fine_tuned():
    x, y = _blobs()
    task_a = y < 8  # model A: classes 0-7; task B: tell class 8 from class 9
    model_a = _mlp(8)
    loop.fit(model_a, (x[task_a], y[task_a]), epochs=5, batch_size=32, verbose=0, device="cpu")
    a_weights = _snapshot(model_a)
    xb, yb = x[~task_a], y[~task_a] - 8

    model_b = freeze(replace_head(model_a, 2), up_to=4)
    assert model_b[4].out_features == 2 and model_a[4].out_features == 8
    assert [p.requires_grad for p in model_b.parameters()] == [False] * 4 + [True] * 2
    lower = _snapshot(model_b[:4])
    head = _snapshot(model_b[4])
    history = loop.fit(model_b, (xb, yb), epochs=4, batch_size=16, verbose=0, device="cpu", metrics=["accuracy"])
    assert sorted(history.history) == ["accuracy", "learning_rate", "loss"]
    for key, value in model_b[:4].state_dict().items():
        assert torch.equal(value, lower[key]), f"frozen {key} moved"
    assert not torch.equal(model_b[4].weight, head["weight"])

    unfreeze(model_b)
    groups = param_groups(model_b, {"4": 1e-2}, default_lr=1e-4)  # the reused layers learn 100x slower
    assert [(g["name"], g["lr"], len(g["params"])) for g in groups] == [("4", 1e-2, 2), ("default", 1e-4, 4)]
    optimizer = torch.optim.Adam(groups)
    loop.fit(model_b, (xb, yb), epochs=2, batch_size=16, optimizer=optimizer, verbose=0, device="cpu")
    assert not torch.equal(model_b[0].weight, lower["0.weight"])  # fine-tuned now
    assert (model_b[0].weight - lower["0.weight"]).abs().max() < 0.01  # ... gently: 2 epochs x 4 steps x ~1e-4
    assert loop.evaluate(model_b, (xb, yb), metrics=["accuracy"], device="cpu")["accuracy"] > 0.9
    for key, value in model_a.state_dict().items():  # model A was never touched
        assert torch.equal(value, a_weights[key])


def test_clone_model_copies_or_reinitialises():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 2))
    model(torch.randn(16, 4))  # train-mode call: running statistics move
    same = clone_model(model)
    for (key, a), b in zip(model.state_dict().items(), same.state_dict().values()):
        assert torch.equal(a, b) and a.data_ptr() != b.data_ptr(), key
    fresh = clone_model(model, copy_weights=False)
    assert not torch.equal(fresh[0].weight, model[0].weight)
    assert torch.equal(fresh[1].running_mean, torch.zeros(8)) and not torch.equal(model[1].running_mean, torch.zeros(8))


def test_clone_model_keeps_the_builder_record_and_warns_on_custom_parameters():
    built = create_model("mlp", input_shape=(4,), num_classes=3, hidden=(8,))
    assert config_of(clone_model(built)) == config_of(built)

    class Scale(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(torch.ones(3))

        def forward(self, x):
            return x * self.scale

    with pytest.warns(UserWarning, match="no reset_parameters"):
        clone_model(nn.Sequential(nn.Linear(3, 3), Scale()), copy_weights=False)


def test_freeze_up_to_names_and_errors():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body, self.head = nn.Linear(4, 4), nn.Linear(4, 2)

        def forward(self, x):
            return self.head(self.body(x))

    net = freeze(Net(), up_to="head")
    assert not net.body.weight.requires_grad and net.head.weight.requires_grad
    unfreeze(net)
    assert all(p.requires_grad for p in net.parameters())
    with pytest.raises(ValueError, match=r"one of the child names \['body', 'head'\]"):
        freeze(net, up_to="neck")
    with pytest.raises(TypeError, match="indexes are for nn.Sequential"):
        freeze(net, up_to=1)
    with pytest.raises(ValueError, match="an index in"):
        freeze(_mlp(2), up_to=9)
    sequential = freeze(_mlp(2), up_to=-1)
    assert [p.requires_grad for p in sequential.parameters()] == [False] * 4 + [True] * 2


def test_replace_head_finds_or_names_the_head():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(nn.Linear(4, 6), nn.ReLU())
            self.classifier = nn.Linear(6, 5)

        def forward(self, x):
            return self.classifier(self.features(x))

    net = replace_head(Net(), 3)
    assert net.classifier.out_features == 3 and net(torch.randn(2, 4)).shape == (2, 3)
    nested = nn.Sequential(nn.Linear(4, 6), nn.Sequential(nn.ReLU(), nn.Linear(6, 5)))
    assert replace_head(nested, 2)[1][1].out_features == 2
    ends_in_softmax = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 5), nn.Softmax(dim=1))
    with pytest.raises(ValueError, match=r"is a Softmax, not a Linear; pass head_name=.*\['0', '2'\]"):
        replace_head(ends_in_softmax, 2)
    assert replace_head(ends_in_softmax, 2, head_name="2")[2].out_features == 2
    with pytest.raises(ValueError, match="head_name"):
        replace_head(ends_in_softmax, 2, head_name="3")
    with pytest.raises(ValueError, match="num_classes"):
        replace_head(nested, 0)


def test_param_groups_cover_every_trainable_parameter_once():
    model = freeze(_mlp(2), up_to=2)
    groups = param_groups(model, {"2": 1e-3, "4.bias": 1e-1}, default_lr=1e-2)
    assert [(g["name"], g["lr"]) for g in groups] == [("2", 1e-3), ("4.bias", 1e-1), ("default", 1e-2)]
    grouped = [id(p) for g in groups for p in g["params"]]
    trainable = [id(p) for p in model.parameters() if p.requires_grad]
    assert sorted(grouped) == sorted(trainable) and len(grouped) == len(set(grouped))

    per_child = param_groups(unfreeze(model), [1e-4, 0.0, 1e-3, 0.0, 1e-2])  # ReLUs have no parameters
    assert [(g["name"], g["lr"]) for g in per_child] == [("0", 1e-4), ("2", 1e-3), ("4", 1e-2)]
    with pytest.raises(ValueError, match="5 learning rates"):
        param_groups(model, [1e-3, 1e-2])
    with pytest.raises(ValueError, match="prefixes of parameter names"):
        param_groups(model, {"40": 1e-3}, default_lr=1e-3)
    with pytest.raises(ValueError, match="default_lr"):
        param_groups(model, {"4": 1e-3})

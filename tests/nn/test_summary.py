"""summary and plot_model, checked against the books' Keras figures."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree

import pytest
import torch
from torch import nn

from topnet.nn.plot import plot_model
from topnet.nn.summary import count_params, summary


def geron_bn_mlp() -> nn.Sequential:
    """Géron ch. 11's batch-normalised MLP for Fashion-MNIST."""
    return nn.Sequential(nn.Flatten(), nn.BatchNorm1d(784), nn.Linear(784, 300), nn.ELU(), nn.BatchNorm1d(300),
                         nn.Linear(300, 100), nn.ELU(), nn.BatchNorm1d(100), nn.Linear(100, 10))


class Separable(nn.Module):
    """Keras's SeparableConv2D: a depthwise conv (no bias) then a 1x1 pointwise conv with bias."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3):
        super().__init__()
        self.depthwise = nn.Conv2d(in_channels, in_channels, kernel_size, groups=in_channels, bias=False)
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


def chollet_separable_cnn() -> nn.Sequential:
    """Chollet ch. 7's depthwise-separable convnet (ReLUs after each separable conv)."""
    layers: list[nn.Module] = []
    channels = 3
    for filters in (32, 64, "pool", 64, 128, "pool", 64, 128):
        if filters == "pool":
            layers.append(nn.MaxPool2d(2))
        else:
            layers += [Separable(channels, filters), nn.ReLU()]
            channels = filters
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 32), nn.ReLU(), nn.Linear(32, 10))


def test_geron_bn_mlp_matches_the_book():
    s = summary(geron_bn_mlp(), (28, 28))
    assert (s.total_params, s.trainable_params, s.non_trainable_params) == (271_346, 268_978, 2_368)
    assert [(r.type, r.output_shape, r.params) for r in s.rows] == [
        ("Flatten", (None, 784), 0), ("BatchNorm1d", (None, 784), 3_136), ("Linear", (None, 300), 235_500),
        ("ELU", (None, 300), 0), ("BatchNorm1d", (None, 300), 1_200), ("Linear", (None, 100), 30_100),
        ("ELU", (None, 100), 0), ("BatchNorm1d", (None, 100), 400), ("Linear", (None, 10), 1_010)]
    assert (s.rows[1].trainable_params, s.rows[1].non_trainable_params) == (1_568, 1_568)
    text = str(s)
    for line in ("Total params: 271,346", "Trainable params: 268,978", "Non-trainable params: 2,368",
                 "1 (BatchNorm1d)", "(None, 784)", "3,136"):
        assert line in text


def test_separable_convnet_counts_follow_keras_formula():
    s = summary(chollet_separable_cnn(), (3, 32, 32))
    rows = [r for r in s.rows if r.type == "Separable"]
    keras = [c_in * 3 * 3 + c_in * c_out + c_out for c_in, c_out in
             [(3, 32), (32, 64), (64, 64), (64, 128), (128, 64), (64, 128)]]
    assert [r.params for r in rows] == keras == [155, 2_400, 4_736, 8_896, 9_408, 8_896]  # the book's table
    assert [r.output_shape for r in rows] == [(None, 32, 30, 30), (None, 64, 28, 28), (None, 64, 12, 12),
                                              (None, 128, 10, 10), (None, 64, 3, 3), (None, 128, 1, 1)]
    deeper = summary(chollet_separable_cnn(), (3, 32, 32), depth=2)
    assert [(r.name, r.params) for r in deeper.rows[:2]] == [("0.depthwise", 27), ("0.pointwise", 128)]
    assert deeper.total_params == s.total_params == sum(p.numel() for p in chollet_separable_cnn().parameters())


class Siamese(nn.Module):
    """One LSTM applied to two inputs (Chollet's shared-layer example)."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(4, 3, batch_first=True)
        self.head = nn.Linear(6, 1)

    def forward(self, left, right):
        return self.head(torch.cat([self.lstm(left)[0][:, -1], self.lstm(right)[0][:, -1]], dim=-1))


def test_shared_layer_listed_per_call_counted_once():
    s = summary(Siamese(), {"left": (5, 4), "right": (7, 4)})
    assert [(r.name, r.call) for r in s.rows] == [("lstm", 1), ("lstm", 2), ("head", 1)]
    assert s.rows[0].output_shape == [(None, 5, 3), [(1, None, 3), (1, None, 3)]]  # batch is dim 1 of h and c
    assert s.rows[1].output_shape[0] == (None, 7, 3)
    lstm = 4 * (3 * 4 + 3 * 3 + 3 + 3)
    assert s.rows[0].params == s.rows[1].params == lstm
    assert s.total_params == lstm + 7
    assert "lstm (LSTM) [call 2]" in str(s)


def test_named_integer_inputs_and_example_input():
    class TwoInputs(nn.Module):
        def __init__(self):
            super().__init__()
            self.text, self.question = nn.Embedding(50, 4), nn.Embedding(30, 2)
            self.answer = nn.Linear(6, 5)

        def forward(self, text, question):
            return self.answer(torch.cat([self.text(text).mean(1), self.question(question).mean(1)], dim=-1))

    s = summary(TwoInputs(), {"text": (9,), "question": (3,)}, dtypes=torch.long)
    assert [(r.name, r.output_shape) for r in s.rows] == [
        ("text", (None, 9, 4)), ("question", (None, 3, 2)), ("answer", (None, 5))]
    batch = {"text": torch.randint(0, 50, (6, 9)), "question": torch.randint(0, 30, (6, 3))}
    assert summary(TwoInputs(), example_input=batch).rows[-1].output_shape == (None, 5)


def test_frozen_parameters_are_non_trainable_and_modes_are_restored():
    model = geron_bn_mlp()
    for parameter in model[2].parameters():
        parameter.requires_grad_(False)
    model.train()
    model[1].eval()
    s = summary(model, (28, 28))
    assert s.non_trainable_params == 2_368 + 235_500 and s.total_params == 271_346
    assert model.training and not model[1].training and model[4].training
    assert count_params(nn.BatchNorm2d(8)) == (16, 16)  # num_batches_tracked is not counted


def test_errors_and_printing(capsys):
    with pytest.raises(ValueError, match="input_shape"):
        summary(geron_bn_mlp())
    with pytest.raises(ValueError, match="depth"):
        summary(geron_bn_mlp(), (28, 28), depth=0)
    with pytest.raises(ValueError, match=r"dummy batch of shape \(2, 27, 28\)"):
        summary(geron_bn_mlp(), (27, 28))
    summary(nn.Linear(3, 2), (3,)).print_summary()
    assert "linear (Linear)" in capsys.readouterr().out


def test_plot_model_writes_png_and_svg(tmp_path):
    png = plot_model(geron_bn_mlp(), torch.zeros(2, 28, 28), tmp_path / "mlp.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = plot_model(Siamese(), {"left": torch.zeros(2, 5, 4), "right": torch.zeros(2, 7, 4)}, tmp_path / "siamese.svg")
    root = ElementTree.parse(svg).getroot()
    assert root.tag.endswith("svg")
    text = " ".join(t.text or "" for t in root.iter() if t.tag.endswith("text"))
    for label in ("left (input)", "right (input)", "lstm (LSTM)", "head (Linear)", "(None, 1)"):
        assert label in text


def test_plot_model_draws_the_traced_graph_with_skip_connections(tmp_path):
    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.bn = nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4)

        def forward(self, x, scale=None):  # a defaulted argument is traced with its default
            y = self.bn(self.conv(x))
            return torch.relu((y if scale is None else y * scale) + x)

    source = plot_model(Residual(), torch.randn(2, 4, 6, 6), tmp_path / "residual.dot").read_text()
    assert 'label=""' in source  # traced by fx, not the call-order fallback
    assert "scale" not in source
    ids = dict(re.findall(r'(n\d+) \[label="([^\\"]+)', source))
    by_label = {label: node for node, label in ids.items()}
    assert f"{by_label['x (input)']} -> {by_label['add']};" in source  # the skip connection
    assert f"{by_label['bn (BatchNorm2d)']} -> {by_label['add']};" in source


def test_plot_model_falls_back_to_call_order(tmp_path):
    class DataDependent(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 2)

        def forward(self, x):
            y = self.a(x)
            return self.b(y * 2 if y.sum() > 0 else y)

    source = plot_model(DataDependent(), torch.randn(2, 4), tmp_path / "graph.dot").read_text()
    assert "torch.fx could not trace" in source and "a (Linear)" in source and "b (Linear)" in source
    assert plot_model(DataDependent(), torch.randn(2, 4), tmp_path / "graph.svg").stat().st_size > 0


def test_plot_model_errors(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match=r"\.png, \.svg or \.dot"):
        plot_model(nn.Linear(2, 2), torch.zeros(2, 2), tmp_path / "graph.jpg")
    monkeypatch.setenv("PATH", str(tmp_path))  # no dot here
    with pytest.raises(RuntimeError, match="apt-get install graphviz"):
        plot_model(nn.Linear(2, 2), torch.zeros(2, 2), tmp_path / "graph.png")

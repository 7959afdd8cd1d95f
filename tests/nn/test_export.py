"""export_onnx / check_onnx: the ONNX file computes what the PyTorch model computes."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from topnet.nn.export import check_onnx, export_onnx
from topnet.nn.fold import fold_batchnorm


def _trained_conv_bn() -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                          nn.Conv2d(8, 8, 3, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(3):  # BatchNorm statistics away from their initial values
        optimizer.zero_grad()
        model(torch.randn(16, 3, 8, 8) * 2 + 1).square().mean().backward()
        optimizer.step()
    return model


def test_conv_bn_model_and_its_folded_copy_match_onnxruntime(tmp_path):
    model = _trained_conv_bn().train()
    x = torch.randn(4, 3, 8, 8)
    path = export_onnx(model, x, tmp_path / "model.onnx")
    assert path.stat().st_size > 0
    assert model.training  # its mode is restored
    assert check_onnx(path, model, x) <= 1e-5
    assert check_onnx(path, model, torch.randn(7, 3, 8, 8)) <= 1e-5  # the batch dimension is dynamic

    folded_path = export_onnx(model, x, tmp_path / "folded.onnx", fold_bn=True)
    assert check_onnx(folded_path, model, x, atol=1e-5) <= 1e-5
    assert check_onnx(folded_path, fold_batchnorm(model), x) <= 1e-5
    assert isinstance(model[1], nn.BatchNorm2d)  # fold_bn leaves the model as it was


def test_named_inputs_and_outputs(tmp_path):
    import onnxruntime

    class TwoInputs(nn.Module):
        def __init__(self):
            super().__init__()
            self.left, self.right = nn.Linear(3, 4), nn.Linear(2, 4)

        def forward(self, left, right):
            return {"sum": self.left(left) + self.right(right), "product": self.left(left) * self.right(right)}

    model, x = TwoInputs(), {"left": torch.randn(2, 3), "right": torch.randn(2, 2)}
    path = export_onnx(model, x, tmp_path / "two.onnx")
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["left", "right"]
    assert [o.name for o in session.get_outputs()] == ["sum", "product"]
    assert check_onnx(path, model, x) <= 1e-5


def test_check_reports_the_max_abs_difference(tmp_path):
    model = _trained_conv_bn()
    x = torch.randn(2, 3, 8, 8)
    path = export_onnx(model, x, tmp_path / "model.onnx")
    with torch.no_grad():
        model[-1].bias += 0.5  # the PyTorch model no longer matches the file
    with pytest.raises(ValueError, match=r"differs from PyTorch's by up to 0\.5 \(max abs difference\)"):
        check_onnx(path, model, x)


def test_bad_inputs_and_files(tmp_path):
    model = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="example_input"):
        export_onnx(model, [torch.zeros(1, 2)], tmp_path / "m.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="not a valid ONNX model"):
        check_onnx(bad, model, torch.zeros(1, 2))

"""``fit``'s precision (``"auto"`` picks bf16 where the hardware does it), channels-last layout and
``torch.compile``."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import topnet
from topnet.train import loop
from topnet.configs.settings import FitSettings


def _convnet() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))


def _images(n: int = 96) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    y = torch.randint(0, 3, (n,), generator=g)
    x = torch.randn(n, 1, 6, 6, generator=g) + y.view(-1, 1, 1, 1).float()
    return x, y


def test_channels_last_trains_as_the_usual_layout_does_and_gives_the_model_back_in_it():
    x, y = _images()
    results = []
    for channels_last in (False, True):
        model = _convnet()
        history = topnet.fit(model, (x, y), epochs=1, batch_size=32, metrics=["accuracy"], device="cpu",
                             channels_last=channels_last, verbose=0)
        assert all(p.is_contiguous() for p in model.parameters())  # the usual (NCHW) layout again
        results.append((history.history["loss"], [p.detach().clone() for p in model.parameters()]))
    (loss_a, weights_a), (loss_b, weights_b) = results
    assert loss_b == pytest.approx(loss_a, rel=1e-3)  # the same arithmetic in another memory order
    for a, b in zip(weights_a, weights_b):
        assert torch.allclose(a, b, atol=5e-3)  # other kernels: rounding differs


def test_channels_last_model_restores_its_best_weights_and_saves(tmp_path):
    from topnet.callbacks import EarlyStopping
    from topnet.io import load_model, save_model
    from topnet.nn import create_model

    x, y = _images()
    model = create_model("small_convnet", input_shape=(1, 6, 6), num_classes=3, filters=(4,), dense=8)
    stopper = EarlyStopping("val_loss", patience=1, restore_best_weights=True)
    topnet.fit(model, (x, y), validation_data=(x, y), epochs=3, device="cpu", channels_last=True,
               callbacks=[stopper], verbose=0)
    save_model(model, tmp_path / "m")
    reloaded = load_model(tmp_path / "m").eval()
    model.eval()
    assert torch.allclose(reloaded(x), model(x), atol=1e-5)


@pytest.mark.parametrize("flags, expected", [({"avx512f", "avx512_bf16"}, "bf16"), ({"amx_bf16"}, "bf16"),
                                             ({"avx2", "avx512f"}, "float32"), (set(), "float32")])
def test_auto_precision_is_bf16_only_where_the_cpu_does_it_in_hardware(monkeypatch, flags, expected):
    monkeypatch.setattr(loop, "_cpu_flags", lambda: flags)
    assert loop.resolve_precision("auto", "cpu") == expected
    assert loop.resolve_precision("float32", "cpu") == "float32"  # an explicit choice is kept


def test_auto_precision_trains(monkeypatch):
    x, y = _images()
    history = topnet.fit(_convnet(), (x, y), epochs=1, device="cpu", precision="auto", channels_last=True, verbose=0)
    assert torch.isfinite(torch.tensor(history.history["loss"])).all()


@pytest.mark.parametrize("call", [
    lambda: topnet.fit(nn.Linear(4, 3), (torch.zeros(8, 4), torch.zeros(8, dtype=torch.long)), precision="fp16", verbose=0),
    lambda: FitSettings(precision="fp16"),
])
def test_an_unknown_precision_is_named_with_the_choices(call):
    with pytest.raises(ValueError, match=r"precision.*'fp16'.*'bf16'"):
        call()


def _compile_run(compile):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                          nn.Dropout(0.2), nn.Linear(4 * 6 * 6, 3))
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(40, 1, 6, 6, generator=g), torch.randint(0, 3, (40,), generator=g)
    history = topnet.fit(model, (x, y), validation_data=(x[:8], y[:8]), epochs=2, batch_size=16,
                         channels_last=True, compile=compile, device="cpu", verbose=0)
    return model, history.history


def test_compiled_training_matches_eager_training_and_keeps_the_model_itself():
    # aot_eager runs dynamo's graph capture and AOTAutograd without a C++ compiler; batches of 16,
    # 16 and 8 make it trace the short last batch too, dropout and BatchNorm in training mode
    eager_model, eager = _compile_run(False)
    compiled_model, compiled = _compile_run({"backend": "aot_eager"})
    assert type(compiled_model) is nn.Sequential  # fit trains the model given, not a wrapper
    assert np.allclose(compiled["loss"], eager["loss"], rtol=1e-4)
    assert np.allclose(compiled["val_loss"], eager["val_loss"], rtol=1e-4)
    for (name, a), (_, b) in zip(compiled_model.state_dict().items(), eager_model.state_dict().items()):
        assert torch.allclose(a.float(), b.float(), atol=1e-5), name


def test_compile_takes_a_bool_or_torch_compile_arguments():
    with pytest.raises(TypeError, match=r"compile: got 'yes'.*torch\.compile"):
        topnet.fit(nn.Linear(4, 3), (torch.randn(8, 4), torch.randint(0, 3, (8,))), compile="yes", verbose=0)

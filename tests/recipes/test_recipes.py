"""Each recipe runs with ``quick=True`` on tiny data written to a temp folder, and returns and
saves a table whose rows, numbers and files say what the recipe claims."""
from __future__ import annotations

import inspect
import json
import re

import numpy as np
import pytest
import torch

from topnet.callbacks import ActivationLogger, LearningRateLog
from topnet.nn import count_params, create_model
from topnet.recipes import RecipeResult, get_recipe, list_recipes
from topnet.recipes.schedules import schedule_callbacks
from topnet.train import exponential_decay, piecewise_constant, power_decay

import topnet

NAMES = ["separable-vs-conv", "deep-dnn", "transfer", "functional-api", "schedules", "lr-finder",
         "callbacks-tensorboard"]


def numbers(cell: str) -> list[float]:
    return [float(x) for x in re.findall(r"-?\d+\.\d+|-?\d+(?:e-?\d+)?", cell.replace(",", ""))]


def run_quick(name, data, tmp_path, **kwargs):
    out = tmp_path / name
    data_kwargs = {} if name == "functional-api" else {"data": data}
    result = get_recipe(name).run(**data_kwargs, quick=True, out=out, device="cpu", **kwargs)
    assert isinstance(result, RecipeResult)
    assert result.rows and all(len(row) == len(result.columns) for row in result.rows)
    saved = json.loads((out / "result.json").read_text())
    assert saved["rows"] == result.rows and saved["recipe"] == name
    table = (out / "table.md").read_text()
    assert all(row[0] in table for row in result.rows)
    assert {"machine", "date", "seeds", "torch"} <= set(result.setting)
    return result, out


def column(result, header):
    return [row[result.columns.index(header)] for row in result.rows]


def test_the_registry_lists_every_recipe_with_a_run():
    assert list_recipes() == NAMES
    for name in NAMES:
        recipe = get_recipe(name)
        assert recipe.summary and recipe.summary[0].isupper()
        assert {"data", "seeds", "quick", "out", "device"} <= set(inspect.signature(recipe.run).parameters)


def test_an_unknown_recipe_names_the_closest():
    with pytest.raises(ValueError, match="did you mean 'deep-dnn'"):
        get_recipe("deep_dnn")


@pytest.mark.slow
def test_separable_vs_conv(tiny_fashion, tmp_path):
    result, _ = run_quick("separable-vs-conv", tiny_fashion, tmp_path, seeds=2)
    assert column(result, "model") == ["separable convnet, RMSprop", "simple convnet, RMSprop",
                                       "simple convnet, Adadelta", "average of the three"]
    separable = count_params(create_model("chollet_separable_cnn", input_shape=(1, 32, 32), num_classes=10))[0]
    assert result.rows[0][1] == f"{separable:,}"
    for cell in column(result, "test accuracy"):
        mean, spread = numbers(cell)  # two seeds: mean ± sd
        assert 0 <= mean <= 1 and spread >= 0
    assert len(result.raw["ensemble_accuracy"]) == 2


def test_separable_vs_conv_reads_cifar10_from_its_folder(tiny_cifar, tmp_path):
    result, _ = run_quick("separable-vs-conv", str(tiny_cifar), tmp_path)
    assert "input (3, 32, 32)" in result.setting["data"]
    separable = count_params(create_model("chollet_separable_cnn", input_shape=(3, 32, 32), num_classes=10))[0]
    assert result.rows[0][1] == f"{separable:,}"


def test_deep_dnn(tiny_fashion, tmp_path):
    result, _ = run_quick("deep-dnn", tiny_fashion, tmp_path)
    variants = column(result, "variant")
    assert len(variants) == 5 and "BN" in variants[1] and "MC dropout" in variants[4]
    for cell in column(result, "epochs to best"):
        assert 1 <= numbers(cell)[0] <= 2  # quick: at most 2 epochs
    assert all(0 <= numbers(c)[0] <= 1 for c in column(result, "test accuracy"))


def test_transfer_reports_error_rates_over_seeds(tiny_fashion, tmp_path):
    result, _ = run_quick("transfer", tiny_fashion, tmp_path, seeds=3)
    assert [row[0] for row in result.rows] == ["from scratch", "on A, reused layers frozen", "on A, then unfrozen"]
    assert all(len(values) == 3 and all(0 <= v <= 1 for v in values) for values in result.raw["errors"].values())
    assert re.search(r"lower test error in \d of 3 seeds", " ".join(result.notes))


def test_transfer_needs_the_fashion_mnist_classes(tiny_cifar):
    with pytest.raises(ValueError, match="class 5 sandal, 6 shirt"):
        get_recipe("transfer").run(data=str(tiny_cifar), quick=True)


def test_functional_api(tmp_path):
    result, _ = run_quick("functional-api", None, tmp_path)
    assert len({row[0] for row in result.rows}) == 4 and len(result.rows) == 6
    metrics = column(result, "held-out metric")
    assert "age MAE (years)" in metrics and "gender accuracy" in metrics
    with pytest.raises(ValueError, match="synthetic"):
        get_recipe("functional-api").run(data="fashion-mnist", quick=True)


def test_schedules_table_and_plot(tiny_fashion, tmp_path):
    result, out = run_quick("schedules", tiny_fashion, tmp_path)
    assert column(result, "schedule") == ["constant", "power", "exponential", "piecewise", "performance", "1cycle"]
    assert (out / "schedules.png").stat().st_size > 1000
    assert result.raw["lr0"] > 0 and result.raw["max_lr"] > 0


def test_schedule_callbacks_follow_the_pure_schedules():
    steps = 20  # 4 epochs of 5 batches
    x, y = torch.randn(40, 3), torch.randint(0, 2, (40,))
    expected = {"constant": lambda t: 0.1, "power": power_decay(0.1, s=2.0), "exponential": exponential_decay(0.1, s=20),
                "piecewise": piecewise_constant([10, 16], [0.1, 0.05, 0.01])}
    for name, schedule in expected.items():
        log = LearningRateLog()
        topnet.fit(torch.nn.Linear(3, 2), (x, y), epochs=4, batch_size=8, verbose=0, device="cpu", optimizer="sgd",
                   callbacks=[*schedule_callbacks(name, 0.1, 1.0, steps), log])
        assert log.rates == pytest.approx([schedule(t) for t in range(steps)]), name
    with pytest.raises(ValueError, match="cosine"):
        schedule_callbacks("cosine", 0.1, 1.0, steps)


def test_lr_finder_table_and_plot(tiny_fashion, tmp_path):
    result, out = run_quick("lr-finder", tiny_fashion, tmp_path)
    rows = column(result, "row")
    assert sum(r.startswith("rule:") for r in rows) == 4 and sum(r.startswith("check:") for r in rows) == 3
    assert any("(default)" in r for r in rows)
    assert (out / "lr_finder.png").stat().st_size > 1000


def test_callbacks_tensorboard_leaves_every_log(tiny_fashion, tmp_path):
    result, out = run_quick("callbacks-tensorboard", tiny_fashion, tmp_path)
    assert column(result, "callback")[:6] == ["ModelCheckpoint", "EarlyStopping", "ReduceLROnPlateau", "CSVLogger",
                                              "ActivationLogger", "TensorBoard"]
    run_dir = out / "seed-0"
    epochs = len((run_dir / "history.csv").read_text().splitlines()) - 1
    assert epochs >= 1 and (run_dir / "best.safetensors").exists()
    assert len(list((run_dir / "activations").glob("*.npz"))) == epochs
    assert list((run_dir / "tensorboard" / "train").glob("events.out.tfevents*"))
    assert any(f"tensorboard --logdir {run_dir / 'tensorboard'}" in note for note in result.notes)


def test_activation_logger_saves_each_layer_on_the_sample(tmp_path):
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    sample = torch.randn(1, 4)
    logger = ActivationLogger(sample, tmp_path)
    topnet.fit(model, (torch.randn(16, 4), torch.randint(0, 3, (16,))), epochs=2, verbose=0, device="cpu",
               callbacks=[logger])
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["activations_at_epoch_1.npz", "activations_at_epoch_2.npz"]
    saved = np.load(tmp_path / "activations_at_epoch_2.npz")
    assert sorted(saved.files) == ["layer_0", "layer_1", "layer_2"]
    with torch.no_grad():
        np.testing.assert_allclose(saved["layer_2"], model(sample).numpy(), rtol=1e-5)
    assert model.training  # put back in training mode

"""``topnet ensemble --run DIR`` on a small run directory made in the test."""
from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import torch

from topnet.data import load, split, standardize
from topnet.ensemble import Ensemble
from topnet.cli.ensemble import add_ensemble_parser, find_model_dirs, run_ensemble
from topnet.io import save_model
from topnet.nn import create_model
from topnet.train import fit


def _parse(argv):
    parser = argparse.ArgumentParser(prog="topnet")
    add_ensemble_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["ensemble", *argv])


def _make_run(tmp_path, blend: float = 0.2):
    """What a tuning run leaves: config.json, standardizer.json, trials/N/ model directories."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 6)).astype(np.float32)
    y = np.digitize(x[:, 0] + x[:, 1] ** 2, [0.0, 1.5]).astype(np.int64)
    data = tmp_path / "toy.npz"
    np.savez(data, x=x * 3.0 + 1.0, y=y)
    config = {"data": str(data), "valid": 0.15, "blend": blend, "test": 0.15, "seed": 1}
    splits, scalers = standardize(split(load(data), valid=0.15, blend=blend, test=0.15, seed=1))
    run = tmp_path / "run"
    for index, hidden in enumerate([(16,), (8, 8)]):
        torch.manual_seed(index)
        model = create_model("mlp", input_shape=(6,), num_classes=3, hidden=hidden)
        fit(model, splits.train, epochs=3, lr=0.02, verbose=0)
        save_model(model, run / "trials" / str(index), metadata={"task": "classification"})
    (run / "config.json").write_text(json.dumps(config))
    (run / "standardizer.json").write_text(json.dumps({k: {n: t.tolist() for n, t in s.state_dict().items()}
                                                       for k, s in scalers.items()}))
    return run, splits


def test_ensemble_command_writes_a_reloadable_ensemble(tmp_path, capsys):
    run, splits = _make_run(tmp_path)
    assert [p.name for p in find_model_dirs(run)] == ["0", "1"]
    assert run_ensemble(_parse(["--run", str(run), "--linear", "--device", "cpu"])) == 0
    out = run / "ensemble"
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["test"]) == {"trials-0", "trials-1", "lightgbm", "linear", "ensemble"}
    assert set(metrics["test"]["ensemble"]) == {"accuracy", "nll", "ece", "brier"}
    assert metrics["combiner"] in metrics["blend_scores"] and metrics["temperature"] > 0
    assert (out / "diversity.png").read_bytes()[:4] == b"\x89PNG"
    ensemble = Ensemble.load(out)
    accuracy = float((ensemble.predict(splits.test.x) == splits.test.y).mean())
    assert accuracy == pytest.approx(metrics["test"]["ensemble"]["accuracy"])  # the run's own split and scaling
    assert "combiner:" in capsys.readouterr().out


def test_run_without_a_blend_split_is_refused_unless_valid_is_chosen(tmp_path):
    run, _ = _make_run(tmp_path, blend=0.0)
    with pytest.raises(ValueError, match="--blend-split valid"):
        run_ensemble(_parse(["--run", str(run), "--no-lightgbm"]))
    assert run_ensemble(_parse(["--run", str(run), "--no-lightgbm", "--blend-split", "valid", "--combiner", "weighted",
                                "--out", str(tmp_path / "e")])) == 0
    assert json.loads((tmp_path / "e" / "metrics.json").read_text())["fitted_on"] == "valid"


def test_missing_run_and_missing_data_are_explained(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a directory"):
        run_ensemble(_parse(["--run", str(tmp_path / "nope")]))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="--data"):
        run_ensemble(_parse(["--run", str(tmp_path / "empty")]))
    (tmp_path / "empty" / "config.json").write_text(json.dumps({"data": "x.npz", "max_samples": 500}))
    with pytest.raises(ValueError, match="max_samples"):
        run_ensemble(_parse(["--run", str(tmp_path / "empty")]))

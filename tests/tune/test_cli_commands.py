"""The tune and worker commands, through a parser built here (cli.py wires the same functions)."""
import argparse
import json

import pytest

from topnet.cli.arguments import parse_assignments
from topnet.cli.tune import add_tune_parser, run_tune
from topnet.cli.worker import add_worker_parser, run_worker


def parser():
    parser = argparse.ArgumentParser(prog="topnet")
    commands = parser.add_subparsers(dest="command")
    add_tune_parser(commands)
    add_worker_parser(commands)
    return parser


def test_tune_command_writes_results_and_a_worker_joins(blobs_npz, tmp_path, capsys):
    data, out = blobs_npz(), tmp_path / "out"
    common = ["--data", data, "--out", str(out), "--epochs", "1", "--study-name", "cli", "--quiet", "--no-plots"]
    args = parser().parse_args(["tune", *common, "--trials", "3", "--set", "family=mlp", "--set", "depth=1",
                                "--set", "width=8", "--set", "batch_size=64", "--set", "activation=relu"])
    assert run_tune(args) == 0
    document = json.loads((out / "tune.json").read_text())
    assert document["counts"]["COMPLETE"] + document["counts"]["PRUNED"] == 3
    assert all(p["params"].keys().isdisjoint({"depth", "width"}) for p in document["top_trials"])
    assert document["best_config"]["depth"] == 1 and document["best_config"]["family"] == "mlp"
    assert "selection bias" in capsys.readouterr().out
    # a worker that joins a study which already has its 3 trials runs none
    worker = parser().parse_args(["worker", "--study", "cli", "--storage", f"sqlite:///{out / 'study.db'}",
                                  "--out", str(tmp_path / "w"), "--quiet"])
    assert run_worker(worker) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["count"] == 0


def test_worker_needs_a_study_and_storage():
    with pytest.raises(SystemExit):
        parser().parse_args(["worker", "--study", "x"])


def test_parse_assignments():
    assert parse_assignments(["a=1", "b=x", "c=[1, 2]", "d=null"]) == {"a": 1, "b": "x", "c": [1, 2], "d": None}
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_assignments(["lr"])

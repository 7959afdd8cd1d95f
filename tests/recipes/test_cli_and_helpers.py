"""``topnet recipe`` through its own parser, and the helpers every recipe shares."""
from __future__ import annotations

import argparse

import numpy as np
import pytest

from topnet.data import Dataset, Splits
from topnet.recipes import RecipeResult, list_recipes, mean_spread
from topnet.cli.recipe import add_recipe_parser, run_recipe
from topnet.recipes.common import load_data, padded, resolve_seeds, subsets


def parse(*argv):
    parser = argparse.ArgumentParser(prog="topnet")
    add_recipe_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["recipe", *argv])


def test_recipe_list_prints_every_recipe_with_its_summary(capsys):
    assert run_recipe(parse("list")) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list_recipes()
    assert all(len(line.split()) > 2 for line in lines)


def test_recipe_run_prints_the_table_and_writes_it(tiny_fashion, tmp_path, capsys):
    out = tmp_path / "deep"
    code = run_recipe(parse("run", "deep-dnn", "--quick", "--data", str(tiny_fashion), "--out", str(out),
                            "--device", "cpu"))
    printed = capsys.readouterr().out
    assert code == 0
    assert "ELU + He + BN (c)" in printed and f"table: {out}/table.md" in printed
    assert (out / "table.md").exists()


def test_recipe_run_with_seeds(tiny_fashion, tmp_path, capsys):
    run_recipe(parse("run", "lr-finder", "--quick", "--seeds", "2", "--data", str(tiny_fashion), "--out",
                     str(tmp_path), "--device", "cpu"))
    assert "seeds: [0, 1]" in capsys.readouterr().out


def test_recipe_errors(capsys):
    with pytest.raises(ValueError, match="unknown recipe 'tranfser'.*did you mean 'transfer'"):
        run_recipe(parse("run", "tranfser", "--quick"))
    assert run_recipe(parse()) == 2
    assert "topnet recipe list" in capsys.readouterr().out


def test_load_data_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="an existing folder or .npz file"):
        load_data(str(tmp_path / "missing" / "cifar"))
    train = Dataset(np.zeros((4, 1, 2, 2), np.uint8), np.array([0, 1, 0, 1]))
    with pytest.raises(ValueError, match="test split"):
        load_data(Splits(train=train))
    with pytest.raises(TypeError, match="a dataset name, a path"):
        load_data(42)
    with pytest.raises(FileNotFoundError):
        load_data(str(tmp_path))  # a folder holding neither IDX nor CIFAR files


def test_load_data_reads_idx_folders_and_npz(tiny_fashion, tmp_path):
    assert len(load_data(str(tiny_fashion)).test) == 200
    path = tmp_path / "d.npz"
    np.savez(path, x_train=np.zeros((6, 1, 4, 4)), y_train=np.arange(6) % 2, x_test=np.zeros((2, 1, 4, 4)),
             y_test=np.array([0, 1]))
    assert len(load_data(path).test) == 2


def test_subsets_are_disjoint_and_fixed_by_the_data_seed():
    x, y = np.arange(100, dtype=np.float32)[:, None], np.arange(100) % 2
    splits = Splits(train=Dataset(x, y), test=Dataset(x[:30], y[:30]))
    a, b = subsets(splits, 50, 20, 10), subsets(splits, 50, 20, 10)
    assert np.array_equal(a.train.x, b.train.x) and np.array_equal(a.test.x, b.test.x)
    assert not set(a.train.x.ravel()) & set(a.valid.x.ravel())
    assert len(subsets(splits, 500, 20, 500).train) == 80  # cut to what is there
    with pytest.raises(ValueError, match="num_valid: got 0"):
        subsets(splits, 10, 0, 10)


def test_padded_centres_the_image():
    image = np.ones((1, 1, 28, 28), np.float32)
    out = padded(Splits(train=Dataset(image, np.array([0])))).train.x
    assert out.shape == (1, 1, 32, 32) and out.sum() == 28 * 28 and out[0, 0, 2, 2] == 1 and out[0, 0, 1, 1] == 0


def test_resolve_seeds():
    assert resolve_seeds(None, quick=False) == [0, 1, 2]
    assert resolve_seeds(None, quick=False, full_default=10) == list(range(10))
    with pytest.raises(ValueError, match="seeds: got 0"):
        resolve_seeds(0, quick=True)


def test_mean_spread_and_the_table():
    assert mean_spread([1.0, 2.0, 3.0], digits=1) == "2.0 ± 1.0"
    assert mean_spread([0.02, 0.04], digits=1, scale=100) == "3.0 ± 1.4"
    result = RecipeResult("r", "t", ["a", "b"])
    with pytest.raises(ValueError, match="got 1 cells; expected 2"):
        result.add_row("only one")
    result.add_row("x", 1)
    result.setting["seeds"] = [0]
    assert "| x | 1 |" in result.to_markdown() and "seeds: [0]" in str(result)

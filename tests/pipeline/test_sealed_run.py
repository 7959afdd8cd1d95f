"""`topnet run` reads its test split once, at the end: the split is sealed for the whole run."""
from __future__ import annotations

import pytest

from topnet.data import SealedSplit
from topnet.errors import TestSplitReadTwice
from topnet.pipeline import RunConfig, evaluate, run
from topnet.pipeline import data as run_data

QUICK = {"budget": "40s", "lr_find_steps": 40, "top_k": 2, "mc_samples": 4, "max_epochs": 8, "verbose": 0,
         "tensorboard": False}


def _run(table_csv, tmp_path):
    data = table_csv(tmp_path / "table.csv", "classification")
    return run(RunConfig(data=str(data), out=str(tmp_path / "run"), target="target", **QUICK))


class _CountingSeal(SealedSplit):
    opened_by_runs: list[int] = []

    def open(self):
        type(self).opened_by_runs.append(len(self))
        return super().open()


@pytest.mark.slow
def test_a_run_opens_its_test_split_exactly_once(tmp_path, monkeypatch, table_csv):
    _CountingSeal.opened_by_runs = []
    monkeypatch.setattr(run_data, "SealedSplit", _CountingSeal)
    _run(table_csv, tmp_path)
    assert len(_CountingSeal.opened_by_runs) == 1


@pytest.mark.slow
def test_a_second_read_of_test_anywhere_in_the_run_fails_the_run(tmp_path, monkeypatch, table_csv):
    examples = evaluate._examples

    def peeks_again(data, test, confidence):  # a phase that reads test a second time
        data.test.open()
        return examples(data, test, confidence)

    monkeypatch.setattr(evaluate, "_examples", peeks_again)
    with pytest.raises(TestSplitReadTwice, match="already read once"):
        _run(table_csv, tmp_path)
    assert not (tmp_path / "run" / "metrics.json").exists()  # no finished run is written from a leaky one

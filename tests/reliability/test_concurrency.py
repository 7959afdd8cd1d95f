"""Scenario 8: 8 processes × 25 short trials on one study, on SQLite and on PostgreSQL: exactly
200 completed trials with unique, contiguous numbers, none left running, each run by one
process; the 8 processes create the same study at the same moment and get one study, no error."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from topnet.tune._optuna import import_optuna
from topnet.tune.study import finished_count, make_storage

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).with_name("concurrency_script.py")
PROCESSES, TRIALS = 8, 25


def _run_together(storage, study_name, tmp_path):
    go = tmp_path / "go"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, str(SCRIPT), storage, study_name, str(go), "--trials", str(TRIALS),
               "--target", str(PROCESSES * TRIALS)]
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
                 for _ in range(PROCESSES)]
    go.touch()  # every process is waiting on this file: they create the study at once
    reports = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, stderr
        reports.append(json.loads(stdout.strip().splitlines()[-1]))
    return reports


def _check(url, study_name, reports):
    optuna, storage = import_optuna(), make_storage(url)  # the PostgreSQL driver that is installed
    assert [s.study_name for s in optuna.get_all_study_summaries(storage)] == [study_name]  # one study
    study = optuna.load_study(study_name=study_name, storage=storage)
    trials = study.get_trials()
    assert sorted(t.number for t in trials) == list(range(PROCESSES * TRIALS))  # unique and contiguous
    assert {t.state.name for t in trials} == {"COMPLETE"} and finished_count(study) == PROCESSES * TRIALS
    assert all(len(r["trials"]) == TRIALS for r in reports)
    ran = [number for r in reports for number in r["trials"]]
    assert sorted(ran) == list(range(PROCESSES * TRIALS))  # each trial run by exactly one process
    by_trial = {t.number: t.user_attrs["pid"] for t in trials}
    assert all(by_trial[number] == r["pid"] for r in reports for number in r["trials"])


def test_eight_processes_share_a_sqlite_study(tmp_path):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    _check(storage, "race", _run_together(storage, "race", tmp_path))


def test_eight_processes_share_a_postgres_study(postgres_url, tmp_path):
    _check(postgres_url, "race-pg", _run_together(postgres_url, "race-pg", tmp_path))

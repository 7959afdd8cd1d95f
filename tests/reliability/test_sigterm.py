"""Scenario 9 (the fit / ``topnet train`` part): SIGTERM during training writes a backup of the
epoch so far after the current step and exits non-zero within 10 s; the same command then
resumes with the next batch and finishes (``fit``: bit-identical to an uninterrupted run). The
``topnet run`` part comes with that command."""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from reliability_helpers import SCRIPT, differences, read_backup, run_script

pytestmark = pytest.mark.slow

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _terminate(process, ready):
    """Wait until ``ready()``, send SIGTERM, return (seconds until the process exited, its stderr)."""
    deadline = time.monotonic() + 120
    while not ready() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.poll() is None, "the process ended before it could be terminated"
    sent = time.monotonic()
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    return time.monotonic() - sent, stderr


def test_sigterm_during_fit_keeps_the_backup_and_the_rerun_finishes_bit_identical(tmp_path, reference_run):
    process = subprocess.Popen([sys.executable, str(SCRIPT), str(tmp_path), "--slow", "0.05"], env=ENV,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "training"  # after the first step
    seconds, stderr = _terminate(process, lambda: (tmp_path / "history.csv").exists())  # epoch 0 done
    assert process.returncode != 0 and seconds < 10, (process.returncode, seconds)
    assert "TrainingInterrupted: SIGTERM: stopped at epoch" in stderr
    assert not (tmp_path / "result.pt").exists()
    written = read_backup(tmp_path / "backup" / "backup.pt")
    assert written["batch"] > 0 and written["objective"]["count"] > 0  # part-way through an epoch, sums included
    resumed = run_script(tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    reference, reference_csv = reference_run
    assert differences(torch.load(tmp_path / "result.pt"), reference) == []
    assert (tmp_path / "history.csv").read_text() == reference_csv


def test_sigterm_during_topnet_train_exits_130_and_the_same_command_resumes(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 32)).astype(np.float32)
    np.savez(tmp_path / "data.npz", x=x, y=(x[:, 0] > 0).astype(np.int64))
    epochs = 40
    command = [sys.executable, "-m", "topnet.cli", "train", "--data", str(tmp_path / "data.npz"), "--out",
               str(tmp_path / "run"), "--epochs", str(epochs), "--batch-size", "16", "--device", "cpu", "--quiet"]
    history = tmp_path / "run" / "history.csv"
    process = subprocess.Popen(command, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seconds, stderr = _terminate(process, lambda: history.exists() and len(history.read_text().splitlines()) >= 2)
    assert process.returncode == 130 and seconds < 10, (process.returncode, seconds, stderr)
    assert "interrupted" in stderr and "Traceback" not in stderr
    # train_config keeps a backup per fit phase (a subset phase, then "full")
    assert (tmp_path / "run" / "backup" / "full" / "backup.pt").is_file()
    assert not (tmp_path / "run" / "metrics.json").exists()
    resumed = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    rows = list(csv.DictReader(history.open()))
    assert [int(row["epoch"]) for row in rows] == list(range(epochs))  # each epoch once, in order
    assert set(json.loads((tmp_path / "run" / "metrics.json").read_text())) >= {"train", "valid", "test"}
    assert (tmp_path / "run" / "model" / "weights.safetensors").is_file()
    assert not list((tmp_path / "run" / "backup").rglob("backup*"))

"""End to end on the real Fashion-MNIST (Debian's dataset-fashion-mnist, installed by setup)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.e2e
@pytest.mark.slow
def test_topnet_train_reaches_90_percent_in_3_epochs(tmp_path):
    assert Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz").exists(), \
        "install Debian's dataset-fashion-mnist (scripts/setup.sh does)"
    out = tmp_path / "fm"
    result = subprocess.run([sys.executable, "-m", "topnet.cli", "train", "--data", "fashion-mnist", "--epochs", "3",
                             "--out", str(out)], capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] >= 0.90, metrics
    assert "Epoch 3/3" in result.stdout  # the progress bar's plain lines (not a terminal here)

"""Fixtures of the reliability tests; their helpers are in reliability_helpers.py (importable
from the tests: this directory is put on sys.path, as --import-mode=importlib does not)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))

from reliability_helpers import run_script  # noqa: E402


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory):
    """One uninterrupted run of train_script.py, shared by a module's tests: its result.pt and history.csv."""
    run_dir = tmp_path_factory.mktemp("reference")
    done = run_script(run_dir)
    assert done.returncode == 0, done.stderr
    return torch.load(run_dir / "result.pt"), (run_dir / "history.csv").read_text()

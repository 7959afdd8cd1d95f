"""Run a test script as one process and as 3 data-parallel processes, and compare what they wrote
(tests/train/conftest.py puts this folder on sys.path)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch


def run_python(args: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300, env=env)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def assert_three_processes_equal_one(script: str, folder: Path, args: list[str] = ()) -> dict:
    """``script FOLDER/single ARGS`` alone and under torchrun with 3 processes: each rank's weights
    (within 1e-6) and loss history equal the single process's; returns the single process's result."""
    single = run_python([script, str(folder / "single"), *args])
    assert single.returncode == 0, single.stderr[-3000:]
    ddp = run_python(["-m", "torch.distributed.run", "--nproc_per_node", "3", "--nnodes", "1", "--master_addr",
                      "127.0.0.1", "--master_port", str(free_port()), script, str(folder / "ddp"), *args])
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    reference = torch.load(folder / "single.rank0")
    for rank in range(3):
        result = torch.load(folder / f"ddp.rank{rank}")
        for key, value in reference["weights"].items():
            torch.testing.assert_close(result["weights"][key], value, rtol=0, atol=1e-6, msg=f"rank {rank}: {key}")
        assert result["history"]["loss"] == pytest.approx(reference["history"]["loss"], abs=1e-6)
    return reference

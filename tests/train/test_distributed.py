"""Data-parallel fit with torchrun (2 CPU processes, gloo) equals one process on the combined batch."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).with_name("ddp_script.py")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_equal_one_process_on_the_combined_batch(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    single = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "single")], capture_output=True, text=True,
                            timeout=300, env=env)
    assert single.returncode == 0, single.stderr
    ddp = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--nnodes", "1",
                          "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
                          str(SCRIPT), str(tmp_path / "ddp")], capture_output=True, text=True, timeout=300, env=env)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    reference = torch.load(tmp_path / "single.rank0")
    assert reference["rows"] == 3 * 64
    for rank in (0, 1):
        result = torch.load(tmp_path / f"ddp.rank{rank}")
        assert result["rows"] == 3 * 32  # each process trains on half of every batch
        for key, value in reference["weights"].items():
            torch.testing.assert_close(result["weights"][key], value, rtol=0, atol=1e-5)
        for key, values in reference["history"].items():  # all-reduced logs: the same on every rank
            assert result["history"][key] == pytest.approx(values, abs=1e-5), key
    # only rank 0 wrote the CSV log (one header, one row per epoch)
    assert len((tmp_path / "ddp.csv").read_text().splitlines()) == 4
    # and the weights really moved (the comparison is not between two untrained models)
    torch.manual_seed(0)
    initial = torch.nn.Linear(5, 16).weight
    assert not torch.allclose(reference["weights"]["0.weight"], initial, atol=1e-3)

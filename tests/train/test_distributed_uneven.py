"""Data-parallel fit on batches that do not split evenly over the processes.

A batch of N rows on W processes gives some processes one row more than others (16 rows on 3:
6, 5, 5), and a short last batch can leave a process with no row at all (2 rows on 3). The first
must train exactly as one process on the combined batch; the second is refused before training.

This file is also the worker that ``torchrun`` starts: ``python test_distributed_uneven.py OUT
NUM_ROWS BATCH_SIZE`` trains one epoch and saves the weights to ``OUT.rank<r>``.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import topnet
from topnet.train import loop
from topnet.train.distributed import DistributedContext, shard_weight
from ddp_compare import assert_three_processes_equal_one


def _train(out: str, num_rows: int, batch_size: int) -> None:
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(num_rows, 5, generator=g)
    y = (x[:, 0] - x[:, 1] > 0).long() + (x[:, 2] > 0.3).long()
    model = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 3))
    history = topnet.fit(model, (x, y), epochs=1, batch_size=batch_size, optimizer="sgd", lr=0.5,
                         penalty=lambda m: 1e-2 * m[0].weight.square().sum(), seed=7, device="cpu", verbose=0)
    rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
    torch.save({"weights": model.state_dict(), "history": history.history}, f"{out}.rank{rank}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300, env=env, **kwargs)


@pytest.mark.slow
def test_three_processes_on_uneven_batches_equal_one_process(tmp_path):
    # 69 rows in batches of 16: four batches split 6/5/5 over 3 processes, then 5 rows split 2/2/1
    reference = assert_three_processes_equal_one(str(Path(__file__)), tmp_path, ["69", "16"])
    torch.manual_seed(0)
    initial = nn.Linear(5, 16).weight  # the weights moved: the comparison is not of two untrained models
    assert not torch.allclose(reference["weights"]["0.weight"], initial, atol=1e-2)


def test_shard_weights_make_the_average_of_shard_means_the_batch_mean():
    # DistributedDataParallel averages the processes' gradients with equal weights; weighting each
    # process's mean loss by shard_weight turns that average into the mean over the whole batch.
    values = torch.randn(16, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for world_size in (2, 3, 5):
        for rows in (world_size, 7, 16):
            batch = values[:rows]
            shards = [batch[rank::world_size] for rank in range(world_size)]
            weights = [shard_weight(rows, rank, world_size) for rank in range(world_size)]
            average = sum(w * s.mean() for w, s in zip(weights, shards)) / world_size
            torch.testing.assert_close(average, batch.mean(), rtol=0, atol=1e-12)
            assert [w * len(batch) / world_size for w in weights] == pytest.approx([len(s) for s in shards])
    assert shard_weight(16, 0, 1) == 1.0 and shard_weight(16, 1, 2) == 1.0


@pytest.mark.parametrize("num_samples, batch_size, world_size, rows", [
    (66, 16, 3, 2),   # a short last batch of 2 rows on 3 processes
    (33, 16, 2, 1),   # a short last batch of 1 row on 2 processes
    (64, 2, 3, 2),    # every batch smaller than the number of processes
])
def test_a_batch_with_fewer_rows_than_processes_is_refused(num_samples, batch_size, world_size, rows):
    context = DistributedContext(rank=world_size - 1, world_size=world_size)
    with pytest.raises(ValueError) as info:
        context.check_batches(num_samples, batch_size)
    message = str(info.value)
    for part in (f"batch_size: got {batch_size}", f"{num_samples} training rows", f"{world_size} processes",
                 f"{rows} row", "try batch_size="):
        assert part in message, (part, message)
    suggested = int(message.split("try batch_size=")[1].split()[0].rstrip(",;"))
    DistributedContext(rank=0, world_size=world_size).check_batches(num_samples, suggested)  # the fix works


def test_fewer_samples_than_processes_are_refused():
    with pytest.raises(ValueError, match="got '2 training rows for 3 processes'; expected at least one row per process"):
        DistributedContext(rank=0, world_size=3).check_batches(2, 16)


@pytest.mark.parametrize("num_samples, batch_size, world_size", [(69, 16, 3), (64, 16, 2), (5, 16, 3), (7, 7, 7)])
def test_batches_with_a_row_for_every_process_are_accepted(num_samples, batch_size, world_size):
    DistributedContext(rank=0, world_size=world_size).check_batches(num_samples, batch_size)
    DistributedContext().check_batches(1, 16)  # one process takes any batch


def test_fit_refuses_before_training_on_every_rank(monkeypatch):
    # what every process of a 3-process run sees (no process group needed: fit refuses before any collective)
    for rank in range(3):
        monkeypatch.setattr(loop, "setup_distributed", lambda device, r=rank: DistributedContext(r, 3))
        model = nn.Linear(5, 3)
        before = model.weight.detach().clone()
        with pytest.raises(ValueError, match="the last batch has 2 rows"):
            topnet.fit(model, (torch.randn(66, 5), torch.randint(0, 3, (66,))), batch_size=16, device="cpu", verbose=0)
        assert torch.equal(model.weight, before)


if __name__ == "__main__":
    _train(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))

"""Data-parallel training of one model on several processes or machines (``torchrun``).

``fit`` joins the process group that ``torchrun`` describes in the environment (``WORLD_SIZE``,
``RANK``, ``MASTER_ADDR``...), with gloo on CPU and NCCL on GPU, and then:

- every process holds the whole dataset and draws the same epoch permutation (same seed);
  each global batch of ``batch_size`` samples is split between the processes by rank, so
  the processes together take the same optimizer step as one process on the combined batch
  (up to float rounding; for losses that are means over the batch, as every named loss is).
  A batch that does not split evenly (16 rows on 3 processes: 6, 5, 5) is weighted by rows:
  see `shard_weight`. A batch with fewer rows than processes would leave a process with
  nothing to train on, so `DistributedContext.check_batches` refuses it before training and
  names a batch size that works (unlike PyTorch's ``DistributedSampler``, which pads with
  repeated samples or drops them, either of which changes what is trained on);
- the model is wrapped in ``DistributedDataParallel`` only for the forward/backward pass;
  callbacks still see the plain module;
- the epoch's training sums are all-reduced, so every process logs the same numbers and
  callbacks (EarlyStopping, ReduceLROnPlateau) decide the same way everywhere;
- only rank 0 writes files: callbacks that write check ``state.is_main_process``.

Run with ``torchrun --nproc_per_node 2 train.py`` (one machine) or with ``--nnodes`` and a
rendezvous address for several machines.
"""
from __future__ import annotations

import atexit
import datetime
import gc
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from topnet.errors import format_message

__all__ = ["DistributedContext", "setup_distributed", "shard_weight"]


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands: ``rank`` of ``world_size`` (1 and 0 when not distributed)."""

    rank: int = 0
    world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    def shard(self, indices: torch.Tensor) -> torch.Tensor:
        """This process's share of a global batch's indices (every ``world_size``-th one)."""
        return indices[self.rank::self.world_size] if self.enabled else indices

    def check_batches(self, num_samples: int, batch_size: int) -> None:
        """Refuse batches that would leave a process without rows (before any training).

        Raises:
            ValueError: when a batch (the first, or the short last one) has fewer rows than
                there are processes; the message names a ``batch_size`` that works.
        """
        if not self.enabled:
            return
        if num_samples < self.world_size:
            raise ValueError(format_message(
                "training data", f"{num_samples} training rows for {self.world_size} processes",
                "at least one row per process", f"run on {num_samples} processes or fewer"))
        if batch_size < self.world_size:
            short, which = batch_size, "every batch has"
        else:
            short, which = num_samples % batch_size if num_samples > batch_size else num_samples, "the last batch has"
        if 0 < short < self.world_size:
            fix = f"try batch_size={_nearest_batch_size(num_samples, batch_size, self.world_size)}"
            raise ValueError(format_message(
                "batch_size", batch_size, f"a batch size that gives each of the {self.world_size} processes at least "
                f"one row of every batch (with {num_samples} training rows on {self.world_size} processes, {which} "
                f"{short} row{'s' if short > 1 else ''})",
                fix if short == batch_size else f"{fix}, or drop the last {short} training rows"))

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """Sum ``tensor`` over the processes (in place; returns it)."""
        if self.enabled:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def wrap(self, model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
        """``model`` in DistributedDataParallel for the training forward pass (or as is)."""
        if not self.enabled:
            return model
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def shard_weight(batch_rows: int, rank: int, world_size: int) -> float:
    """The factor on process ``rank``'s mean loss that makes data-parallel training exact.

    DistributedDataParallel averages the processes' gradients with equal weights. Process ``r``
    holds ``n_r`` of the batch's ``N`` rows (every ``world_size``-th one from position ``r``);
    scaling its mean loss by ``n_r * W / N`` makes the average
    ``(1/W) sum_r (n_r W / N) mean_r = sum_r n_r mean_r / N``, the mean over the whole batch.
    It is 1.0 when the batch splits evenly.

    Example:
        >>> [shard_weight(16, rank, 3) for rank in range(3)]  # rows 6, 5, 5
        [1.125, 0.9375, 0.9375]
    """
    rows = len(range(rank, batch_rows, world_size))
    return rows * world_size / batch_rows


def _nearest_batch_size(num_samples: int, batch_size: int, world_size: int) -> int:
    """The batch size nearest ``batch_size`` whose every batch has a row for each process."""
    def fits(size: int) -> bool:
        last = num_samples % size if num_samples > size else num_samples
        return size >= world_size and (last == 0 or last >= world_size)
    candidates = range(world_size, max(num_samples, batch_size) + 1)
    return min((size for size in candidates if fits(size)), key=lambda size: (abs(size - batch_size), -size))


def _destroy() -> None:
    """Close the group we opened, at interpreter exit, in step with the other processes.

    A gloo group torn down while a peer is still closing, or while a DistributedDataParallel
    wrapper left in a reference cycle still holds it, can abort the process at exit ("terminate
    called without an active exception" from gloo's threads, after every rank has saved its
    results). So: free such wrappers first, wait for every rank (a bounded wait: a peer that
    died must not hang this one), then destroy the group. How often runs aborted before and
    after this: docs/measured-defaults.md.
    """
    if not dist.is_initialized():
        return
    gc.collect()
    if dist.get_backend() == "gloo":
        try:
            dist.monitored_barrier(timeout=datetime.timedelta(seconds=30))
        except RuntimeError:  # a peer is gone: close anyway
            pass
    dist.destroy_process_group()


def setup_distributed(device: torch.device) -> DistributedContext:
    """Join the process group ``torchrun`` describes, if any; return this process's context.

    Without ``WORLD_SIZE`` > 1 in the environment (a plain ``python`` run) nothing happens. A
    process group the caller already initialised is used as it is.
    """
    if dist.is_available() and dist.is_initialized():
        return DistributedContext(dist.get_rank(), dist.get_world_size())
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistributedContext()
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend=backend)
    atexit.register(_destroy)  # a group left open at exit can abort the process (see _destroy)
    return DistributedContext(dist.get_rank(), dist.get_world_size())

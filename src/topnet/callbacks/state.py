"""The one object callbacks see: ``TrainState``, and the RNG state a run resumes from.

``fit`` creates one ``TrainState`` and passes it to every hook. Callbacks read the model, the
optimizer, the counters and the flat ``logs`` dict, and stop training only by setting
``stop_training``. The loop owns everything else. ``capture_rng_state`` /
``restore_rng_state`` save and put back the random state a run draws from (``BackupAndRestore``
checkpoints it; ``lr_find`` undoes its sweep with it).

Callbacks import them from here; ``topnet.train`` re-exports them (``topnet.train.TrainState``,
``topnet.train.state``), so callbacks never import the loop that calls them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch

__all__ = ["TrainState", "capture_rng_state", "restore_rng_state"]


@dataclass
class TrainState:
    """What the training loop shares with callbacks.

    Attributes:
        model: the ``torch.nn.Module`` being trained (never wrapped or patched).
        optimizer: its ``torch.optim.Optimizer`` (None in ``evaluate``/``predict``).
        epochs: the epoch index training stops before (Keras's ``epochs``).
        epoch: the current epoch, 0-based. A callback may set it in ``on_fit_begin`` (e.g.
            ``BackupAndRestore``) to start later; the loop reads it after that hook.
        batch: index of the current batch within the epoch.
        step: optimizer steps taken since the first epoch (global step, survives resume).
        steps_per_epoch: batches per epoch.
        logs: flat dict of floats; at ``on_epoch_end`` it holds the epoch's metrics, with
            ``val_`` prefixes for the validation ones, and ``learning_rate``.
        stop_training: set to True to stop after the current batch's hooks have run.
        loss: the current batch's loss tensor (on the device; no sync), set before
            ``on_after_backward``.
        seed: the fit's seed; per-epoch shuffles and augmentation derive from it.
        generator: the generator the loop draws augmentation and other randomness from.
        running_logs: a zero-argument function returning the running epoch averages so far as
            floats. It synchronises with the device, so call it rarely (a progress bar calls it
            a few times a second, not every batch).
        completed: True once the epoch loop ended without an exception (also after early
            stopping); ``on_fit_end`` sees False when it runs because of an exception.
        callbacks: every callback of this fit, in hook order (``BackupAndRestore`` saves and
            restores their ``state_dict``).
        objective: the running epoch's loss and metric sums (``state_dict`` /
            ``load_state_dict``), for a backup taken part-way through an epoch.
        rank / world_size: this process's place in data-parallel training (0 and 1 otherwise).
        extra: scratch space for callbacks that need to share state (keyed by callback name);
            ``extra["resumed"]`` is True when ``BackupAndRestore`` restored a backup;
            ``extra["invalid_loss"]`` (epoch, batch, step) is set by ``TerminateOnNaN``.
    """

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer | None = None
    epochs: int = 1
    epoch: int = 0
    batch: int = 0
    step: int = 0
    steps_per_epoch: int = 0
    logs: dict[str, float] = field(default_factory=dict)
    stop_training: bool = False
    loss: torch.Tensor | None = None
    seed: int = 0
    generator: torch.Generator | None = None
    running_logs: Callable[[], dict[str, float]] = field(default=lambda: {})
    completed: bool = False
    callbacks: list[Any] = field(default_factory=list)
    objective: Any = None
    rank: int = 0
    world_size: int = 1

    @property
    def is_main_process(self) -> bool:
        """True on rank 0 (and in a plain, non-distributed run): the process that writes files."""
        return self.rank == 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def learning_rate(self) -> float:
        """The first parameter group's learning rate (0.0 without an optimizer)."""
        if self.optimizer is None:
            return 0.0
        return float(self.optimizer.param_groups[0]["lr"])

    def set_learning_rate(self, lr: float) -> None:
        """Set every parameter group's learning rate to ``lr``.

        Groups whose rate was a multiple of the first group's keep that ratio (discriminative
        learning rates survive schedules).
        """
        if self.optimizer is None:
            return
        base = self.learning_rate
        for group in self.optimizer.param_groups:
            ratio = group["lr"] / base if base > 0 else 1.0
            group["lr"] = float(lr) * ratio


def capture_rng_state(generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """torch's global CPU (and CUDA) RNG state plus ``generator``'s, as tensors for a checkpoint."""
    state = {"torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for index, cuda_state in enumerate(torch.cuda.get_rng_state_all()):
            state[f"torch_cuda_{index}"] = cuda_state
    if generator is not None:
        state["generator"] = generator.get_state()
    return state


def restore_rng_state(state: dict[str, torch.Tensor], generator: torch.Generator | None = None) -> None:
    """Undo ``capture_rng_state``: set the global RNGs and ``generator`` back."""
    torch.set_rng_state(state["torch_cpu"].cpu())
    cuda_states = [state[k].cpu() for k in sorted(state) if k.startswith("torch_cuda_")]
    if cuda_states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda_states[: torch.cuda.device_count()])
    if generator is not None and "generator" in state:
        generator.set_state(state["generator"].cpu())

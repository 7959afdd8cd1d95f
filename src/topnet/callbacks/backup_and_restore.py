"""``BackupAndRestore``: a killed run starts again where it stopped, bit for bit."""
from __future__ import annotations

import hashlib
import io
import os
import signal
import threading
import warnings
from pathlib import Path
from typing import Any

import torch

from topnet.callbacks.base import Callback
from topnet.callbacks.state import TrainState, capture_rng_state, restore_rng_state
from topnet.errors import CheckpointError, TrainingInterrupted, format_message
from topnet.io import atomic_write_bytes, non_finite_names, remove_leftovers, safe_torch_load

__all__ = ["BackupAndRestore"]

_DIGEST = 32  # bytes of SHA-256 written before the payload


class BackupAndRestore(Callback):
    """Back up the whole training state each epoch; restore it when ``fit`` starts again.

    The backup holds the model, the optimizer (learning rate included), the epoch and global
    step, torch's global RNG state (dropout), the fit's augmentation generator, and the
    ``state_dict`` of every callback (History, EarlyStopping's patience counter,
    ReduceLROnPlateau's cooldown, ...). Re-running the same ``fit`` after a kill continues from
    the last completed epoch and ends with the same weights as a run that was never killed (on
    CPU; shuffle order is derived from the seed and epoch).

    Differences from Keras, on purpose:
      - the backup is written at the start of each epoch (epoch 0 included), i.e. after every
        other callback's ``on_epoch_end`` has updated its state, so the backup never holds a
        half-updated callback; an interrupted first epoch resumes from the initial weights;
      - SIGTERM (a scheduler's pre-emption, ``docker stop``) stops training at the next safe
        point: after the current step it writes a backup of the epoch so far (with the epoch's
        loss and metric sums) and raises ``TrainingInterrupted``, a ``KeyboardInterrupt``; the
        same command resumes with the next batch and ends as if never stopped. (A SIGKILL
        leaves the backup of the epoch's start: that epoch is redone, with the same result.)
      - each file carries a SHA-256 of its contents and the previous backup is kept
        (``backup.prev.pt``): a truncated or corrupted latest backup is set aside with a
        warning (``backup.pt.bad``, deleted with the backups when the run completes) and the
        previous one is used; if none is good, ``CheckpointError`` is raised, never a silent
        fresh start (also on a later try that finds only set-aside files).

    Args:
        backup_dir: a directory for this run's backups (one run per directory).
        delete_checkpoint: delete the backups when ``fit`` completes (also after early
            stopping); kept after an exception, after ``TerminateOnNaN`` stopped the run, and
            when the final weights hold NaN or inf.
            Weights holding NaN or inf are never backed up (the earlier backups stay).

    Example:
        >>> import tempfile
        >>> backup = BackupAndRestore(tempfile.mkdtemp())
    """

    def __init__(self, backup_dir: str | os.PathLike, delete_checkpoint: bool = True):
        if not backup_dir:
            raise ValueError(format_message("backup_dir", backup_dir, "a directory path", "e.g. BackupAndRestore('runs/x/backup')"))
        self.backup_dir = Path(backup_dir)
        self.delete_checkpoint = delete_checkpoint
        self._pending_callbacks: list[dict[str, Any]] | None = None
        self._skip_save_epoch: int | None = None
        self._pending_sums: dict[str, Any] | None = None
        self._sigterm_handler: Any = None  # the handler before fit (None: SIGTERM not handled here)
        self._sigterm = False

    @property
    def latest(self) -> Path:
        return self.backup_dir / "backup.pt"

    @property
    def previous(self) -> Path:
        return self.backup_dir / "backup.prev.pt"

    def on_fit_begin(self, state: TrainState) -> None:
        self._sigterm = False
        if threading.current_thread() is threading.main_thread():  # Python runs handlers in the main thread only
            self._sigterm_handler = signal.signal(signal.SIGTERM, self._on_sigterm)
        if state.is_main_process:
            remove_leftovers(self.backup_dir, "backup")  # from a write cut short
        backup = self._read_good_backup()
        if state.world_size > 1:  # every process has read the backup before rank 0 writes the next one
            torch.distributed.barrier()
        if backup is None:
            return
        state.model.load_state_dict(backup["model"])
        if state.optimizer is not None:
            state.optimizer.load_state_dict(backup["optimizer"])
        restore_rng_state(backup["rng"], state.generator)
        # batch > 0: a backup taken part-way through the epoch (on SIGTERM); the loop starts there
        state.epoch, state.step, state.batch = int(backup["epoch"]), int(backup["step"]), int(backup.get("batch", 0))
        state.extra["resumed"] = True
        # Applied at the first on_epoch_begin, after every callback's on_fit_begin has run (some
        # reset their counters there, as Keras's do) and after the loop has reset the epoch's sums.
        self._pending_callbacks = backup["callbacks"]
        self._pending_sums = backup.get("objective")
        self._skip_save_epoch = state.epoch

    def on_epoch_begin(self, state: TrainState) -> None:
        if self._pending_callbacks is not None:
            self._restore_callbacks(state, self._pending_callbacks)
            self._pending_callbacks = None
        if self._pending_sums is not None and state.objective is not None:
            state.objective.load_state_dict(self._pending_sums, _device_of(state.model))
        self._pending_sums = None
        if self._skip_save_epoch == state.epoch:  # just restored this very state
            self._skip_save_epoch = None
        else:
            self._write(state)
        self._stop_if_terminated(state)

    def on_batch_end(self, state: TrainState) -> None:
        if self._sigterm:  # save the epoch so far: the resumed run continues with the next batch
            self._write(state, next_batch=state.batch + 1)
        self._stop_if_terminated(state)

    def on_fit_end(self, state: TrainState) -> None:
        if self._sigterm_handler is not None:
            signal.signal(signal.SIGTERM, self._sigterm_handler)
            self._sigterm_handler = None
        if self._sigterm and state.completed:  # it came during the last epoch's end: still an interruption
            self._stop_if_terminated(state)
        diverged = "invalid_loss" in state.extra or non_finite_names(state.model.state_dict())
        if state.completed and self.delete_checkpoint and not diverged:
            for path in (self.latest, self.previous, *self._set_aside()):
                path.unlink(missing_ok=True)

    # -- SIGTERM ---------------------------------------------------------------------------

    def _on_sigterm(self, signum: int, frame: Any) -> None:
        self._sigterm = True  # acted on at the next safe point: after a step, or after the next epoch's backup

    def _stop_if_terminated(self, state: TrainState) -> None:
        if self._sigterm:
            raise TrainingInterrupted(f"SIGTERM: stopped at epoch {state.epoch}, step {state.step}; the backup in "
                                      f"{str(self.backup_dir)!r} is kept: run the same command again to resume")

    # -- writing ---------------------------------------------------------------------------

    def _write(self, state: TrainState, next_batch: int = 0) -> None:
        if not state.is_main_process:  # every process restores; only rank 0 writes
            return
        bad = non_finite_names(state.model.state_dict())
        if bad:  # diverged: the backups on disk are from before; never replace them with NaN
            warnings.warn(f"BackupAndRestore: not backing up epoch {state.epoch}: non-finite weights in {bad[:5]}; "
                          "the earlier backups are kept", RuntimeWarning, stacklevel=3)
            return
        others = [c for c in state.callbacks if c is not self]
        payload = {
            "format": "topnet.backup",
            "version": 1,
            "epoch": state.epoch,
            "batch": next_batch,  # 0 at an epoch's start; else the epoch's sums so far come too
            "objective": state.objective.state_dict() if next_batch and state.objective is not None else None,
            "step": state.step,
            "model": {k: v.detach().cpu().clone() for k, v in state.model.state_dict().items()},
            "optimizer": state.optimizer.state_dict() if state.optimizer is not None else {},
            "rng": capture_rng_state(state.generator),
            "callbacks": [{"class": type(c).__name__, "state": c.state_dict()} for c in others],
        }
        buffer = io.BytesIO()
        torch.save(payload, buffer)
        data = buffer.getvalue()
        if self.latest.exists():
            os.replace(self.latest, self.previous)  # a crash from here on still leaves a good previous
        atomic_write_bytes(self.latest, hashlib.sha256(data).digest() + data)

    # -- reading ---------------------------------------------------------------------------

    def _set_aside(self) -> list[Path]:
        return sorted(self.backup_dir.glob("backup*.pt.bad"))

    def _read_good_backup(self) -> dict[str, Any] | None:
        candidates = [p for p in (self.latest, self.previous) if p.exists()]
        problems = [f"{p.name} was set aside as damaged" for p in self._set_aside()] if not candidates else []
        for path in candidates:
            try:
                backup = self._read(path)
            except CheckpointError as error:
                problems.append(str(error))
                aside = path.with_name(path.name + ".bad")
                os.replace(path, aside)
                warnings.warn(f"{error}; moved it to {aside.name} and trying the previous backup", RuntimeWarning, stacklevel=2)
                continue
            return backup
        if problems:
            raise CheckpointError(f"no usable backup in {str(self.backup_dir)!r}: {'; '.join(problems)}. "
                                  "Refusing to start from scratch silently: delete the directory to start a fresh run")
        return None

    def _read(self, path: Path) -> dict[str, Any]:
        blob = path.read_bytes()
        digest, data = blob[:_DIGEST], blob[_DIGEST:]
        if len(blob) <= _DIGEST or hashlib.sha256(data).digest() != digest:
            raise CheckpointError(f"backup {str(path)!r} is truncated or corrupted (checksum mismatch)")
        backup = safe_torch_load(io.BytesIO(data))
        if not isinstance(backup, dict) or backup.get("format") != "topnet.backup":
            raise CheckpointError(f"{str(path)!r} is not a topnet backup")
        return backup

    @staticmethod
    def _restore_callbacks(state: TrainState, saved: list[dict[str, Any]]) -> None:
        """Give each saved state to the callback of the same class and occurrence (the 2nd
        EarlyStopping gets the 2nd saved EarlyStopping's state). Callbacks added since start
        fresh; a saved state nobody takes is reported."""
        available: dict[str, list[Callback]] = {}
        for callback in state.callbacks:
            if not isinstance(callback, BackupAndRestore):
                available.setdefault(type(callback).__name__, []).append(callback)
        orphans = []
        for entry in saved:
            takers = available.get(entry["class"], [])
            if takers:
                takers.pop(0).load_state_dict(entry["state"])
            elif entry["state"]:
                orphans.append(entry["class"])
        if orphans:
            warnings.warn(f"the backed-up run had callbacks {orphans} that this run lacks; their state is dropped",
                          RuntimeWarning, stacklevel=3)


def _device_of(model: torch.nn.Module) -> torch.device:
    tensor = next(iter(model.state_dict().values()), None)
    return tensor.device if tensor is not None else torch.device("cpu")

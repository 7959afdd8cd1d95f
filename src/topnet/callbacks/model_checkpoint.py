"""``ModelCheckpoint``: save the model (or its weights) every epoch, every N batches, or when best."""
from __future__ import annotations

import math
import os
import re
import string
import warnings
from pathlib import Path
from typing import Any

from topnet import io
from topnet.callbacks._monitor import MODES, Monitor
from topnet.callbacks.base import Callback
from topnet.callbacks.state import TrainState
from topnet.errors import format_message, unknown_name

__all__ = ["ModelCheckpoint"]

_WEIGHTS_SUFFIX = ".safetensors"


def _placeholders(filepath: str) -> set[str]:
    """The names used in ``filepath``'s ``{...}`` fields; ValueError for malformed or positional ones."""
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(filepath) if f is not None]
    except ValueError as error:
        raise ValueError(format_message("ModelCheckpoint filepath", filepath, f"a valid format string ({error})",
                                        "double a literal brace: '{{' or '}}'")) from None
    names = {re.split(r"[.\[]", f, maxsplit=1)[0] for f in fields}
    if any(name == "" or name.isdigit() for name in names):
        raise ValueError(format_message("ModelCheckpoint filepath", filepath, "named placeholders only",
                                        "use e.g. '{epoch:02d}' or '{val_loss:.4f}', not '{}' or '{0}'"))
    return names


def _check_arguments(filepath: str, names: set[str], monitor: str, save_best_only: bool,
                     save_weights_only: bool, mode: str, save_freq: str | int) -> None:
    """Raise ValueError for argument combinations ModelCheckpoint cannot honour."""
    what = "ModelCheckpoint filepath"
    if save_weights_only and not filepath.endswith(_WEIGHTS_SUFFIX):
        raise ValueError(format_message(what, filepath, f"a file ending in {_WEIGHTS_SUFFIX!r} with save_weights_only=True",
                                        f"try {filepath + _WEIGHTS_SUFFIX!r}"))
    if not save_weights_only and filepath.endswith(_WEIGHTS_SUFFIX):
        raise ValueError(format_message(what, filepath, "a directory name for the whole model",
                                        "pass save_weights_only=True to save only the weights to this file"))
    batches = isinstance(save_freq, int) and not isinstance(save_freq, bool)
    if save_freq != "epoch" and not (batches and save_freq >= 1):
        raise ValueError(format_message("ModelCheckpoint save_freq", save_freq, "'epoch' or a number of batches >= 1"))
    if "batch" in names and not batches:
        raise ValueError(format_message(what, filepath, "no '{batch}' placeholder with save_freq='epoch'",
                                        "pass save_freq as a number of batches, or remove '{batch}'"))
    if save_best_only and batches and monitor.startswith("val_"):
        raise ValueError(format_message("ModelCheckpoint monitor", monitor, "a training metric when save_freq is a "
                                        "number of batches (validation runs only at epoch end)", "try monitor='loss'"))
    if mode not in MODES:
        raise unknown_name("ModelCheckpoint mode", mode, MODES)


class ModelCheckpoint(Callback):
    """Save the model at the end of every epoch (or every ``save_freq`` batches), or only when best.

    ``filepath`` may hold ``str.format`` placeholders: ``{epoch}`` (1-based, as in Keras),
    ``{batch}`` (1-based within the epoch; only with an int ``save_freq``) and any log name,
    e.g. ``"ckpt/model-{epoch:02d}-{val_loss:.4f}"``. With ``save_weights_only=True`` the file
    is ``topnet.io.save_weights``'s safetensors file and must end in ``.safetensors``; otherwise
    ``topnet.io.save_model`` writes a directory (``weights.safetensors`` + ``config.json``).
    Every write is atomic: a killed run never leaves a half-written checkpoint, and the
    temporary files of writes it cut short are removed when the next ``fit`` begins. A model
    whose weights hold NaN or inf is never saved (a warning says so), so a diverged run keeps
    its earlier checkpoints.

    With ``save_best_only=True`` a save happens only when ``monitor`` is strictly better than
    ``best`` (which starts at ``initial_value_threshold``, or at the first value). With an int
    ``save_freq`` the values come from ``state.running_logs()`` (the epoch's running averages;
    called only when a save is due, as it synchronises with the device).

    Differences from Keras: the files are safetensors/topnet model directories, not
    ``.weights.h5``/``.keras``; a monitor missing from the logs raises ``ValueError`` (Keras
    warns, and saves anyway); ``save_best_only`` with an int ``save_freq`` and a ``val_`` monitor
    is refused at construction (there are no validation metrics mid-epoch); a ``{batch}``
    placeholder with ``save_freq="epoch"`` is refused at construction; an unknown ``mode`` raises.

    Args:
        filepath: the file (weights) or directory (model) to write; may contain placeholders.
        monitor: the log name compared when ``save_best_only``.
        verbose: 1 prints a line per save decision.
        save_best_only: save only when ``monitor`` improves.
        save_weights_only: save only the state dict, as one ``.safetensors`` file.
        mode: ``"auto"``, ``"min"`` or ``"max"``.
        save_freq: ``"epoch"``, or a number of batches between saves.
        initial_value_threshold: the value ``monitor`` must beat for the first save.
        keep_last: with a ``filepath`` whose placeholders name each save differently, keep only
            the ``keep_last`` most recent saves and the best one by ``monitor`` (a NaN value is
            never the best); older files are deleted. None (the default, as Keras) keeps all.
            Survives restarts through ``state_dict`` (``BackupAndRestore``), and never touches
            ``BackupAndRestore``'s own files.

    Attributes:
        best: the best monitored value saved so far (None before the first).
        last_saved_path: the path written last (None before the first save).

    Example:
        >>> import tempfile, torch
        >>> from topnet.callbacks.state import TrainState
        >>> folder = tempfile.mkdtemp()
        >>> checkpoint = ModelCheckpoint(folder + "/w-{epoch:02d}.safetensors", save_weights_only=True)
        >>> state = TrainState(model=torch.nn.Linear(1, 1), logs={"val_loss": 0.5})
        >>> checkpoint.on_epoch_end(state)
        >>> checkpoint.last_saved_path.endswith("w-01.safetensors")
        True
    """

    main_process_only = True  # writes files / prints: rank 0 only in data-parallel training

    def __init__(self, filepath: str | os.PathLike, monitor: str = "val_loss", verbose: int = 0,
                 save_best_only: bool = False, save_weights_only: bool = False, mode: str = "auto",
                 save_freq: str | int = "epoch", initial_value_threshold: float | None = None,
                 keep_last: int | None = None):
        filepath = os.fspath(filepath)
        names = _placeholders(filepath)
        _check_arguments(filepath, names, monitor, save_best_only, save_weights_only, mode, save_freq)
        if keep_last is not None and (not isinstance(keep_last, int) or isinstance(keep_last, bool) or keep_last < 1):
            raise ValueError(format_message("ModelCheckpoint keep_last", keep_last, "None or an int >= 1"))
        self.filepath = filepath
        self.monitor = monitor
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.mode = mode
        self.save_freq = save_freq
        self.initial_value_threshold = initial_value_threshold
        self.keep_last = keep_last
        ranked = save_best_only or keep_last is not None
        self._monitor = Monitor(monitor, mode, 0.0, owner="ModelCheckpoint") if ranked else None
        self._needs_logs = ranked or bool(names - {"epoch", "batch"})
        self._saved: list[tuple[str, float]] = []  # (path, monitored value) of each file still on disk, oldest first
        self.best: float | None = None if initial_value_threshold is None else float(initial_value_threshold)
        self.last_saved_path: str | None = None
        self._batches_since_save = 0

    def on_fit_begin(self, state: TrainState) -> None:
        # Temporary files of writes a killed run cut short: beside the files (weights), or inside
        # the model directory; not where a placeholder makes the directory part vary.
        static = self.filepath.split("{", 1)[0]
        directory, prefix = os.path.split(static)
        if "{" not in os.path.dirname(self.filepath):
            io.remove_leftovers(directory or ".", prefix)
        if not self.save_weights_only and static == self.filepath:
            io.remove_leftovers(self.filepath)

    def on_batch_end(self, state: TrainState) -> None:
        if self.save_freq == "epoch":
            return
        self._batches_since_save += 1
        if self._batches_since_save >= self.save_freq:
            self._batches_since_save = 0
            self._save(state, state.running_logs() if self._needs_logs else {}, batch=state.batch)

    def on_epoch_end(self, state: TrainState) -> None:
        if self.save_freq == "epoch":
            self._save(state, state.logs, batch=None)

    def _save(self, state: TrainState, logs: dict[str, float], batch: int | None) -> None:
        path = self._format(state.epoch, batch, logs)
        epoch = state.epoch + 1
        bad = io.non_finite_names(state.model.state_dict())
        if bad:  # the training diverged: keep the earlier checkpoints, never overwrite them with NaN
            warnings.warn(f"ModelCheckpoint: not saving {path}: non-finite weights (NaN or inf) in {bad[:5]}",
                          RuntimeWarning, stacklevel=3)
            return
        current = self._monitor.get(logs) if self._monitor is not None else math.nan
        if self.save_best_only:
            shown = self._monitor.worst if self.best is None else self.best
            if not self._monitor.is_improvement(current, self.best):
                if self.verbose > 0:
                    print(f"Epoch {epoch}: {self.monitor} did not improve from {shown:.5f}")
                return
            if self.verbose > 0:
                print(f"Epoch {epoch}: {self.monitor} improved from {shown:.5f} to {current:.5f}, "
                      f"saving model to {path}")
            self.best = current
        elif self.verbose > 0:
            print(f"Epoch {epoch}: saving model to {path}")
        if self.save_weights_only:
            io.save_weights(state.model, path)
        else:
            io.save_model(state.model, path)
        self.last_saved_path = path
        self._saved = [entry for entry in self._saved if entry[0] != path] + [(path, current)]
        if self.keep_last is not None:
            self._remove_old()

    def _remove_old(self) -> None:
        """Delete the saves older than the last ``keep_last``, except the best one (NaN is never best)."""
        best_path, best = None, None
        for path, value in self._saved:
            if self._monitor.is_improvement(value, best):
                best_path, best = path, value
        keep = {path for path, _ in self._saved[-self.keep_last:]} | {best_path}
        for path, _ in self._saved:
            if path in keep:
                continue
            if os.path.isdir(path):  # a whole-model directory
                io.remove_tree(path)
            else:
                Path(path).unlink(missing_ok=True)
        self._saved = [entry for entry in self._saved if entry[0] in keep]

    def _format(self, epoch: int, batch: int | None, logs: dict[str, float]) -> str:
        values = {**logs, "epoch": epoch + 1}
        if batch is not None:
            values["batch"] = batch + 1
        try:
            return self.filepath.format(**values)
        except (KeyError, IndexError, AttributeError) as error:
            raise ValueError(format_message("ModelCheckpoint filepath", self.filepath,
                                            f"placeholders among {sorted(values)}",
                                            f"{error} is not a log name at this point")) from None
        except ValueError as error:  # a format spec that does not fit the value, e.g. {val_loss:02d}
            raise ValueError(format_message("ModelCheckpoint filepath", self.filepath, "format specs that fit "
                                            "the values (epoch and batch are ints, logs are floats)", str(error))) from None

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"batches_since_save": self._batches_since_save,
                                 "saved": [[path, value] for path, value in self._saved]}
        if self.best is not None:
            state["best"] = self.best
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = float(state["best"]) if "best" in state else None
        self._batches_since_save = int(state.get("batches_since_save", 0))
        self._saved = [(str(path), float(value)) for path, value in state.get("saved", [])]

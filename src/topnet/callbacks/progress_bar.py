"""``ProgressBar``: a live bar per epoch on a terminal, plain lines everywhere else."""
from __future__ import annotations

import math
import sys
import time
from typing import IO, Any

from topnet.callbacks.base import Callback
from topnet.callbacks.state import TrainState
from topnet.errors import format_message

__all__ = ["ProgressBar"]

_now = time.monotonic  # the clock; tests replace it
PLAIN_PROGRESS_SECONDS = 10.0  # a plain progress line at most this often within an epoch


def _isatty(file: IO) -> bool:
    try:
        return bool(file.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed file
        return False


def format_value(name: str, value: float) -> str:
    """One log value as the progress lines show it (Keras's rule: 4 decimals, or 4 significant
    digits in scientific notation below 1e-3); learning rates with 4 significant digits.

    Example:
        >>> format_value("loss", 0.43214), format_value("loss", 2e-5), format_value("learning_rate", 0.001)
        ('0.4321', '2.0000e-05', '0.001')
    """
    value = float(value)
    if name.endswith("learning_rate"):
        return f"{value:.4g}"
    if value == 0 or abs(value) >= 1e-3 or not math.isfinite(value):
        return f"{value:.4f}"
    return f"{value:.4e}"


def format_logs(logs: dict[str, float]) -> str:
    """``"loss: 0.4321 - accuracy: 0.8765 - ... - learning_rate: 0.001"`` (learning rate last)."""
    keys = [k for k in logs if k != "learning_rate"] + (["learning_rate"] if "learning_rate" in logs else [])
    return " - ".join(f"{k}: {format_value(k, logs[k])}" for k in keys)


def format_seconds(seconds: float) -> str:
    """``12.3s``, ``4m05s`` or ``1h02m``."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class ProgressBar(Callback):
    """Show training progress: a ``rich`` bar per epoch on a terminal, one plain line per epoch otherwise.

    ``verbose=1`` on a terminal (``file.isatty()``): a live bar with ``batch i/n``, the running
    loss and metrics, elapsed time and ETA, replaced at each epoch end by the epoch's line. The
    running values come from ``state.running_logs()``, which synchronises with the device, so it
    is called at most ``refresh_per_second`` times a second, never once per batch.
    ``verbose=1`` elsewhere (CI, log files): the epoch line, plus a plain progress line at most
    every 10 seconds within long epochs. ``verbose=2``: only the epoch line, even on a terminal
    (Keras's meaning). ``verbose=0``: nothing. The epoch line is::

        Epoch 3/10 - 12.3s - loss: 0.4321 - accuracy: 0.8765 - val_loss: 0.4567 - learning_rate: 0.001

    Args:
        verbose: 0, 1 or 2 (above).
        refresh_per_second: how often the live bar (and its running metrics) may update.
        file: where to write; ``sys.stdout`` (read at ``on_fit_begin``) when None.

    Example:
        >>> import io, torch
        >>> from topnet.callbacks.state import TrainState
        >>> out = io.StringIO()
        >>> bar = ProgressBar(verbose=2, file=out)
        >>> state = TrainState(model=torch.nn.Linear(1, 1), epochs=10, epoch=2)
        >>> bar.on_fit_begin(state); bar.on_epoch_begin(state)
        >>> state.logs = {"loss": 0.43214, "accuracy": 0.87654}
        >>> bar.on_epoch_end(state); bar.on_fit_end(state)
        >>> out.getvalue().startswith("Epoch 3/10 - ") and out.getvalue().endswith("s - loss: 0.4321 - accuracy: 0.8765\\n")
        True
    """

    main_process_only = True  # writes files / prints: rank 0 only in data-parallel training

    def __init__(self, verbose: int = 1, refresh_per_second: float = 4, file: IO[str] | None = None):
        if verbose not in (0, 1, 2) or isinstance(verbose, bool):
            raise ValueError(format_message("ProgressBar verbose", verbose, "0 (silent), 1 (bar) or 2 (one line per epoch)"))
        if not isinstance(refresh_per_second, (int, float)) or not 0 < refresh_per_second < math.inf:
            raise ValueError(format_message("ProgressBar refresh_per_second", refresh_per_second, "a number > 0", "try 4"))
        self.verbose = verbose
        self.refresh_per_second = refresh_per_second
        self.file = file
        self._out: IO[str] = sys.stdout
        self._progress: Any = None  # rich.progress.Progress while a live bar is shown
        self._task: Any = None
        self._epoch_start = self._last_update = 0.0

    def on_fit_begin(self, state: TrainState) -> None:
        self._out = self.file if self.file is not None else sys.stdout
        if self.verbose == 1 and _isatty(self._out):
            self._progress = self._make_progress()
            self._progress.start()

    def _make_progress(self) -> Any:
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)

        return Progress(TextColumn("Epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                        TextColumn("{task.fields[metrics]}", markup=False),
                        console=Console(file=self._out), refresh_per_second=self.refresh_per_second,
                        transient=True)

    def on_epoch_begin(self, state: TrainState) -> None:
        self._epoch_start = self._last_update = _now()
        if self._progress is not None:
            total = state.steps_per_epoch or None
            epoch = f"{state.epoch + 1}/{state.epochs}"
            self._task = self._progress.add_task("", total=total, epoch=epoch, metrics="")

    def on_batch_end(self, state: TrainState) -> None:
        if self.verbose != 1:
            return
        now = _now()
        if self._progress is not None:
            if now - self._last_update >= 1.0 / self.refresh_per_second:
                self._last_update = now
                metrics = format_logs(state.running_logs())  # a device sync, a few times a second
                self._progress.update(self._task, completed=state.batch + 1, metrics=metrics)
        elif now - self._last_update >= PLAIN_PROGRESS_SECONDS:
            self._last_update = now
            self._write(self._progress_line(state, now - self._epoch_start))

    def _progress_line(self, state: TrainState, elapsed: float) -> str:
        done, total = state.batch + 1, state.steps_per_epoch
        parts = [f"Epoch {state.epoch + 1}/{state.epochs}", f"{done}/{total}" if total else f"batch {done}",
                 format_seconds(elapsed)]
        if total:
            parts.append(f"ETA {format_seconds(elapsed / done * max(total - done, 0))}")
        metrics = format_logs(state.running_logs())
        return " - ".join(parts + ([metrics] if metrics else []))

    def on_epoch_end(self, state: TrainState) -> None:
        if self.verbose == 0:
            return
        elapsed = _now() - self._epoch_start
        metrics = format_logs(state.logs)
        parts = [f"Epoch {state.epoch + 1}/{state.epochs}", format_seconds(elapsed)]
        line = " - ".join(parts + ([metrics] if metrics else []))
        if self._progress is not None:
            self._progress.remove_task(self._task)
            self._task = None
            self._progress.refresh()  # drop the finished bar before printing above the live area
            self._progress.console.print(line, markup=False, highlight=False, soft_wrap=True)
        else:
            self._write(line)

    def on_fit_end(self, state: TrainState) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def _write(self, line: str) -> None:
        print(line, file=self._out, flush=True)

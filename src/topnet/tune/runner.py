"""``run_trials``: run a study's trials in this process until the budget or the target is reached.

Shared by ``tune`` and ``topnet worker``. Optuna's ``timeout`` stops starting trials when the
wall time is used; the `Deadline` callback inside each trial stops the one that is running, so
the call ends about when its budget does. The study's target counts every process's finished
trials (`finished_count`), so several workers together stop at ``num_trials``. A configuration
that fails (a bad architecture for the input size, an out-of-memory error, a diverged
training) marks its trial FAIL with the reason in its ``error`` user attribute, and the search
goes on; a run of failures with no success (diverged trials aside) stops it with the last error.
"""
from __future__ import annotations

import gc
import warnings
from typing import Any

import torch

from topnet.callbacks.deadline import Deadline
from topnet.errors import TopnetError
from topnet.tune._optuna import import_optuna
from topnet.tune.study import finished_count, quiet_logs

__all__ = ["run_trials", "MAX_CONSECUTIVE_FAILURES"]

MAX_CONSECUTIVE_FAILURES = 5
# a configuration that cannot train; torch.cuda.OutOfMemoryError is a RuntimeError
_CAUGHT = (ValueError, TypeError, RuntimeError, TopnetError, MemoryError)


class _Progress:
    """Study callback: counts this process's trials, prints a line each, stops the study when done."""

    def __init__(self, num_trials: int | None, max_trials: int | None, deadline: Deadline, verbose: int):
        self.num_trials, self.max_trials = num_trials, max_trials
        self.deadline, self.verbose = deadline, verbose
        self.numbers: list[int] = []
        self.failures = 0
        self.last_error: str | None = None

    def __call__(self, study: Any, trial: Any) -> None:
        self.numbers.append(trial.number)
        state = trial.state.name
        if trial.user_attrs.get("stopped") != "diverged":  # a diverged configuration says nothing of the space
            self.failures = self.failures + 1 if state == "FAIL" else 0
        if state == "FAIL":
            self.last_error = trial.user_attrs.get("error", "see the log above")
        if self.verbose:
            value = "" if trial.value is None else f" {trial.value:.4f}"
            config = trial.user_attrs.get("config", {})
            seconds = trial.duration.total_seconds() if trial.duration else 0.0
            print(f"trial {trial.number:>4} {state.lower():<8}{value} {config.get('family', '')} "
                  f"({seconds:.1f}s){' ' + self.last_error if state == 'FAIL' else ''}", flush=True)
        if self.done(study):
            study.stop()

    def done(self, study: Any) -> bool:
        return (self.deadline.expired or self.failures >= MAX_CONSECUTIVE_FAILURES
                or (self.max_trials is not None and len(self.numbers) >= self.max_trials)
                or (self.num_trials is not None and finished_count(study) >= self.num_trials))


class _RecordErrors:
    """Wraps the objective so a failing trial records its error as the ``error`` user attribute."""

    def __init__(self, objective: Any):
        self.objective = objective

    def __call__(self, trial: Any) -> float:
        try:
            return self.objective(trial)
        except _CAUGHT as error:
            trial.set_user_attr("error", f"{type(error).__name__}: {error}"[:500])
            if isinstance(error, (MemoryError, torch.cuda.OutOfMemoryError)):
                gc.collect()  # the failed trial's tensors, before the next trial allocates its own
                torch.cuda.empty_cache()
            raise


def run_trials(study: Any, objective: Any, *, num_trials: int | None = None, max_trials: int | None = None,
               deadline: Deadline | None = None, verbose: int = 1) -> list[int]:
    """Run trials of ``study`` here until the deadline, the study's target, or this process's limit.

    Args:
        study: an Optuna study.
        objective: a `TrialObjective` (or any ``trial -> float``).
        num_trials: the study's target of finished trials (all processes together).
        max_trials: the most trials this process runs.
        deadline: the wall-time `Deadline` (None: no time limit).
        verbose: 1 prints a line per trial.

    Returns:
        The numbers of the trials this process finished.

    Raises:
        RuntimeError: ``MAX_CONSECUTIVE_FAILURES`` trials failed in a row (the last error is in
            the message): the space or the data is probably wrong.
    """
    optuna = import_optuna()
    deadline = deadline or Deadline(None)
    progress = _Progress(num_trials, max_trials, deadline, verbose)
    if not progress.done(study):
        with quiet_logs(), warnings.catch_warnings():  # one line per trial is ours; Optuna's would repeat them
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.optimize(_RecordErrors(objective), timeout=deadline.remaining(), callbacks=[progress],
                           catch=_CAUGHT, gc_after_trial=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)  # crashed trials of other processes, before the summary
    if progress.failures >= MAX_CONSECUTIVE_FAILURES:
        raise RuntimeError(f"{progress.failures} trials failed in a row; the last: {progress.last_error}; "
                           "check the search space against the data (input size, families, options)")
    return progress.numbers

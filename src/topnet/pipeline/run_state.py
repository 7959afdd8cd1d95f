"""`Run`: one ``topnet run`` in progress (settings, budget plan, state, directory, data), handed to each phase.

``state.json`` (`RunState`) records each finished phase, the retraining plan and the time spent,
written atomically after each step. A killed run started again with ``resume=True`` skips the
finished phases and counts the time already spent against the budget; ``metrics.json`` marks a
finished run, which is never overwritten (`open_run_dir`).
"""
from __future__ import annotations

import functools
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from topnet.budget import PHASE_FLOORS, BudgetPlan, phase_shares
from topnet.configs import FitSettings
from topnet.io import write_json
from topnet.pipeline.config import RunConfig, class_weights
from topnet.pipeline.data import RunSplits
from topnet.report.schema import redact

__all__ = ["Run", "RunState", "open_run_dir"]

_KEEP_ON_RESUME = ("verbose", "device")  # settings a resumed run may change


class RunState:
    """``state.json``: finished phases, the retraining plan, the seconds spent (written atomically)."""

    def __init__(self, directory: Path):
        self.file = directory / "state.json"
        self.document: dict[str, Any] = {"phases": {}, "elapsed_s": 0.0, "retrain_plans": None, "retrained": []}
        if self.file.exists():
            self.document.update(json.loads(self.file.read_text(encoding="utf-8")))

    def time_spent(self) -> float:
        """Seconds the run spent before: as of the last save, plus the time until its last
        written file (a killed phase's trials and epochs write files; its time counts too)."""
        spent = float(self.document["elapsed_s"])
        if self.file.exists():
            saved = self.file.stat().st_mtime
            newest = max((p.stat().st_mtime for p in self.file.parent.rglob("*") if p.is_file()), default=saved)
            spent += max(0.0, newest - saved)
        return spent

    def done(self, phase: str) -> bool:
        return self.document["phases"].get(phase, {}).get("status") in ("done", "skipped")

    def save(self, plan: BudgetPlan) -> None:
        self.document["phases"] = {k: v for k, v in plan.phases.items() if v.get("status") != "running"}
        self.document["elapsed_s"] = round(plan.elapsed(), 3)
        write_json(self.file, self.document)


@dataclass
class Run:
    """One run in progress: what every phase of ``topnet run`` reads and records.

    Attributes:
        config: the settings.
        out: the run directory.
        plan: the budget's split across the phases (`topnet.budget.BudgetPlan`).
        state: ``state.json``.
        data: the splits (set by the data phase).
        pool: a bagged run's train, valid and blend rows (`topnet.pipeline.bagged.Pool`), else None.
        folds: a bagged run's k (`topnet.pipeline.bagged.bagging_folds`), else 0.
    """

    config: RunConfig
    out: Path
    plan: BudgetPlan
    state: RunState
    data: RunSplits | None = None
    pool: Any = None
    folds: int = 0

    @classmethod
    def open(cls, config: RunConfig, *, resume: bool, overwrite: bool) -> Run:
        """The run in ``config.out``: a new one, or the unfinished one to resume (`open_run_dir`)."""
        out = open_run_dir(config, resume, overwrite)
        state = RunState(out)
        shares = phase_shares(config.budget_s)
        done = {k: v for k, v in state.document["phases"].items() if k in shares and state.done(k)}
        plan = BudgetPlan(config.budget_s, shares, floors=PHASE_FLOORS, done=done, used_before=state.time_spent())
        return cls(config, out, plan, state)

    def done(self, phase: str) -> bool:
        """Whether ``phase`` finished (or was skipped) in this run or before it was killed."""
        return self.state.done(phase)

    def save(self) -> None:
        """Write ``state.json`` with the plan's phases and the time spent."""
        self.state.save(self.plan)

    @functools.cached_property
    def class_weight(self) -> dict[int, float] | None:
        """The ``class_weight`` setting as ``{class: weight}``, computed once from train (after the data phase)."""
        return class_weights(self.config.class_weight, self.data.task, self.data.splits.train.y)

    def fit_settings(self, metric: str, **changes: Any) -> FitSettings:
        """How this run's networks train (device, precision, layout, class weights), scored on ``metric``."""
        return FitSettings(metric=metric, device=self.config.device, precision=self.config.precision,
                           channels_last=self.data.channels_last, class_weight=self.class_weight, **changes)

    def say(self, phase: str, allowance: float | None = None) -> None:
        """The phase line: plain on a pipe or a log file, a bold rule on a terminal (``rich``)."""
        if not self.config.verbose:
            return
        share = f" ({allowance:.0f}s of it)" if allowance is not None else ""
        line = f"{phase}: {self.plan.remaining():.0f}s of the {self.plan.budget_s:.0f}s budget left{share}"
        if sys.stdout.isatty():
            from rich.console import Console

            Console().rule(f"[bold]{line}", align="left")
        else:
            print(f"[run] {line}", flush=True)

    def note(self, message: str) -> None:
        """A line of progress (when verbose)."""
        if self.config.verbose:
            print(f"[run] {message}", flush=True)


def open_run_dir(config: RunConfig, resume: bool, overwrite: bool) -> Path:
    """``config.out``, ready for a run: created; emptied first with ``overwrite``; an unfinished
    run kept with ``resume`` (its settings must match).

    Raises:
        FileExistsError: a finished run (without ``overwrite``), an unfinished one (without
            ``resume``), or a folder that holds something else.
        ValueError: resuming with other settings than the run's own.
    """
    out = Path(config.out)
    finished = (out / "metrics.json").exists()
    unfinished = (out / "state.json").exists() or (out / "config.json").exists()  # killed before its first phase, too
    if overwrite and (finished or unfinished):
        shutil.rmtree(out)
    elif finished:
        raise FileExistsError(f"--out {str(out)!r} holds a finished run (metrics.json exists); choose another "
                              "directory, or pass --overwrite to replace it")
    elif unfinished and not resume:
        raise FileExistsError(f"--out {str(out)!r} holds an unfinished run; pass --resume to continue it, "
                              "--overwrite to start it again, or choose another --out")
    elif unfinished:
        saved = json.loads((out / "config.json").read_text(encoding="utf-8")) if (out / "config.json").exists() else {}
        changed = sorted(k for k, v in redact(config.to_dict()).items()
                         if k not in _KEEP_ON_RESUME and k in saved and saved[k] != v)
        if changed:
            raise ValueError(f"--resume: settings {changed} differ from the run in {str(out)!r} "
                             f"({', '.join(f'{k}={saved.get(k)!r}' for k in changed)}); resume with the same "
                             "settings, or start a new run with another --out")
    elif any(out.iterdir() if out.is_dir() else ()):
        raise FileExistsError(f"--out {str(out)!r} is not empty and holds no topnet run; choose another directory")
    out.mkdir(parents=True, exist_ok=True)
    return out

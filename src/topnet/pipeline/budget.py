"""The budget of ``topnet run``: a share per phase, unused time passed on, every phase recorded.

Each phase gets ``share / (sum of the shares of the phases not yet run) × time left``, so a
phase that finishes early leaves its time to the later ones, and one that overruns takes it
from them; the run as a whole ends near its budget. What each phase got and used is kept for
``metrics.json`` (``phases``) and for a resumed run, which counts the time already spent.

Example:
    >>> now = [0.0]
    >>> plan = BudgetPlan(100.0, {"a": 1.0, "b": 3.0}, clock=lambda: now[0])
    >>> plan.start("a")
    25.0
    >>> now[0] = 40.0
    >>> plan.finish("a")["elapsed_s"], plan.allowance("b")
    (40.0, 60.0)
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["BudgetPlan", "PHASE_SHARES", "SHORT_PHASE_SHARES", "phase_shares"]

# Fractions of the budget. The search and the retraining are where accuracy comes from, and
# the retraining more so: its models see every train row for many epochs, while a trial sees a
# few epochs (and, on short CPU budgets, a subset); the search's baseline is already a good
# configuration. The LR range test and LightGBM are cheap; the rest (ensemble, calibration,
# test, report) is fixed work.
PHASE_SHARES = {"lr_find": 0.03, "search": 0.33, "retrain": 0.52, "lightgbm": 0.07, "ensemble": 0.05}
# Under half an hour a search runs a handful of trials (TPE samples its first 10 at random), which
# rarely beat the baseline: the time does more as epochs of the retrained model. Measured on
# Fashion-MNIST, 15 minutes, 2 cores: 3 trials in 324 s, none better than the baseline; the
# retrained baseline got 4 epochs (92.26% test). The ensemble phase (fit on blend, MC dropout,
# test, report) needed 46 s of the 162 s it was given there: 5% is enough.
SHORT_BUDGET_S = 30 * 60
SHORT_PHASE_SHARES = {"lr_find": 0.03, "search": 0.20, "retrain": 0.65, "lightgbm": 0.07, "ensemble": 0.05}


def phase_shares(budget_s: float) -> dict[str, float]:
    """The phases' shares for a run of ``budget_s`` seconds.

    Example:
        >>> phase_shares(900)["search"], phase_shares(3600)["search"]
        (0.2, 0.33)
    """
    return dict(SHORT_PHASE_SHARES if budget_s < SHORT_BUDGET_S else PHASE_SHARES)


class BudgetPlan:
    """Split ``budget_s`` across phases in order, tracking what each got and used.

    Args:
        budget_s: the whole run's wall time.
        shares: ``{phase: weight}`` in the order the phases run.
        done: ``{phase: record}`` of phases a killed run already finished (they get no more time).
        used_before: seconds the killed run had spent in all (they count against the budget).
        clock: seconds (``time.monotonic``).
    """

    def __init__(self, budget_s: float, shares: Mapping[str, float] = PHASE_SHARES, *,
                 done: Mapping[str, dict[str, Any]] | None = None, used_before: float = 0.0,
                 clock: Callable[[], float] = time.monotonic):
        self.budget_s = float(budget_s)
        self.shares = dict(shares)
        self.phases: dict[str, dict[str, Any]] = {k: dict(v) for k, v in (done or {}).items()}
        self.clock = clock
        self.used_before = float(used_before)
        self.started = clock()
        self._current: tuple[str, float] | None = None

    def elapsed(self) -> float:
        """Seconds used by the run so far (a resumed run's earlier time included)."""
        return self.used_before + self.clock() - self.started

    def remaining(self) -> float:
        """Seconds left of the whole budget (never negative)."""
        return max(0.0, self.budget_s - self.elapsed())

    def allowance(self, phase: str) -> float:
        """The seconds ``phase`` gets if it starts now."""
        pending = [name for name in self.shares if name not in self.phases or name == phase]
        weight = sum(self.shares[name] for name in pending)
        return self.remaining() * self.shares.get(phase, 0.0) / weight if weight else 0.0

    def start(self, phase: str) -> float:
        """Begin ``phase``; returns its allowance in seconds."""
        allowance = self.allowance(phase)
        self._current = (phase, self.clock())
        self.phases[phase] = {"budget_s": round(allowance, 3), "status": "running"}
        return allowance

    def finish(self, phase: str, status: str = "done", **extra: Any) -> dict[str, Any]:
        """End ``phase`` (``status``: ``done``, ``skipped``, ``timed out``...); returns its record."""
        name, began = self._current if self._current and self._current[0] == phase else (phase, self.clock())
        record = self.phases.setdefault(name, {"budget_s": 0.0})
        record.update(elapsed_s=round(self.clock() - began, 3), status=status, **extra)
        self._current = None
        return record

    def skip(self, phase: str, reason: str) -> dict[str, Any]:
        """Record ``phase`` as skipped (it gets no time)."""
        self.phases[phase] = {"budget_s": 0.0, "elapsed_s": 0.0, "status": "skipped", "reason": reason}
        return self.phases[phase]

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

__all__ = ["BudgetPlan", "PHASE_SHARES", "PHASE_FLOORS", "SHORT_PHASE_SHARES", "ensemble_floor", "phase_shares"]

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


# Seconds a phase needs whatever the budget: the ensemble phase's fixed work (predictions of every
# member, the combiners, temperature scaling, the report's plots) took 46 s with 3 members on the
# 2-core CPU and 58 s with 7 members and 3 search checkpoints on an H200 (most of it on the CPU),
# where its 5% share of a 4-minute run was 10 s and the run ended 20% over budget.
PHASE_FLOORS = {"ensemble": 60.0}


def ensemble_floor(members: int) -> float:
    """Seconds the ensemble phase needs with ``members`` members, once the retraining knows how
    many it makes (until then the phases keep `PHASE_FLOORS`' 60 s for it). Fitted to two runs:
    29 s with 3 members (a 5-minute CPU run) and 58 s with 11 (the H200 run above); the MC dropout
    passes take half of what the phase gets and fit themselves into it. A 5-minute run kept 60 s
    for one retrained model, used 29 and ended 19% under its budget.

    Example:
        >>> ensemble_floor(3), ensemble_floor(11)
        (30.0, 70.0)
    """
    return 15.0 + 5.0 * max(members, 0)


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
        floors: ``{phase: seconds}`` a phase gets at least (as far as the budget goes): the
            phases before it leave that much for it. A floor takes at most a quarter of the
            budget (a 40-second run on tiny data still searches and retrains).
    """

    def __init__(self, budget_s: float, shares: Mapping[str, float] = PHASE_SHARES, *,
                 done: Mapping[str, dict[str, Any]] | None = None, used_before: float = 0.0,
                 clock: Callable[[], float] = time.monotonic, floors: Mapping[str, float] | None = None):
        self.budget_s = float(budget_s)
        self.shares = dict(shares)
        self.floors = dict(floors or {})
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
        """The seconds ``phase`` gets if it starts now: its share of what is left after the later
        phases' floors, and at least its own floor (within what is left).

        Example:
            >>> plan = BudgetPlan(100.0, {"a": 1.0, "b": 1.0}, clock=lambda: 0.0, floors={"b": 60.0})
            >>> plan.allowance("a"), plan.allowance("b")  # b's floor: a quarter of the budget
            (37.5, 50.0)
        """
        pending = [name for name in self.shares if name not in self.phases or name == phase]
        weight = sum(self.shares[name] for name in pending)
        later = sum(self.floor(name) for name in pending if name != phase)
        share = max(0.0, self.remaining() - later) * self.shares.get(phase, 0.0) / weight if weight else 0.0
        return max(share, min(self.floor(phase), self.remaining()))

    def floor(self, phase: str) -> float:
        """``phase``'s floor in seconds (at most a quarter of the budget)."""
        return min(self.floors.get(phase, 0.0), 0.25 * self.budget_s)

    def set_floor(self, phase: str, seconds: float) -> None:
        """Change ``phase``'s floor (the retraining sets the ensemble's once it knows the members)."""
        self.floors[phase] = float(seconds)

    def reserve(self, phases: list[str]) -> float:
        """Seconds the later ``phases`` should be left: each its nominal share of the budget, or its floor.

        Example:
            >>> BudgetPlan(900.0, {"a": 0.9, "b": 0.05}, floors={"b": 60.0}).reserve(["b"])
            60.0
        """
        return sum(max(self.budget_s * self.shares.get(name, 0.0), self.floor(name)) for name in phases)

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

"""Time: every rule that turns a budget into seconds, epochs, rows or a number of models.

A budget is parsed once (`parse_budget`: ``"15m"``, ``"2h"``, ``"20 trials"``). ``topnet run``
splits it across its phases with a `BudgetPlan`: each phase gets ``share / (sum of the shares of
the phases not yet run) × time left``, so a phase that finishes early leaves its time to the
later ones and one that overruns takes it from them, and the run ends near its budget. The
rules each phase follows live here too, as small pure functions: how long the learning-rate
range test may sweep (`lr_find_seconds`, `lr_find_steps`), how long one search trial may train
(`search_trial_seconds`, `trial_time_limit`), the search's fidelity (`search_fidelity`), how
many models the retraining makes and for how many epochs (`plan_epochs`, `retrain_count`,
`replan_epochs`, `fits_another`), and what the ensemble phase needs (`ensemble_floor`,
`mc_dropout_seconds`, `mc_dropout_passes`).
The measurements that chose their numbers are in docs/measured-defaults.md.

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

import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from topnet.errors import format_message

__all__ = ["Budget", "parse_budget", "parse_duration", "BudgetPlan", "PHASE_SHARES", "SHORT_PHASE_SHARES",
           "PHASE_FLOORS", "phase_shares", "BAGGED_PHASE_SHARES", "bagged_phase_shares", "ensemble_floor", "bagged_ensemble_floor", "mc_dropout_seconds", "mc_dropout_passes", "lr_find_seconds", "lr_find_steps",
           "search_trial_seconds", "zero_shot", "ZERO_SHOT_BELOW_S", "trial_time_limit", "search_fidelity", "MARGIN", "PROBE_MARGIN",
           "epoch_seconds", "plan_epochs", "retrain_count", "shared_epochs", "replan_epochs", "fits_another"]

# --- parsing ---------------------------------------------------------------------------------

_UNITS = {"s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$")
_EXPECTED = "a duration such as '90' (seconds), '30s', '10m', '2h', or a trial count such as '20 trials'"


@dataclass(frozen=True)
class Budget:
    """How long a search may run: ``seconds`` of wall time and/or ``trials`` (None: no limit)."""

    seconds: float | None = None
    trials: int | None = None


def parse_budget(value: str | float | int | None) -> Budget:
    """Parse a budget: a number of seconds, a duration with a unit, or a trial count.

    Args:
        value: ``90`` or ``"90"`` (seconds), ``"30s"``, ``"10m"``, ``"1.5h"``, ``"2d"``,
            ``"20 trials"`` / ``"20t"``; None for no budget.

    Returns:
        A `Budget` with ``seconds`` or ``trials`` set.

    Raises:
        ValueError: anything else, or a budget that is not positive.

    Example:
        >>> parse_budget("10m"), parse_budget("20 trials").trials, parse_budget(90).seconds
        (Budget(seconds=600.0, trials=None), 20, 90.0)
    """
    if value is None:
        return Budget()
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(format_message("budget", value, _EXPECTED))
    if isinstance(value, (int, float)):
        return Budget(seconds=_positive(float(value), value))
    match = _PATTERN.match(value.lower())
    if match is None:
        raise ValueError(format_message("budget", value, _EXPECTED))
    number, unit = float(match.group(1)), match.group(2)
    if unit in ("t", "trial", "trials"):
        if number != int(number):
            raise ValueError(format_message("budget", value, "a whole number of trials"))
        return Budget(trials=int(_positive(number, value)))
    if unit and unit not in _UNITS:
        raise ValueError(format_message("budget", value, _EXPECTED))
    return Budget(seconds=_positive(number * _UNITS.get(unit, 1.0), value))


def parse_duration(value: str | float | int) -> float:
    """Seconds in a duration such as ``"90"``, ``"30s"``, ``"10m"`` or ``"2h"``.

    Raises:
        ValueError: not a positive duration (a trial count is refused too).

    Example:
        >>> parse_duration("2h"), parse_duration("30s"), parse_duration("90")
        (7200.0, 30.0, 90.0)
    """
    budget = parse_budget(value)
    if budget.seconds is None:
        raise ValueError(format_message("duration", value, "a duration such as '90', '30s', '10m' or '2h'"))
    return budget.seconds


def _positive(seconds: float, original: object) -> float:
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(format_message("budget", original, "a positive " + _EXPECTED))
    return seconds


# --- the phases of ``topnet run`` ------------------------------------------------------------

# Fractions of the budget. Accuracy comes from the search and, more, from the retraining: its
# models see every train row for many epochs, where a trial sees a few epochs (and, on short CPU
# budgets, a subset). The LR range test and LightGBM are cheap. The ensemble phase is fixed work,
# so it has no share, only its floor (`ensemble_floor`, sized by its members): LightGBM, the
# phase before it, takes the time above that floor, and the ensemble gets whatever is left then
# (with a share, it used about half of it and runs ended under budget: docs/measured-defaults.md).
PHASE_SHARES = {"lr_find": 0.03, "search": 0.33, "retrain": 0.52, "lightgbm": 0.07, "ensemble": 0.0}
# Under half an hour a search runs a handful of trials (TPE's first ten are random draws), which
# rarely beat the baseline: the time does more as epochs of the retrained models.
SHORT_BUDGET_S = 30 * 60
SHORT_PHASE_SHARES = {"lr_find": 0.03, "search": 0.20, "retrain": 0.65, "lightgbm": 0.07, "ensemble": 0.0}
# A bagged table (`topnet.pipeline.bagged`): the classic members (phase "lightgbm": LightGBM,
# CatBoost, forests, k-NN, linear) are the strong ones on tables and get as much as the networks.
BAGGED_PHASE_SHARES = {"lr_find": 0.03, "search": 0.12, "retrain": 0.40, "lightgbm": 0.38, "ensemble": 0.07}
# Seconds the ensemble phase needs whatever the budget (predictions of every member, the
# combiners, temperature scaling, the report's plots), until the retraining knows the members.
PHASE_FLOORS = {"ensemble": 60.0}


def phase_shares(budget_s: float) -> dict[str, float]:
    """The phases' shares for a run of ``budget_s`` seconds.

    Example:
        >>> phase_shares(900)["search"], phase_shares(3600)["search"]
        (0.2, 0.33)
    """
    return dict(SHORT_PHASE_SHARES if budget_s < SHORT_BUDGET_S else PHASE_SHARES)


def bagged_phase_shares(budget_s: float) -> dict[str, float]:
    """The phases' shares for a bagged table run (`BAGGED_PHASE_SHARES`, whatever the budget).

    Example:
        >>> bagged_phase_shares(60)["lightgbm"]
        0.38
    """
    return dict(BAGGED_PHASE_SHARES)


ENSEMBLE_BASE_S = 8.0  # combiners, temperature scaling, the report's plots
ENSEMBLE_MEMBER_S = 5.0  # a network at least (its CPU-side work: a GPU's predictions are quick)
ENSEMBLE_CLASSIC_S = 1.0  # LightGBM's predictions


def ensemble_floor(networks: Sequence[float | None], *, classic: int = 0, predicted_rows: float = 0.5) -> float:
    """Seconds the ensemble phase needs: `ENSEMBLE_BASE_S`, plus for each network one epoch at
    its measured speed (``networks``: seconds per epoch on every train row, None where unknown)
    scaled by ``predicted_rows`` (the valid, blend and test rows it predicts, over the train
    rows), and at least `ENSEMBLE_MEMBER_S`, plus `ENSEMBLE_CLASSIC_S` per ``classic`` member.
    The MC dropout passes fit themselves into half of what the phase gets. Fitted to measured
    runs on a CPU and a GPU (docs/measured-defaults.md).

    Example:
        >>> ensemble_floor([34.0], classic=1, predicted_rows=22_000 / 48_000)  # a depth-3 convnet on a CPU
        24.583
        >>> ensemble_floor([1.5] * 10 + [None], classic=1, predicted_rows=22_000 / 48_000)  # on a GPU
        64.0
    """
    return round(ENSEMBLE_BASE_S + ENSEMBLE_CLASSIC_S * max(classic, 0)
                 + sum(max(ENSEMBLE_MEMBER_S, (speed or 0.0) * predicted_rows) for speed in networks), 3)


def bagged_ensemble_floor(members: int, rows: int) -> float:
    """Seconds the ensemble phase of a bagged table run needs: its members' predictions and
    combiners scale with the pooled ``rows``; a small table's take seconds, not a minute.

    Fitted to B11's runs (docs/benchmarks.md): 1-2 s on 300 pooled rows, 14-18 s on 7,500 rows
    with 11 members.

    Example:
        >>> bagged_ensemble_floor(11, 300), bagged_ensemble_floor(11, 7_500)
        (6.19, 16.75)
    """
    return round(3.0 + max(members, 0) * (0.25 + rows / 7_500), 3)


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
        # without a share left to divide by (the last phase has none), a phase gets all of it
        share = max(0.0, self.remaining() - later) * (self.shares.get(phase, 0.0) / weight if weight else 1.0)
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

    def left_in_phase(self, phase: str, later: list[str]) -> float:
        """Seconds the running ``phase`` may still use: what is left of its allowance, or all the
        time above what the ``later`` phases need (`reserve`), whichever is more (time they would
        not use is not passed back to this phase).

        Example:
            >>> now = [0.0]
            >>> plan = BudgetPlan(100.0, {"a": 0.5, "b": 0.5}, clock=lambda: now[0])
            >>> plan.start("a")
            50.0
            >>> now[0] = 20.0
            >>> plan.left_in_phase("a", later=["b"])  # 80 s left, b keeps its 50
            30.0
        """
        began = self._current[1] if self._current and self._current[0] == phase else self.clock()
        allowance = float(self.phases.get(phase, {}).get("budget_s", self.allowance(phase)))
        return max(allowance - (self.clock() - began), self.remaining() - self.reserve(later))

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


# --- the learning-rate range test ------------------------------------------------------------

LR_FIND_MIN_STEPS, LR_FIND_MAX_STEPS = 30, 300  # fewer steps say nothing; more add nothing


def mc_dropout_seconds(ensemble_allowance: float) -> float:
    """Seconds the MC dropout passes may take: half the ensemble phase (they fit themselves in).

    Example:
        >>> mc_dropout_seconds(60.0)
        30.0
    """
    return ensemble_allowance / 2


def mc_dropout_passes(seconds_left: float, deterministic_pass: float) -> int:
    """Sampled passes over blend that fit in ``seconds_left``, at 1.5 times the measured
    ``deterministic_pass`` seconds (the mask hooks make a sampled pass dearer).

    Example:
        >>> mc_dropout_passes(30.0, 1.0), mc_dropout_passes(1.0, 1.0)
        (20, 0)
    """
    return int(seconds_left / (1.5 * max(deterministic_pass, 1e-3)))


def lr_find_seconds(share: float, remaining: float) -> float:
    """The range test's seconds: its share, but at least a few seconds on short budgets (a sweep
    is worth more than a trial).

    Example:
        >>> lr_find_seconds(2.7, 90.0), lr_find_seconds(27.0, 900.0)
        (9.0, 27.0)
    """
    return max(share, min(0.1 * remaining, 15.0))


def lr_find_steps(seconds: float, probe_seconds: float, probe_steps: int = 10) -> int | None:
    """Steps of the range test that fit in ``seconds`` at the speed a probe of ``probe_steps``
    steps measured (at most 300); None when fewer than 30 fit.

    Example:
        >>> lr_find_steps(10.0, 0.5), lr_find_steps(1.0, 0.5), lr_find_steps(100.0, 0.1)
        (200, None, 300)
    """
    steps = int(min(LR_FIND_MAX_STEPS, seconds * probe_steps / max(probe_seconds, 1e-9)))
    return steps if steps >= LR_FIND_MIN_STEPS else None


# --- the search ------------------------------------------------------------------------------

_MIN_TRIAL_STEPS = 300  # optimizer steps (of 128 rows) a trial needs to say anything of a configuration
_MAX_CPU_TRIAL_ROWS = 20_000  # on a CPU, more trials rank configurations better than more rows


# Under half an hour on a CPU, an image search finishes a handful of trials at a low fidelity
# (B8, docs/benchmarks.md: at 15 minutes 4 complete, at 5 minutes 1-2), and its choice was the
# portfolio's own first entry; ``search = "auto"`` then retrains the portfolio directly. A bagged
# table's search (each trial k fold models) did not beat none at 1 and 5 minutes (B8); its
# networks' phase then bags the baseline, the portfolio and random draws.
ZERO_SHOT_BELOW_S = 30 * 60


def zero_shot(budget_s: float, *, images: bool, cpu: bool, bagged: bool = False) -> bool:
    """Whether ``search = "auto"`` skips the search's trials and gives their time to training
    the portfolio's configurations and the baseline (the way AutoGluon trains its zero-shot
    portfolio without a search): images, or a ``bagged`` table, on a CPU under `ZERO_SHOT_BELOW_S`.

    Example:
        >>> zero_shot(900, images=True, cpu=True), zero_shot(3600, images=True, cpu=True)
        (True, False)
        >>> zero_shot(900, images=False, cpu=True), zero_shot(900, images=True, cpu=False)
        (False, False)
        >>> zero_shot(300, images=False, cpu=True, bagged=True)
        True
    """
    return (images or bagged) and cpu and budget_s < ZERO_SHOT_BELOW_S


def search_trial_seconds(search_seconds: float) -> float:
    """How long one trial of a search of ``search_seconds`` may train before it is stopped as
    slow (a fifth of the search, at least a minute); the baseline, run first, is never cut.

    Example:
        >>> search_trial_seconds(1200.0), search_trial_seconds(100.0)
        (240.0, 60.0)
    """
    return max(60.0, search_seconds / 5)


def trial_time_limit(trial_seconds: float, median_trial: float) -> float:
    """A trial's limit once others have completed: ``trial_seconds``, or twice the median
    complete trial when that is longer (a search of slow configurations still finishes some).

    Example:
        >>> trial_time_limit(60.0, 45.0), trial_time_limit(60.0, 20.0)
        (90.0, 60.0)
    """
    return max(float(trial_seconds), 2 * median_trial)


def search_fidelity(budget_s: float, rows: int, *, images: bool, cpu: bool, samples: int | None = None,
                    epochs: int | None = None) -> tuple[int, int | None]:
    """``(epochs per trial, train rows per trial or None for all)`` for a run of ``budget_s``
    seconds on ``rows`` train rows; ``samples`` / ``epochs`` are the user's settings (None: chosen).

    Images get about 15 rows per second of budget (at most 20,000 on a CPU); every trial gets
    at least 300 optimizer steps of 128 rows, and 3 epochs (5 from 45 minutes).

    Example:
        >>> search_fidelity(900, 48000, images=True, cpu=True)
        (3, 13500)
        >>> search_fidelity(3600, 48000, images=True, cpu=True)
        (5, 20000)
        >>> search_fidelity(300, 4000, images=False, cpu=True)
        (10, None)
    """
    if samples is None and images:
        samples = int(min(rows, max(2000, 15 * budget_s)))
        if cpu:
            samples = min(samples, _MAX_CPU_TRIAL_ROWS)
    samples = None if samples is None or samples >= rows else samples
    if epochs is None:
        floor = 3 if budget_s < 45 * 60 else 5
        epochs = min(30, max(floor, math.ceil(_MIN_TRIAL_STEPS * 128 / (samples or rows))))
    return epochs, samples


# --- the retraining --------------------------------------------------------------------------

# The share of the time a plan fills: speeds scaled from the search's trials can be off by up to
# a third, so those plans keep 10%; the probe's speeds are close, so its plans keep 5%.
MARGIN, PROBE_MARGIN = 0.9, 0.95


def epoch_seconds(trial_seconds: float | None, trial_epochs: int, trial_rows: int, rows: int) -> float | None:
    """Seconds one epoch on ``rows`` train rows should take, from a trial that trained
    ``trial_epochs`` epochs on ``trial_rows`` rows in ``trial_seconds`` (None when unknown).

    Example:
        >>> epoch_seconds(60.0, 3, trial_rows=12000, rows=48000)
        80.0
    """
    if not trial_seconds or trial_epochs < 1:
        return None
    return trial_seconds / trial_epochs * rows / max(trial_rows, 1)


def plan_epochs(seconds: float, per_epoch: float | None, max_epochs: int, margin: float = MARGIN) -> int:
    """The epochs that fit in ``margin × seconds``, between 1 and ``max_epochs`` (10 when the
    speed is unknown: the deadline then stops the model).

    Example:
        >>> plan_epochs(300, 80.0, max_epochs=50), plan_epochs(300, None, max_epochs=50)
        (3, 10)
        >>> plan_epochs(177, 27.3, max_epochs=50), plan_epochs(177, 27.3, max_epochs=50, margin=PROBE_MARGIN)
        (5, 6)
    """
    if not per_epoch:
        return min(max_epochs, 10)
    return int(max(1, min(max_epochs, math.floor(margin * seconds / per_epoch))))


def fits_another(seconds: float, per_epoch: float | None, min_epochs: int, margin: float = MARGIN) -> bool:
    """Whether one more model of ``min_epochs`` epochs fits in ``seconds`` at ``per_epoch``.

    Example:
        >>> fits_another(300, 25.0, 8), fits_another(150, 25.0, 8)
        (True, False)
    """
    return bool(per_epoch) and plan_epochs(seconds, per_epoch, 10**6, margin) >= min_epochs


def retrain_count(seconds: float, speeds: Sequence[float | None], *, ensemble_size: int,
                  min_epochs: int, unknown: int, margin: float = MARGIN) -> int:
    """Models to retrain first: ``ensemble_size``, or as many as can each train ``min_epochs``
    epochs in ``seconds`` (at least one; ``unknown`` when a speed is not known). More are added
    while time is left (`fits_another`): one well-trained model beats three half-trained ones.
    ``speeds`` are the next models' seconds per epoch, in the order they train (the chosen
    configurations in turn: a deeper one is slower).

    Example:
        >>> retrain_count(600, [25.0] * 5, ensemble_size=5, min_epochs=8, unknown=3)
        2
        >>> retrain_count(600, [None] * 5, ensemble_size=5, min_epochs=8, unknown=3)
        3
        >>> retrain_count(740, [30.0, 20.0, 30.0, 20.0, 30.0], ensemble_size=5, min_epochs=8, unknown=3)
        3
    """
    speeds = list(speeds)[:ensemble_size]
    if not speeds or any(not s for s in speeds):
        return max(1, min(ensemble_size, unknown))
    used, fits = 0.0, 0
    for speed in speeds:  # the models in the order they train, while each can train min_epochs
        used += min_epochs * speed
        if used > margin * seconds + 1e-9:
            break
        fits += 1
    return max(1, fits)


def shared_epochs(seconds: float, speeds: Sequence[float | None], max_epochs: int, margin: float = MARGIN) -> list[int]:
    """Epochs for models of these ``speeds`` (seconds per epoch) trained one after another in
    ``seconds``: as many epochs each, the same for all, as fill ``margin × seconds`` (between 1 and
    ``max_epochs``); where a speed is unknown, an equal share of the time each (`plan_epochs`).

    Example:
        >>> shared_epochs(700, [30.0, 20.0, 30.0], max_epochs=60, margin=0.95)
        [8, 8, 8]
        >>> shared_epochs(700, [30.0, None], max_epochs=60)
        [10, 10]
    """
    if speeds and all(speeds):
        return [plan_epochs(seconds, sum(speeds), max_epochs, margin)] * len(speeds)
    return [plan_epochs(seconds / max(len(speeds), 1), speed, max_epochs, margin) for speed in speeds]


def replan_epochs(seconds: float, per_epoch: float, *, waiting: int, first: int, min_epochs: int,
                  max_epochs: int) -> int:
    """Epochs for each of the ``waiting`` planned models once one has trained at ``per_epoch``
    seconds per epoch, with ``seconds`` left: the first model's ``first`` epochs when the time
    also holds another model of ``min_epochs`` (it is added later), else an equal share of the
    time (more epochs than planned, or fewer when the models train slower than the plan said).

    Example:
        >>> replan_epochs(364, 25.0, waiting=1, first=8, min_epochs=8, max_epochs=30)  # 13 fit: not 8 + 8
        13
        >>> replan_epochs(2000, 25.0, waiting=4, first=13, min_epochs=8, max_epochs=30)  # 72 fit: 4 x 13, and more
        13
        >>> replan_epochs(300, 50.0, waiting=2, first=8, min_epochs=8, max_epochs=30)  # slower than planned
        2
    """
    if plan_epochs(seconds, per_epoch, 10**6) - waiting * first >= min_epochs:
        return first
    return plan_epochs(seconds / max(waiting, 1), per_epoch, max_epochs)

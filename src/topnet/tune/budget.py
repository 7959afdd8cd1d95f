"""Budgets: wall time (``"10m"``, ``"2h"``, ``"30s"``, ``"90"``) or a number of trials (``"20 trials"``).

A tuning run stops starting trials when either runs out. The wall-time budget is also checked
inside each trial, once per batch (`Deadline`), so a run ends about when its budget does
instead of one whole trial later.
"""
from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass

from topnet.callbacks.base import Callback
from topnet.errors import format_message
from topnet.train.state import TrainState

__all__ = ["Budget", "parse_budget", "parse_duration", "Deadline"]

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


class Deadline(Callback):
    """A wall-clock deadline that stops training once it has passed (checked every batch).

    Used by the search so that a trial running when the budget ends stops at the next batch;
    the trial is then recorded as pruned with ``stopped="budget"``. Reading the clock does not
    touch the device.

    Args:
        seconds: seconds from now until the deadline; None for no deadline.

    Attributes:
        expired_during_fit: True when it stopped the last ``fit`` it took part in.

    Example:
        >>> deadline = Deadline(3600)
        >>> deadline.expired, round(deadline.remaining() / 60)
        (False, 60)
    """

    def __init__(self, seconds: float | None = None, clock=time.monotonic):
        self.seconds = seconds
        self.clock = clock
        self.start = clock()
        self.expired_during_fit = False

    @property
    def expired(self) -> bool:
        """Whether the deadline has passed."""
        return self.seconds is not None and self.clock() - self.start >= self.seconds

    def remaining(self) -> float | None:
        """Seconds left (never negative), or None without a deadline."""
        return None if self.seconds is None else max(0.0, self.seconds - (self.clock() - self.start))

    def elapsed(self) -> float:
        """Seconds since the deadline was set."""
        return self.clock() - self.start

    def on_fit_begin(self, state: TrainState) -> None:
        self.expired_during_fit = False

    def on_batch_end(self, state: TrainState) -> None:
        if self.expired:
            self.expired_during_fit = True
            state.stop_training = True

"""What a search returns and writes: `TuneResult` and ``out/tune.json``.

``tune.json`` holds the best value, parameters and configuration, the trial counts by state,
the time used, the budget, the selection-bias check (valid beside blend), the seed-noise
re-runs when asked for, the plots' paths and a table of the best trials.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from topnet.io import atomic_write_text
from topnet.tune.checkpoints import TrialRecord, select_top_k, trial_records
from topnet.tune.study import hide_password

__all__ = ["TuneResult", "summarize"]

_STATES = ("COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING")


@dataclass
class TuneResult:
    """The outcome of `topnet.tune.tune` (and what ``tune.json`` holds).

    Attributes:
        study_name / storage / out: where the study and the files are.
        metric / direction: what was optimised.
        best_trial / best_value / best_params / best_config: the best complete trial (None if
            none completed); ``best_config`` rebuilds its model and training.
        counts: trials by state, e.g. ``{"COMPLETE": 12, "PRUNED": 30, "FAIL": 0}``.
        time_used: seconds this call spent; ``trials_run``: trials this call finished.
        selection_bias: the best trial's ``valid`` and ``blend`` scores side by side.
        noise: re-runs of the top configurations with other seeds (empty unless asked for).
        plots: paths of ``history.png`` and ``importances.png``.
        records: every trial as a `TrialRecord`.
        study: the Optuna study (not written to JSON).
    """

    study_name: str
    storage: str
    out: str | None
    metric: str
    direction: str
    best_trial: int | None
    best_value: float | None
    best_params: dict[str, Any]
    best_config: dict[str, Any]
    counts: dict[str, int]
    time_used: float
    trials_run: int
    budget: dict[str, Any] = field(default_factory=dict)
    selection_bias: dict[str, Any] | None = None
    noise: list[dict[str, Any]] = field(default_factory=list)
    plots: dict[str, str] = field(default_factory=dict)
    records: list[TrialRecord] = field(default_factory=list, repr=False)
    study: Any = field(default=None, repr=False)

    def top_k(self, k: int = 3, diverse: bool = True) -> list[TrialRecord]:
        """The ``k`` best complete trials; with ``diverse``, the best of each architecture family
        first (what an ensemble wants), then the next best."""
        return select_top_k(self.records, k, maximize=self.direction == "maximize", diverse=diverse)

    def table(self, k: int = 10) -> str:
        """A text table of the ``k`` best trials (by value)."""
        lines = [f"{'trial':>5}  {self.metric:>14}  {'family':<18} params"]
        for record in self.top_k(k, diverse=False):
            params = ", ".join(f"{key}={_short(value)}" for key, value in record.params.items() if key != "family")
            lines.append(f"{record.number:>5}  {record.value:>14.4f}  {str(record.family):<18} {params}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of ``tune.json``."""
        top = [{"trial": r.number, "value": r.value, "family": r.family, "params": r.params,
                "checkpoint": r.checkpoint} for r in self.top_k(10, diverse=False)]
        names = ("study_name", "storage", "out", "metric", "direction", "best_trial", "best_value", "best_params",
                 "best_config", "counts", "time_used", "trials_run", "budget", "selection_bias", "noise", "plots")
        document = {name: getattr(self, name) for name in names}
        document["storage"] = hide_password(self.storage)  # the file may be shared; the password stays out
        return {**document, "top_trials": top,
                "diverse_top_k": [r.number for r in self.top_k(3, diverse=True)],
                "written": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}

    def write_json(self, path: str | Path) -> Path:
        """Write `to_dict` as indented JSON (atomically); returns the path."""
        text = json.dumps(_finite(self.to_dict()), indent=2, sort_keys=True, default=str)
        atomic_write_text(path, text + "\n")
        return Path(path)


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _finite(value: Any) -> Any:
    """NaN and infinities as None (JSON has neither)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def summarize(study: Any, *, metric: str, direction: str, storage: str, out: str | None, time_used: float,
              trials_run: int, budget: dict[str, Any]) -> TuneResult:
    """A `TuneResult` from the study's trials (selection bias, noise and plots are added later)."""
    records = trial_records(study)
    best = select_top_k(records, 1, maximize=direction == "maximize", diverse=False)
    counts = Counter(r.state for r in records)
    return TuneResult(study_name=study.study_name, storage=storage, out=out, metric=metric, direction=direction,
                      best_trial=best[0].number if best else None, best_value=best[0].value if best else None,
                      best_params=best[0].params if best else {}, best_config=best[0].config if best else {},
                      counts={state: counts.get(state, 0) for state in _STATES},
                      time_used=round(time_used, 3), trials_run=trials_run, budget=budget, records=records, study=study)

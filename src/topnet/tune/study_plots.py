"""The search's figures as PNG files: optimisation history and parameter importances.

Drawn with matplotlib's object API (``Figure`` + the Agg canvas), so no global pyplot state or
backend is touched. Importances come from ``optuna.importance.get_param_importances``.
"""
from __future__ import annotations

import math
import os
import warnings
from pathlib import Path
from typing import Any

from topnet.tune._optuna import import_optuna
from topnet.tune.checkpoints import TrialRecord

__all__ = ["param_importances", "plot_history", "plot_importances", "write_plots"]


def _figure(width: float = 6.0, height: float = 4.0) -> Any:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("plots need matplotlib; install it with: pip install matplotlib") from error
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def plot_history(records: list[TrialRecord], path: str | os.PathLike, *, metric: str, maximize: bool) -> Path:
    """Each trial's value by trial number (pruned trials hollow) and the best so far.

    Returns:
        The PNG's path.
    """
    figure = _figure()
    axes = figure.add_subplot()
    styles = {"COMPLETE": {"color": "tab:blue"}, "PRUNED": {"facecolors": "none", "edgecolors": "tab:gray"}}
    for state, style in styles.items():
        points = [(r.number, r.value) for r in records if r.state == state and _finite(r.value)]
        if points:
            axes.scatter(*zip(*points), s=18, label=state.lower(), **style)
    best, line = None, []
    for record in records:
        if record.state == "COMPLETE" and _finite(record.value):
            best = record.value if best is None else (max if maximize else min)(best, record.value)
        if best is not None:
            line.append((record.number, best))
    if line:
        axes.step(*zip(*line), where="post", color="tab:red", label="best so far")
    axes.set_xlabel("trial")
    axes.xaxis.get_major_locator().set_params(integer=True)
    axes.set_ylabel(metric)
    axes.set_title("Optimisation history")
    if axes.get_legend_handles_labels()[0]:  # no finished trial yet: nothing to name
        axes.legend(loc="best")
    figure.savefig(path, dpi=100)
    return Path(path)


def param_importances(study: Any) -> dict[str, float]:
    """``{param: importance}`` (Optuna's fANOVA-style estimate, summing to 1); empty when it
    cannot be computed yet (fewer than two complete trials, or no parameter that varied)."""
    optuna = import_optuna()
    try:
        with warnings.catch_warnings():  # "few trials in a regime" warnings: expected in small searches
            warnings.simplefilter("ignore")
            return {k: float(v) for k, v in optuna.importance.get_param_importances(study).items()}
    except (ValueError, RuntimeError, ZeroDivisionError):
        return {}


def plot_importances(study: Any, path: str | os.PathLike) -> Path | None:
    """A bar chart of the parameters' importances; None when they cannot be computed yet
    (fewer than two complete trials, or no parameter that varied)."""
    importances = param_importances(study)
    if not importances:
        return None
    names = list(importances)[::-1]  # the most important at the top
    figure = _figure(6.0, 0.8 + 0.35 * len(names))
    axes = figure.add_subplot()
    axes.barh(names, [importances[n] for n in names], color="tab:blue")
    axes.set_xlabel("importance (normalised to sum 1; optuna.importance)")
    axes.set_title("Hyperparameter importances")
    figure.savefig(path, dpi=100)
    return Path(path)


def write_plots(study: Any, records: list[TrialRecord], directory: str | os.PathLike, *, metric: str,
                maximize: bool) -> dict[str, str]:
    """Write ``history.png`` and (when computable) ``importances.png`` into ``directory``.

    Returns:
        ``{"history": path, "importances": path}`` for the files written.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = {"history": str(plot_history(records, directory / "history.png", metric=metric, maximize=maximize))}
    importances = plot_importances(study, directory / "importances.png")
    if importances is not None:
        written["importances"] = str(importances)
    return written

"""How differently the members err: pairwise measures, a table, a heat map, diverse selection.

"Diversity is strength" (Chollet 7.3.3): members that make the same mistakes add nothing to an
average. For two members A and B on the same rows (Kuncheva & Whitaker, 2003):

- disagreement: the fraction of rows where their predicted classes differ;
- error correlation: Pearson's correlation of their errors — the 0/1 "wrong" indicators for
  classification, the residuals ``prediction - y`` for regression;
- Yule's Q: with N11 rows both right, N00 both wrong, N10 / N01 one right, the other wrong,
  ``Q = (N11 N00 - N01 N10) / (N11 N00 + N01 N10)``; 1 = they fail together, -1 = never
  together, 0 = independent.

A measure is NaN where it is undefined (a member that is never wrong has no error variance).

Example:
    >>> y = np.array([0, 1, 1, 0])
    >>> a, b = np.eye(2)[[0, 1, 0, 0]], np.eye(2)[[1, 1, 0, 0]]
    >>> disagreement(a, b), round(error_correlation(a, b, y), 4), yules_q(a, b, y)
    (0.25, 0.5774, 1.0)
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from topnet.ensemble._optional import require
from topnet.ensemble.combiners import loss_function
from topnet.errors import format_message

__all__ = ["disagreement", "error_correlation", "yules_q", "DiversityTable", "diversity_table", "plot_diversity",
           "select_diverse"]

MEASURES = ("disagreement", "error_correlation", "yules_q")


def _classes(p: Any) -> np.ndarray:
    return np.asarray(p).argmax(axis=1)


def _errors(p: Any, y: Any, task: str) -> np.ndarray:
    if task == "classification":
        return (_classes(p) != np.asarray(y)).astype(np.float64)
    prediction = np.asarray(p, dtype=np.float64)
    return (prediction - np.asarray(y, dtype=np.float64).reshape(prediction.shape)).reshape(-1)


def disagreement(a: Any, b: Any) -> float:
    """Fraction of rows where the predicted classes (argmax of ``(N, C)`` probabilities) differ."""
    return float(np.mean(_classes(a) != _classes(b)))


def error_correlation(a: Any, b: Any, y: Any, task: str = "classification") -> float:
    """Pearson's correlation of the two members' errors (NaN when either error is constant)."""
    ea, eb = _errors(a, y, task), _errors(b, y, task)
    ca, cb = ea - ea.mean(), eb - eb.mean()
    denominator = np.sqrt((ca ** 2).sum() * (cb ** 2).sum())
    return float((ca * cb).sum() / denominator) if denominator > 0 else float("nan")


def yules_q(a: Any, b: Any, y: Any) -> float:
    """Yule's Q of the two members' right/wrong outcomes (NaN when undefined)."""
    right_a, right_b = _classes(a) == np.asarray(y), _classes(b) == np.asarray(y)
    n11, n00 = np.sum(right_a & right_b), np.sum(~right_a & ~right_b)
    n10, n01 = np.sum(right_a & ~right_b), np.sum(~right_a & right_b)
    denominator = float(n11 * n00 + n01 * n10)
    return float(n11 * n00 - n01 * n10) / denominator if denominator > 0 else float("nan")


@dataclass(frozen=True)
class DiversityTable:
    """Pairwise measures between members (``(M, M)`` arrays, rows and columns in ``names`` order).

    Attributes:
        names: the members.
        measures: ``{"disagreement", "error_correlation", "yules_q"}`` (regression: only
            ``"error_correlation"``).
        losses: each member's loss on the rows (log-loss, or MSE for regression).
    """

    names: tuple[str, ...]
    measures: dict[str, np.ndarray]
    losses: dict[str, float]

    def to_text(self) -> str:
        """A plain-text table: one block per measure."""
        width = max(8, *(len(n) for n in self.names)) + 2
        lines = []
        for measure, matrix in self.measures.items():
            lines.append(measure)
            lines.append(" " * width + "".join(f"{n:>{width}}" for n in self.names))
            for name, row in zip(self.names, matrix):
                lines.append(f"{name:<{width}}" + "".join(f"{v:>{width}.3f}" for v in row))
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN becomes None)."""
        plain = lambda m: [[None if np.isnan(v) else float(v) for v in row] for row in m]  # noqa: E731
        return {"names": list(self.names), "losses": self.losses,
                "measures": {k: plain(v) for k, v in self.measures.items()}}


def diversity_table(predictions: dict[str, Any], y: Any, task: str = "classification") -> DiversityTable:
    """Every pairwise measure between the members' predictions on the same rows.

    Args:
        predictions: ``{name: (N, C) probabilities}`` (``(N,)`` values for regression).
        y: the rows' targets.
        task: ``"classification"`` or ``"regression"``.
    """
    names = tuple(predictions)
    if len(names) < 1:
        raise ValueError(format_message("predictions", predictions, "at least one member's predictions"))
    functions = {"error_correlation": lambda a, b: error_correlation(a, b, y, task)}
    if task == "classification":
        functions = {"disagreement": disagreement, **functions, "yules_q": lambda a, b: yules_q(a, b, y)}
    measures = {key: np.array([[f(predictions[i], predictions[j]) for j in names] for i in names])
                for key, f in functions.items()}
    loss = loss_function(task)
    losses = {name: float(loss(np.asarray(p, dtype=np.float64), y)) for name, p in predictions.items()}
    return DiversityTable(names=names, measures=measures, losses=losses)


def plot_diversity(table: DiversityTable, path: str | Path, measure: str = "error_correlation") -> Path:
    """Write a heat map of one measure as a PNG (matplotlib, no pyplot state) and return its path."""
    from topnet.io import atomic_write_bytes

    Figure = require("matplotlib.figure", "matplotlib", "the diversity heat map").Figure

    if measure not in table.measures:
        raise ValueError(format_message("measure", measure, f"one of {sorted(table.measures)}"))
    matrix, size = table.measures[measure], len(table.names)
    figure = Figure(figsize=(1.2 + 0.8 * size, 1.0 + 0.7 * size), dpi=100)
    axes = figure.add_subplot()
    low = -1.0 if measure != "disagreement" else 0.0
    image = axes.imshow(matrix, cmap="viridis", vmin=low, vmax=1.0)
    axes.set_xticks(range(size), table.names, rotation=45, ha="right")
    axes.set_yticks(range(size), table.names)
    for (i, j), value in np.ndenumerate(matrix):
        axes.text(j, i, "–" if np.isnan(value) else f"{value:.2f}", ha="center", va="center", color="w", fontsize=8)
    axes.set_title(measure.replace("_", " "))
    figure.colorbar(image, ax=axes)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    atomic_write_bytes(path, buffer.getvalue())
    return Path(path)


def select_diverse(predictions: dict[str, Any], y: Any, num_members: int, task: str = "classification",
                   tradeoff: float = 1.0) -> list[str]:
    """Pick ``num_members`` members that are good and err differently (greedy).

    The member with the lowest loss comes first; then, each step, the candidate with the lowest
    ``loss / best_loss + tradeoff * mean error correlation with those picked`` (an undefined
    correlation counts as 1, no diversity). ``tradeoff=0`` picks by loss alone.

    Example:
        >>> y = np.array([0, 1, 0, 1])
        >>> p = {"a": np.eye(2)[[0, 1, 0, 0]] * 0.9 + 0.05, "a_softer": np.eye(2)[[0, 1, 0, 0]] * 0.8 + 0.1,
        ...      "b": np.eye(2)[[1, 1, 0, 1]] * 0.8 + 0.1}  # a and a_softer fail on the same row
        >>> select_diverse(p, y, 2)
        ['a_softer', 'b']
    """
    if not isinstance(num_members, int) or not 1 <= num_members <= len(predictions):
        raise ValueError(format_message("num_members", num_members, f"an int in [1, {len(predictions)}]"))
    table = diversity_table(predictions, y, task)
    names, correlation = list(table.names), np.nan_to_num(table.measures["error_correlation"], nan=1.0)
    best_loss = max(min(table.losses.values()), 1e-12)
    chosen = [min(names, key=table.losses.get)]
    while len(chosen) < num_members:
        def score(name: str) -> float:
            i = names.index(name)
            return table.losses[name] / best_loss + tradeoff * float(np.mean([correlation[i, names.index(c)] for c in chosen]))
        chosen.append(min((n for n in names if n not in chosen), key=score))
    return chosen

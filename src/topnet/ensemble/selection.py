"""Pick the combiner by its blend loss without scoring it on the rows it was fitted on.

Fitting a combiner on blend and scoring it on the same blend rows favours the combiner with
the most freedom (stacking has ``members * classes`` coefficients, uniform none). So each
candidate is *cross-fitted* within blend: the blend rows are cut into ``num_folds`` folds
(stratified by class), the combiner is fitted on all folds but one and predicts the held-out
one, and its score is the loss of these out-of-fold predictions. The candidate with the lowest
out-of-fold loss wins (the earlier candidate on ties, within a relative 1e-9: the list goes from
simple to flexible),
and is then refitted on the whole blend split. Temperature scaling is fitted on the winner's
out-of-fold predictions, so it too never sees its own fitting rows. Test is never touched.

Example:
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 300)
    >>> members = np.stack([0.6 * np.eye(2)[y] + 0.2, np.full((300, 2), 0.5)])
    >>> result = select_combiner(members, y, candidates=["uniform", "weighted"])
    >>> result.name, sorted(result.scores)
    ('weighted', ['uniform', 'weighted'])
"""
from __future__ import annotations

import contextlib

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from topnet.ensemble.combiners import COMBINERS, Combiner, get_combiner, loss_function, stack_predictions
from topnet.errors import DataError, format_message
from topnet.seeding import derive_seed

__all__ = ["fold_ids", "cross_fit", "select_combiner", "Selection"]

MIN_ROWS = 4
TIE_TOLERANCE = 1e-9  # relative: scores this close count as equal


def fold_ids(y: Any, num_folds: int = 5, *, seed: int = 0, stratify: bool = True, what: str = "blend") -> np.ndarray:
    """A fold id in ``[0, k)`` for each row; classes are dealt round-robin over the folds.

    ``k`` is ``num_folds``, or fewer when there are fewer than ``2 * num_folds`` rows (each
    fold keeps at least two rows). ``what`` names the rows in errors (and seeds the deal).

    Example:
        >>> fold_ids(np.array([0, 0, 0, 1, 1, 1]), 3, seed=0).tolist().count(0)
        2
    """
    labels = np.asarray(y)
    if not isinstance(num_folds, int) or num_folds < 2:
        raise ValueError(format_message("num_folds", num_folds, "an int >= 2", "e.g. num_folds=5"))
    if len(labels) < MIN_ROWS:
        raise DataError(format_message(what, f"{len(labels)} rows", f"at least {MIN_ROWS} rows to split into folds",
                                       f"give the {what} more rows"))
    folds = min(num_folds, len(labels) // 2)
    rng = np.random.default_rng(derive_seed(seed, f"{what} folds"))
    ids = np.empty(len(labels), dtype=np.int64)
    groups = [labels == c for c in np.unique(labels)] if stratify and labels.ndim == 1 else [np.ones(len(labels), bool)]
    start = 0
    for members in groups:
        rows = rng.permutation(np.flatnonzero(members))
        ids[rows] = (start + np.arange(len(rows))) % folds  # continue where the last class ended
        start += len(rows)
    return ids


def cross_fit(combiner: Combiner, predictions: Any, y: Any, task: str, folds: np.ndarray) -> np.ndarray:
    """Out-of-fold predictions: each fold predicted by ``combiner`` fitted on the other folds."""
    stacked, targets = stack_predictions(predictions), np.asarray(y)
    out = np.empty(stacked.shape[1:])
    for fold in np.unique(folds):
        held = folds == fold
        fitted = get_combiner(combiner.name, **combiner.get_params()).fit(stacked[:, ~held], targets[~held], task)
        out[held] = fitted.combine(stacked[:, held])
    return out


@dataclass(frozen=True)
class Selection:
    """What ``select_combiner`` returns.

    Attributes:
        name: the chosen combiner's name.
        combiner: the chosen combiner, refitted on all the rows it was given.
        scores: out-of-fold loss of every candidate (log-loss, or MSE for regression).
        out_of_fold: the chosen combiner's out-of-fold predictions (rows, columns).
        folds: the fold id of each row.
    """

    name: str
    combiner: Combiner
    scores: dict[str, float]
    out_of_fold: np.ndarray
    folds: np.ndarray


def _candidates(candidates: Sequence[str | Combiner] | str) -> list[Combiner]:
    if isinstance(candidates, str):
        candidates = list(COMBINERS) if candidates == "auto" else [candidates]
    made = [get_combiner(c) if isinstance(c, str) else c for c in candidates]
    for combiner in made:
        if not isinstance(combiner, Combiner):
            raise TypeError(format_message("combiner", type(combiner).__name__, f"a name in {list(COMBINERS)} or a Combiner"))
    if not made or len({c.name for c in made}) != len(made):
        raise ValueError(format_message("combiner", [c.name for c in made], "one or more different combiners"))
    return made


def _one_blas_thread() -> Any:
    try:
        from threadpoolctl import threadpool_limits  # comes with scikit-learn (the ensemble extra)
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(1)


def select_combiner(predictions: Any, y: Any, task: str = "classification",
                    candidates: Sequence[str | Combiner] | str = "auto", *, num_folds: int = 5,
                    seed: int = 0) -> Selection:
    """Cross-fit each candidate within the given (blend) rows and keep the lowest out-of-fold loss.

    Args:
        predictions: the members' blend predictions ``(members, rows, columns)``.
        y: the blend targets.
        task: ``"classification"`` (log-loss) or ``"regression"`` (MSE).
        candidates: ``"auto"`` (every registered combiner, simple to flexible), one name, or a
            list of names / ``Combiner`` objects.
        num_folds: folds within blend.
        seed: seeds the fold assignment.

    Returns:
        A ``Selection``; ``selection.combiner`` is refitted on every row.

    Raises:
        DataError: fewer than 4 rows.
        ValueError: unknown combiner names or task.
    """
    stacked, targets, loss = stack_predictions(predictions), np.asarray(y), loss_function(task)
    folds = fold_ids(targets, num_folds, seed=seed, stratify=task == "classification")
    scores, out_of_fold = {}, {}
    # One BLAS thread: these matrices are small, and BLAS threads spinning beside torch's OpenMP
    # threads on a busy machine make a stacking fit many times slower (docs/measured-defaults.md).
    with _one_blas_thread():
        for combiner in _candidates(candidates):
            out_of_fold[combiner.name] = cross_fit(combiner, stacked, targets, task, folds)
            scores[combiner.name] = float(loss(out_of_fold[combiner.name], targets))
        best = min(scores.values())  # the first within rounding of the best: the simpler combiner
        name = next(key for key, score in scores.items() if score <= best + TIE_TOLERANCE * max(1.0, abs(best)))
        chosen = next(c for c in _candidates(candidates) if c.name == name)
        fitted = get_combiner(chosen.name, **chosen.get_params()).fit(stacked, targets, task)
    return Selection(name=name, combiner=fitted, scores=scores, out_of_fold=out_of_fold[name], folds=folds)

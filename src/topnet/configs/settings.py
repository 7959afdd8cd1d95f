"""`FitSettings`: how a configuration trains and is scored, the same in a trial and a retraining."""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from topnet.callbacks._monitor import resolve_mode
from topnet.errors import format_message
from topnet.train.loop import check_precision

__all__ = ["FitSettings"]


@dataclass(frozen=True)
class FitSettings:
    """How every trial of a search trains and is scored (stored with the study for workers).

    Args:
        epochs: epochs per trial (the full fidelity).
        metric: the validation log that is optimised (``val_accuracy``; ``val_loss`` for regression).
        direction: ``"maximize"`` or ``"minimize"``; None infers it from ``metric``'s name.
        patience: early stopping inside a trial (None: train all epochs); the best epoch's
            weights and value are kept either way.
        subset / subset_epochs: train the first ``subset_epochs`` epochs on a random fraction
            ``subset`` of the training data (multi-fidelity; 0 epochs: off).
        keep_top_k: checkpoints kept on disk (the top-k trials by value, plus the diverse top-k).
        seed: the search's seed; each trial's seed derives from it and the trial number.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        num_trials: the study's target of finished trials (None: until the budget ends).
        trial_seconds: a trial may train for ``max(trial_seconds, twice the median complete
            trial)`` seconds (None: no limit; nor before a first trial completes); a trial past it
            stops at the next batch and is recorded as pruned with ``stopped="slow"``, so that a
            few slow configurations cannot eat a short search.
        class_weight: ``fit``'s ``{class index: weight}`` for every network trained with these
            settings (``topnet run``'s ``class_weight = "balanced"`` computes it from train).
        folds: 0 scores a trial on ``valid``; k >= 2 scores it out of fold: train, valid and
            blend are pooled and dealt into k folds (the same for every trial), each fold is
            trained on the others and scored, and the trial's value is the score of the
            out-of-fold predictions over the pool (`topnet.tune.trial_objective`); what a
            bagged ``topnet run`` searches with, since its members are k-fold bagged.

    Example:
        >>> FitSettings(metric="val_loss").direction
        'minimize'
    """

    epochs: int = 3
    metric: str = "val_accuracy"
    direction: str | None = None
    patience: int | None = None
    subset: float = 1.0
    subset_epochs: int = 0
    keep_top_k: int = 3
    seed: int = 0
    device: str = "auto"
    num_trials: int | None = None
    trial_seconds: float | None = None
    precision: str = "float32"
    channels_last: bool = False
    restore_best_weights: bool = True
    class_weight: dict[int, float] | None = None
    folds: int = 0

    def __post_init__(self) -> None:
        if self.direction is None:
            mode = resolve_mode(self.metric, "auto", owner="tune")
            object.__setattr__(self, "direction", "maximize" if mode == "max" else "minimize")
        if self.direction not in ("maximize", "minimize"):
            raise ValueError(format_message("direction", self.direction, "'maximize' or 'minimize'"))
        for name in ("epochs", "keep_top_k"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(format_message(name, getattr(self, name), "a positive int"))
        if not 0 <= self.subset_epochs < self.epochs or not 0 < self.subset <= 1:
            raise ValueError(format_message("(subset, subset_epochs)", (self.subset, self.subset_epochs),
                                            f"a fraction in (0, 1] and fewer than epochs={self.epochs} epochs"))
        if self.num_trials is not None and (not isinstance(self.num_trials, int) or self.num_trials < 1):
            raise ValueError(format_message("num_trials", self.num_trials, "a positive int or None"))
        if self.trial_seconds is not None and not (isinstance(self.trial_seconds, (int, float))
                                                   and math.isfinite(self.trial_seconds) and self.trial_seconds > 0):
            raise ValueError(format_message("trial_seconds", self.trial_seconds, "a positive number of seconds or None"))
        check_precision(self.precision)
        if isinstance(self.folds, bool) or not isinstance(self.folds, int) or self.folds < 0 or self.folds == 1:
            raise ValueError(format_message("folds", self.folds, "0 (score on valid) or an int >= 2 (out of fold)"))
        if self.class_weight is not None:
            object.__setattr__(self, "class_weight", _check_class_weight(self.class_weight))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> FitSettings:
        values = {f.name: document[f.name] for f in dataclasses.fields(cls) if f.name in document}
        if values.get("class_weight") is not None:  # JSON keys are strings
            values["class_weight"] = {int(k): v for k, v in values["class_weight"].items()}
        return cls(**values)


def _check_class_weight(class_weight: Any) -> dict[int, float]:
    """``class_weight`` as a plain ``{int: float}`` (``fit`` checks the indices against the model)."""
    if not isinstance(class_weight, Mapping) or not all(
            isinstance(k, (int, np.integer)) and not isinstance(k, bool) and k >= 0 for k in class_weight):
        raise ValueError(format_message("class_weight", class_weight, "None or a dict {class index >= 0: weight}",
                                        "e.g. {0: 1.0, 1: 4.5}"))
    weights = {int(k): float(v) for k, v in class_weight.items()}
    if not all(math.isfinite(v) and v >= 0 for v in weights.values()):
        raise ValueError(format_message("class_weight", class_weight, "finite weights >= 0"))
    return weights

"""Seeds per trial, so a study that lost a worker samples and trains what an unbroken one does.

A sampler seeded once draws from one random stream: a study resumed in a new process (after a
kill, or on another machine) starts that stream again and proposes other configurations than
the study that was never interrupted. `SeededPerTrial` gives the sampler a fresh seed for each
trial instead, derived from the search's seed and the trial's `first_try_index` (in
`topnet.tune.retries`): its number among the study's first tries, where the retry of a crashed
trial shares the index of the trial it retries and does not shift the ones after it. Each
trial's training seed derives from the same index.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from topnet.seeding import derive_seed
from topnet.tune._optuna import import_optuna
from topnet.tune.retries import first_try_index

__all__ = ["SeededPerTrial"]

optuna = import_optuna()  # imported by make_sampler only, when Optuna is known to be there


class SeededPerTrial(optuna.samplers.BaseSampler):
    """A sampler made afresh for each trial, seeded from ``seed`` and the trial's first-try index.

    Args:
        make: ``seed -> sampler`` (e.g. ``lambda s: TPESampler(seed=s)``).
        seed: the search's seed; None draws fresh randomness for every trial.

    Attributes:
        sampler: the sampler of the current trial.
    """

    def __init__(self, make: Callable[[int | None], Any], seed: int | None):
        self.make = make
        self.seed = seed
        self.sampler = make(seed)

    def before_trial(self, study: Any, trial: Any) -> None:
        index = first_try_index(study, trial)
        self.sampler = self.make(None if self.seed is None else derive_seed(self.seed, "sampler", index) % 2**31)
        self.sampler.before_trial(study, trial)

    def infer_relative_search_space(self, study: Any, trial: Any) -> dict[str, Any]:
        return self.sampler.infer_relative_search_space(study, trial)

    def sample_relative(self, study: Any, trial: Any, search_space: dict[str, Any]) -> dict[str, Any]:
        return self.sampler.sample_relative(study, trial, search_space)

    def sample_independent(self, study: Any, trial: Any, param_name: str, param_distribution: Any) -> Any:
        return self.sampler.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
        self.sampler.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.sampler.reseed_rng()

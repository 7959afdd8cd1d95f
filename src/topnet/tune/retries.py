"""How a retried trial counts: once, in the place of the trial it retries.

A trial whose process died is marked FAIL and retried (`topnet.tune.study.make_storage`); Optuna
records the crashed trial's number in the retry's ``failed_trial`` system attribute. Stopping
at ``num_trials`` (`finished_count`) and seeding each trial (`first_try_index`, used by
`topnet.tune.trial_seeds` and the trial objective) count such a pair as one trial, so a study
that lost a worker stops, samples and trains as an unbroken one does. Neither imports Optuna:
they read the study and trial objects they are given.
"""
from __future__ import annotations

from typing import Any

__all__ = ["finished_count", "first_try_index"]


def finished_count(study: Any) -> int:
    """Finished trials (complete, pruned, failed), counting a crashed trial and its retries once.

    Example:
        >>> from topnet.tune._optuna import import_optuna
        >>> optuna = import_optuna()
        >>> study = optuna.create_study()
        >>> study.add_trial(optuna.trial.create_trial(value=1.0, params={}, distributions={}))
        >>> finished_count(study)
        1
    """
    trials = study.get_trials(deepcopy=False)
    finished = sum(t.state.name in ("COMPLETE", "PRUNED", "FAIL") for t in trials)
    retries = sum("failed_trial" in t.system_attrs for t in trials)
    return finished - retries


def first_try_index(study: Any, trial: Any) -> int:
    """``trial``'s place among ``study``'s first tries: 0, 1, 2, ... without the retries.

    Example:
        >>> from topnet.tune._optuna import import_optuna
        >>> study = import_optuna().create_study()
        >>> [first_try_index(study, study.ask()) for _ in range(3)]
        [0, 1, 2]
    """
    trials = study.get_trials(deepcopy=False)  # frozen: they have system_attrs (a running Trial does not)
    this = next(t for t in trials if t.number == trial.number)
    number = this.system_attrs.get("failed_trial", this.number)  # a retry: the trial it retries
    return sum(1 for t in trials if t.number < number and "failed_trial" not in t.system_attrs)

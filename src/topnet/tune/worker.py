"""``topnet worker``: join a study from another process or machine and run its trials.

    topnet worker --study NAME --storage postgresql://user@host/db [--budget 2h] [--out DIR]

Everything a trial needs comes from the study (stored by ``topnet tune`` when it created it):
the search space, the data (a dataset name or file, split the same way on every machine) and
the training settings. The worker stops when the study has its target number of finished
trials (counting every worker's), when its own ``--budget`` or ``--trials`` runs out, or when
interrupted. Its checkpoints (the top-k trials' weights) go to its own ``--out`` directory.
"""
from __future__ import annotations

import dataclasses
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

from topnet.budget import parse_budget
from topnet.callbacks.deadline import Deadline
from topnet.configs.data_spec import DataSpec, TrialData, prepare_splits
from topnet.configs.settings import FitSettings
from topnet.errors import format_message
from topnet.seeding import derive_seed
from topnet.tune.checkpoints import CheckpointKeeper
from topnet.tune.runner import run_trials
from topnet.tune.space import SearchSpace
from topnet.tune.study import (
    ATTR_DATA,
    ATTR_FIT,
    ATTR_SEARCH,
    ATTR_SPACE,
    load_study,
    make_pruner,
    make_sampler,
    make_storage,
)
from topnet.tune.trial_objective import TrialObjective

__all__ = ["join_study"]


def _study_settings(study: Any) -> tuple[SearchSpace, dict[str, Any] | None, FitSettings, dict[str, Any]]:
    attrs = study.user_attrs
    search = json.loads(attrs.get(ATTR_SEARCH, "{}"))
    return (SearchSpace.from_dict(json.loads(attrs[ATTR_SPACE])), json.loads(attrs[ATTR_DATA]),
            FitSettings.from_dict(json.loads(attrs[ATTR_FIT])), search)


def join_study(study_name: str, storage: str, *, out: str | os.PathLike = "runs/worker", budget: Any = None,
               max_trials: int | None = None, data_path: str | None = None, seed: int | None = None,
               device: str | None = None, heartbeat_interval: int = 30, grace_period: int | None = None,
               verbose: int = 1) -> dict[str, Any]:
    """Run trials of an existing study until it has its target, or this worker's limits run out.

    Args:
        study_name: the study's name.
        storage: its database URL (``postgresql://...`` shared by the machines, or ``sqlite:///...``).
        out: this worker's directory (checkpoints of its top-k trials, ``worker-HOST-PID.json``,
            ``backups/`` of its running trial: a worker started again with the same ``out``
            continues the retry of its killed trial from there).
        budget: wall time for this worker (``"2h"``) or a trial count (``"10 trials"``); by
            default the worker stops when the budget of the ``topnet tune`` call that created
            (or last resumed) the study ends.
        max_trials: the most trials this worker runs.
        data_path: where the named dataset's files are on this machine (overrides the study's).
        seed: the sampler's seed (default: derived from the host and process id, so workers
            sample differently).
        device: overrides the study's device (``"cpu"``, ``"cuda"``).
        heartbeat_interval / grace_period: as for ``tune``; every process on a study should
            use the same values.
        verbose: 1 prints a line per trial.

    Returns:
        ``{"worker", "study", "trials": [numbers this worker finished], "count"}``, also
        written to ``out/worker-HOST-PID.json``.

    Raises:
        ValueError: the study does not exist, was not created by ``topnet tune``, or was
            created from in-memory data (no data spec to load).
    """
    worker = f"{socket.gethostname()}:{os.getpid()}"
    limits = parse_budget(budget)
    rdb = make_storage(storage, heartbeat_interval=heartbeat_interval, grace_period=grace_period)
    space, spec, settings, search = _study_settings(load_study(rdb, study_name))
    if spec is None:
        raise ValueError(format_message(f"study {study_name!r} data", None,
                                        "a dataset name or file recorded by topnet tune",
                                        "create the study from --data NAME_OR_FILE (not from in-memory Splits)"))
    own = [x for x in (max_trials, limits.trials) if x is not None]
    spec = DataSpec.from_dict(spec)
    if data_path is not None:
        spec = dataclasses.replace(spec, data_path=data_path)
    if device is not None:
        settings = dataclasses.replace(settings, device=device)
    sampler_seed = seed if seed is not None else derive_seed(0, "worker", worker) % 2**31
    study = load_study(rdb, study_name, sampler=make_sampler(search.get("sampler") or "tpe", sampler_seed),
                       pruner=make_pruner(search.get("pruner") or "median", settings.epochs * max(settings.folds, 1)))
    seconds = limits.seconds
    if seconds is None and search.get("deadline_at") is not None:  # the budget of the tune that created it
        seconds = max(0.0, search["deadline_at"] - time.time())
    if seconds is None and settings.num_trials is None and not own:
        raise ValueError(format_message("budget", budget, "a wall time or trial count for this worker (the study "
                                        "has neither a target number of trials nor a deadline)", "e.g. --budget 1h"))
    splits, _ = prepare_splits(spec)
    deadline = Deadline(seconds)
    keeper = CheckpointKeeper(out, settings.keep_top_k, maximize=settings.direction == "maximize")
    objective = TrialObjective(space, TrialData(splits), settings, keeper=keeper, deadline=deadline, worker=worker,
                               backup_dir=Path(out) / "backups")
    numbers = run_trials(study, objective, num_trials=settings.num_trials, max_trials=min(own) if own else None,
                         deadline=deadline, verbose=verbose)
    keeper.prune(study)
    report = {"worker": worker, "study": study_name, "trials": numbers, "count": len(numbers),
              "time_used": round(deadline.elapsed(), 3)}
    Path(out).mkdir(parents=True, exist_ok=True)
    (Path(out) / f"worker-{worker.replace(':', '-')}.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":  # the command lives in topnet.cli.worker now (importing it here would close a cycle)
    sys.exit("topnet: error: `python -m topnet.tune.worker` is now `topnet worker` (or `python -m topnet.cli worker`), "
             "with the same arguments")

"""Studies: samplers and pruners by name, the storage (SQLite or PostgreSQL), create-or-resume.

A study is a standard Optuna RDB storage, so ``optuna-dashboard sqlite:///out/study.db`` opens
it. Heartbeats are on: a trial whose process died (SIGKILL, a lost machine) stops beating, is
marked FAIL by the next trial start of any worker after ``grace_period`` seconds, and is
retried with the same parameters (``RetryHeartbeatStaleTrialCallback``).

When topnet creates a study it stores what a worker needs to run trials without the original
command line, as JSON user attributes: the search space (``topnet.space``), the data
(``topnet.data``) and the training settings (``topnet.fit``).
"""
from __future__ import annotations

import contextlib
import json
import random
import time
import warnings
from collections.abc import Iterator
from typing import Any

from topnet.errors import format_message, unknown_name
from topnet.tune._optuna import import_optuna
from topnet.tune.retries import finished_count, first_try_index  # re-exported: their home before retries.py

__all__ = ["SAMPLERS", "PRUNERS", "make_sampler", "make_pruner", "make_storage", "open_study", "load_study",
           "finished_count", "first_try_index", "hide_password", "study_attrs", "ATTR_SPACE", "ATTR_DATA", "ATTR_FIT", "ATTR_SEARCH"]

SAMPLERS = ("random", "tpe", "gp", "cmaes", "nsga2")
PRUNERS = ("none", "median", "asha", "hyperband")
ATTR_SPACE, ATTR_DATA, ATTR_FIT, ATTR_SEARCH = "topnet.space", "topnet.data", "topnet.fit", "topnet.search"


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence Optuna's ExperimentalWarning / FutureWarning for the features used on purpose."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", import_optuna().exceptions.ExperimentalWarning)
        warnings.simplefilter("ignore", FutureWarning)
        yield


@contextlib.contextmanager
def quiet_logs() -> Iterator[None]:
    """Optuna's INFO lines off (its verbosity restored after): topnet prints its own line per
    trial, and "A new study created" is noise in a run's output."""
    optuna = import_optuna()
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(verbosity)


def make_sampler(name: Any = "tpe", seed: int | None = 0) -> Any:
    """An Optuna sampler by name: ``random``, ``tpe`` (default), ``gp``, ``cmaes``, ``nsga2``.

    TPE is multivariate with grouped (conditional) parameters and a constant liar, so workers
    running in parallel do not sample the same point. A named sampler is made afresh for each
    trial with a seed derived from ``seed`` and the trial (`topnet.tune.trial_seeds`), so a
    resumed study proposes what an uninterrupted one would. A sampler object is passed through.

    Raises:
        ValueError: an unknown name (lists the valid ones).

    Example:
        >>> type(make_sampler("nsga2", seed=1).sampler).__name__
        'NSGAIISampler'
    """
    optuna = import_optuna()
    if isinstance(name, optuna.samplers.BaseSampler):
        return name
    if name not in SAMPLERS:
        raise unknown_name("sampler", name, SAMPLERS)
    from topnet.tune.trial_seeds import SeededPerTrial

    return SeededPerTrial(lambda trial_seed: _named_sampler(name, trial_seed), seed)


def _named_sampler(name: str, seed: int | None) -> Any:
    samplers = import_optuna().samplers
    with _quiet():
        if name == "random":
            return samplers.RandomSampler(seed=seed)
        if name == "tpe":
            return samplers.TPESampler(seed=seed, multivariate=True, group=True, constant_liar=True)
        if name == "gp":
            return samplers.GPSampler(seed=seed, warn_independent_sampling=False)
        if name == "cmaes":
            return samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
        return samplers.NSGAIISampler(seed=seed, population_size=10)  # small populations suit small budgets


def make_pruner(name: Any = "median", epochs: int = 10) -> Any:
    """An Optuna pruner by name: ``none``, ``median`` (default), ``asha``, ``hyperband``.

    Steps are epochs: ASHA's and Hyperband's first rung is one epoch, Hyperband's last
    ``epochs``. A pruner object is passed through.

    Raises:
        ValueError: an unknown name (lists the valid ones).

    Example:
        >>> type(make_pruner("asha")).__name__
        'SuccessiveHalvingPruner'
    """
    optuna = import_optuna()
    if isinstance(name, optuna.pruners.BasePruner):
        return name
    if name not in PRUNERS:
        raise unknown_name("pruner", name, PRUNERS)
    pruners = optuna.pruners
    if name == "none":
        return pruners.NopPruner()
    if name == "median":
        # no pruning on the first epoch's value: under warm-up or one-cycle schedules it says little
        # about the end (B3: a trial that became the best was pruned at chance after epoch 1)
        return pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=1)
    if name == "asha":
        return pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    return pruners.HyperbandPruner(min_resource=1, max_resource=max(epochs, 1), reduction_factor=3)


def make_storage(url: str, *, heartbeat_interval: int = 30, grace_period: int | None = None,
                 max_retry: int = 1) -> Any:
    """An Optuna RDB storage with heartbeats and retries of crashed trials.

    Args:
        url: ``sqlite:///path/study.db`` or ``postgresql://user@host:port/db``.
        heartbeat_interval: seconds between a running trial's heartbeats.
        grace_period: seconds without a heartbeat after which a trial counts as crashed
            (default ``2 * heartbeat_interval``).
        max_retry: how often one crashed trial is retried.

    Raises:
        ValueError: a URL that is neither SQLite nor PostgreSQL (nor another SQLAlchemy URL).
    """
    optuna = import_optuna()
    if "://" not in str(url):
        raise ValueError(format_message("storage", url, "a database URL",
                                        "e.g. sqlite:///runs/tune/study.db or postgresql://user@host/db"))
    url = _with_driver(str(url))
    engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    storages = optuna.storages
    with _quiet():
        if hasattr(storages, "RetryHeartbeatStaleTrialCallback"):  # Optuna >= 4.9
            retry_class, name = storages.RetryHeartbeatStaleTrialCallback, "heartbeat_stale_trial_callback"
        else:
            retry_class, name = storages.RetryFailedTrialCallback, "failed_trial_callback"
        options = dict(engine_kwargs=engine, heartbeat_interval=heartbeat_interval,
                       grace_period=grace_period or 2 * heartbeat_interval, **{name: retry_class(max_retry=max_retry)})
        return _rdb_storage(str(url), options)


def _rdb_storage(url: str, options: dict[str, Any], attempts: int = 5) -> Any:
    """``RDBStorage(url, **options)``, again when another process created the same tables at the
    same moment (workers starting together on a fresh database: on PostgreSQL the loser of
    CREATE TYPE/TABLE sees a unique violation, on SQLite "table ... already exists"; its next
    try finds the tables)."""
    from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

    storages = import_optuna().storages
    for attempt in range(attempts - 1):
        try:
            return storages.RDBStorage(url, **options)
        except (IntegrityError, ProgrammingError, OperationalError) as error:
            if isinstance(error, OperationalError) and "already exists" not in str(error):
                raise  # a database that is down or locked: not this race
            time.sleep(0.1 * (attempt + 1) * (1 + random.random()))  # apart, so the retries do not collide again
    return storages.RDBStorage(url, **options)


def hide_password(url: str) -> str:
    """``url`` with its password shown as ``***`` (for files and logs); other text unchanged.

    Example:
        >>> hide_password("postgresql://bob:s3cret@db:5432/topnet"), hide_password("sqlite:///runs/study.db")
        ('postgresql://bob:***@db:5432/topnet', 'sqlite:///runs/study.db')
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(str(url)).render_as_string(hide_password=True)
    except ArgumentError:  # not a URL
        return str(url)


def _with_driver(url: str) -> str:
    """``postgresql://`` with the driver that is installed: SQLAlchemy 2.1 defaults to psycopg 3,
    2.0 to psycopg2; name psycopg2 when only it is there."""
    if not url.startswith(("postgresql://", "postgres://")):
        return url
    import importlib.util

    if importlib.util.find_spec("psycopg") is None and importlib.util.find_spec("psycopg2") is not None:
        return "postgresql+psycopg2://" + url.split("://", 1)[1]
    if importlib.util.find_spec("psycopg") is None and importlib.util.find_spec("psycopg2") is None:
        raise ImportError("a postgresql:// storage needs a PostgreSQL driver; "
                          "install it with: pip install psycopg2-binary")
    return url


def study_attrs(space: Any, data_spec: Any, settings: Any, *, sampler: Any = "tpe", pruner: Any = "median",
                deadline_at: float | None = None) -> dict[str, str]:
    """The user attributes that let a worker run the study's trials (JSON strings).

    Samplers and pruners given as objects are recorded as None (workers then use TPE and
    the median pruner); ``deadline_at`` (Unix time) is when the creating call's budget ends.
    """
    names = {"sampler": sampler if isinstance(sampler, str) else None,
             "pruner": pruner if isinstance(pruner, str) else None, "deadline_at": deadline_at}
    return {ATTR_SPACE: space.to_json(),
            ATTR_DATA: json.dumps(None if data_spec is None else data_spec.to_dict(), sort_keys=True),
            ATTR_FIT: json.dumps(settings.to_dict(), sort_keys=True),
            ATTR_SEARCH: json.dumps(names, sort_keys=True)}


def open_study(storage: Any, study_name: str, *, sampler: Any, pruner: Any, direction: str,
               attrs: dict[str, str]) -> Any:
    """Create the study, or load it when it exists (a re-run resumes it).

    Raises:
        ValueError: the study exists with another search space or direction.
    """
    optuna = import_optuna()
    with quiet_logs():
        study = optuna.create_study(storage=storage, study_name=study_name, sampler=sampler, pruner=pruner,
                                    direction=direction, load_if_exists=True)
    existing = study.user_attrs
    if ATTR_SPACE not in existing:
        for key, value in attrs.items():
            study.set_user_attr(key, value)
    elif json.loads(existing[ATTR_SPACE]) != json.loads(attrs[ATTR_SPACE]):
        raise ValueError(format_message(f"study {study_name!r}", "another search space",
                                        "the space it was created with",
                                        "use another study name (or --out) for a new search"))
    else:  # a re-run may raise num_trials or give a new budget
        study.set_user_attr(ATTR_FIT, attrs[ATTR_FIT])
        study.set_user_attr(ATTR_SEARCH, attrs[ATTR_SEARCH])
    if study.direction.name.lower() != direction:
        raise ValueError(format_message(f"study {study_name!r} direction", study.direction.name.lower(), direction))
    return study


def load_study(storage: Any, study_name: str, *, sampler: Any = None, pruner: Any = None) -> Any:
    """Load an existing study created by ``topnet tune`` (for a worker).

    Raises:
        ValueError: no such study, or one without topnet's attributes.
    """
    optuna = import_optuna()
    try:
        study = optuna.load_study(study_name=study_name, storage=storage, sampler=sampler, pruner=pruner)
    except KeyError:
        names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
        raise unknown_name("study", study_name, names) from None
    missing = [key for key in (ATTR_SPACE, ATTR_DATA, ATTR_FIT) if key not in study.user_attrs]
    if missing:
        raise ValueError(format_message(f"study {study_name!r}", f"no {missing} attributes",
                                        "a study created by topnet tune", "create it with topnet tune --storage URL"))
    return study

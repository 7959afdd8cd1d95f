"""Bagged members for ``topnet run`` on a table: k-fold models and out-of-fold predictions.

With ``bagging = k`` (k ≥ 2; ``auto``: 5 on a table of at most `AUTO_BAGGING_ROWS` rows) a run
on a table pools its train, valid and blend rows (test stays sealed) and makes every member a
`topnet.ensemble.bagging.BaggedMember`: the chosen network configurations (each fold trained by
`topnet.configs.train_config`) and the classic members of `CLASSIC_KINDS` (LightGBM, CatBoost,
extra trees, random forest, k-NN, a linear model, XGBoost; those whose library is installed).
Each row of the pool gets an out-of-fold (OOF) prediction from models that never trained on
it; the ensemble's combiner and temperature are fitted on the OOF predictions of the whole pool,
and models.json scores each member on the OOF predictions of the valid and blend rows (plus
``oof`` over the pool). New rows (test, ``topnet predict``) get the mean of the fold models.

Each member gets a time box; one that finishes its k models early bags again on new folds
(repeated bagging) while another set fits, up to `REPEATS` sets, so a small table's run spends
its budget on variance rather than stopping after a few seconds.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from topnet import budget
from topnet.callbacks import CSVLogger, Deadline
from topnet.configs import FitSettings, TrialData, train_config
from topnet.data import Dataset, Splits, concatenate
from topnet.ensemble import NetworkMember
from topnet.ensemble._optional import available
from topnet.ensemble.bagging import BaggedMember
from topnet.ensemble.features import categorical_sizes
from topnet.pipeline.data import RunSplits
from topnet.seeding import derive_seed

__all__ = ["ConfigMember", "Pool", "pool_of", "bag_network", "bag_classic", "classic_kinds", "CLASSIC_KINDS",
           "AUTO_BAGGING_ROWS", "bagging_folds", "refusals", "more_configs", "untried_configs", "member_name"]

# the classic members of a bagged table run, in the order they train (their expected value on
# tables first: boosted trees, then the averaged trees, then the cheap different views)
CLASSIC_KINDS = ("lightgbm", "catboost", "extra_trees", "random_forest", "knn", "linear", "xgboost")
_LIBRARIES = {"lightgbm": "lightgbm", "catboost": "catboost", "xgboost": "xgboost", "extra_trees": "sklearn",
              "random_forest": "sklearn", "knn": "sklearn", "linear": "sklearn"}
# the most sets of k fold models a member trains while its time box has room (repeated bagging)
REPEATS = {"network": 20, "lightgbm": 10, "catboost": 10, "xgboost": 10, "extra_trees": 3, "random_forest": 3}
AUTO_FOLDS = 5
# bagging="auto" bags tables of at most this many rows (train + valid + blend); measured by
# bench/bench_bagging_threshold.py (docs/benchmarks.md, B11)
AUTO_BAGGING_ROWS = 50_000


def bagging_folds(setting: int | str, kind: str, rows: int) -> int:
    """The folds of a run's bagging: ``setting`` (an int), or for ``"auto"`` `AUTO_FOLDS` on a
    table of at most `AUTO_BAGGING_ROWS` pooled rows; 0 (no bagging) otherwise.

    Example:
        >>> bagging_folds("auto", "tabular", 800), bagging_folds("auto", "images", 800), bagging_folds(0, "tabular", 800)
        (5, 0, 0)
    """
    if kind != "tabular":
        return 0
    if setting == "auto":
        return AUTO_FOLDS if rows <= AUTO_BAGGING_ROWS else 0
    return int(setting)


def classic_kinds(class_weight: dict[int, float] | None = None) -> list[str]:
    """The classic members a bagged run trains: those of `CLASSIC_KINDS` whose library is
    installed; with ``class_weight``, only those that take it (LightGBM)."""
    kinds = [kind for kind in CLASSIC_KINDS if available(_LIBRARIES[kind])]
    return [kind for kind in kinds if kind == "lightgbm"] if class_weight else kinds


class ConfigMember(NetworkMember):
    """A network member whose ``fit`` trains a configuration with `train_config`, within
    ``seconds`` (a `Deadline`), keeping the best epoch on the ``valid`` it is given.

    Saved and loaded as a plain network member (``kind = "network"``). With ``history``, its
    epochs are logged there (`topnet.callbacks.CSVLogger`: the run's learning curves).
    """

    def __init__(self, config: dict[str, Any], settings: FitSettings, *, seconds: float | None, name: str,
                 task: str, features: str = "raw", categorical_sizes: list[int] | None = None,
                 device: str = "auto", history: Path | None = None):
        super().__init__(None, name, task, features=features, categorical_sizes=categorical_sizes, fit_kwargs={},
                         device=device)
        self.configuration = config
        self.settings = settings
        self.seconds = seconds
        self.history = history

    def fit(self, train: Any, valid: Any = None) -> ConfigMember:
        self._check()
        splits = Splits(train=train, valid=valid if valid is not None else train)
        callbacks = [Deadline(self.seconds)] + ([CSVLogger(self.history)] if self.history is not None else [])
        outcome = train_config(self.configuration, TrialData(splits), self.settings,
                               seed=derive_seed(self.settings.seed, self.name) % 2**31, callbacks=callbacks)
        self.model, self.history_ = outcome.model, outcome.curve
        self.clear_cache()
        return self


@dataclasses.dataclass(frozen=True)
class Pool:
    """The rows a bagged run fits on: train, valid and blend in that order, and where each part is."""

    dataset: Dataset
    rows: dict[str, np.ndarray]  # {"train" | "valid" | "blend": row indices into dataset}

    def attach(self, member: BaggedMember) -> BaggedMember:
        """``member`` gives its out-of-fold predictions for the pool and for each part of it."""
        member.attach(self.dataset)
        return member


def pool_of(data: RunSplits) -> Pool:
    """The run's train, valid and blend rows as one dataset (the test split is not touched)."""
    parts = [(name, getattr(data.splits, name)) for name in ("train", "valid", "blend")]
    parts = [(name, part) for name, part in parts if part is not None]
    starts = np.cumsum([0] + [len(part) for _, part in parts])
    rows = {name: np.arange(starts[i], starts[i + 1]) for i, (name, _) in enumerate(parts)}
    return Pool(concatenate([part for _, part in parts]), rows)


def set_split_scores(member: BaggedMember, data: RunSplits, pool: Pool) -> None:
    """``member.predict_split("valid" | "blend", ...)`` on the run's splits give the out-of-fold
    predictions of those rows (the report's scores come from models that never saw them)."""
    for name in ("valid", "blend"):
        part = getattr(data.splits, name)
        if part is not None:
            member.set_out_of_fold(name, part, pool.rows[name])


def bag_network(config: dict[str, Any], settings: FitSettings, data: RunSplits, pool: Pool, *, name: str,
                num_folds: int, seconds: float, per_epoch: float | None, max_epochs: int, seed: int,
                device: str, histories: Path | None = None) -> BaggedMember:
    """A bagged network of ``config`` on the pool: each of the ``num_folds`` fold models gets an
    equal share of ``seconds`` and the epochs that fit in it (at ``per_epoch`` seconds per epoch
    of the run's train split, scaled to a fold's rows); sets of k are repeated on new folds
    while ``seconds`` has room. The first fold model logs its epochs to ``histories/NAME.csv``."""
    fold_rows = len(pool.dataset) * (num_folds - 1) / num_folds
    scaled = None if not per_epoch else per_epoch * fold_rows / max(len(data.splits.train), 1)
    share = seconds / num_folds
    epochs = budget.plan_epochs(share, scaled, max_epochs)
    fold_settings = dataclasses.replace(settings, epochs=epochs, seed=seed)
    flat = data.kind == "tabular" and config.get("family") != "wide_and_deep"
    sizes = categorical_sizes(data.splits.train)

    def factory(fold_name: str) -> ConfigMember:
        history = histories / f"{name}.csv" if histories is not None and fold_name == f"{name}-f0" else None
        return ConfigMember(config, fold_settings, seconds=share, name=fold_name, task=data.task,
                            features="flat" if flat else "raw", categorical_sizes=sizes, device=device,
                            history=history)

    member = BaggedMember(factory, name=name, task=data.task, num_folds=num_folds, seed=seed,
                          repeats=REPEATS["network"], seconds=seconds).fit(pool.dataset)
    set_split_scores(member, data, pool)
    return member


def refusals() -> tuple[type[BaseException], ...]:
    """The errors with which a classic member's library refuses a table (a run notes them and
    goes on without that member): ValueError, RuntimeError, and CatBoost's and LightGBM's own."""
    import importlib

    errors: list[type[BaseException]] = [ValueError, RuntimeError]
    for module, name in (("catboost", "CatBoostError"), ("lightgbm.basic", "LightGBMError")):
        if available(module.split(".")[0]):
            errors.append(getattr(importlib.import_module(module), name))
    return tuple(errors)


def classic_factory(kind: str, task: str, *, seconds: float, seed: int,
                    class_weight: dict[int, float] | None = None, threads: int = 0) -> Any:
    """``factory(name) -> Member``: an unfitted classic member of ``kind``, stopped at ``seconds``,
    with ``threads`` CPU threads (0: the library's choice)."""
    from topnet import ensemble

    def factory(name: str) -> Any:
        boosted = {"seed": seed, "num_boost_round": 1000, "time_limit": seconds, "num_threads": threads}
        if kind == "lightgbm":
            return ensemble.LightGBMMember(name, task, class_weight=class_weight, **boosted)
        if kind == "catboost":
            return ensemble.CatBoostMember(name, task, **boosted)
        if kind == "xgboost":
            return ensemble.XGBoostMember(name, task, **boosted)
        if kind in ("extra_trees", "random_forest"):
            forest = ensemble.ExtraTreesMember if kind == "extra_trees" else ensemble.RandomForestMember
            return forest(name, task, num_trees=300, seed=seed, time_limit=seconds, num_threads=threads)
        if kind == "knn":
            return ensemble.KNNMember(name, task, time_limit=seconds, num_threads=threads)
        if kind == "linear":
            return ensemble.LinearMember(name, task)
        raise ValueError(f"unknown classic member kind {kind!r}; expected one of {list(CLASSIC_KINDS)}")

    return factory


def bag_classic(kind: str, data: RunSplits, pool: Pool, *, num_folds: int, seconds: float, seed: int,
                class_weight: dict[int, float] | None = None, threads: int = 0) -> BaggedMember:
    """A bagged classic member of ``kind`` on the pool: each fold model (early-stopped on its
    inner slice, where it stops early) gets an equal share of ``seconds``; sets of k are
    repeated on new folds while the box has room, up to ``REPEATS[kind]`` sets."""
    factory = classic_factory(kind, data.task, seconds=seconds / num_folds, seed=seed, class_weight=class_weight,
                              threads=threads)
    member = BaggedMember(factory, name=kind, task=data.task, num_folds=num_folds, seed=seed,
                          repeats=REPEATS.get(kind, 1), seconds=seconds).fit(pool.dataset)
    set_split_scores(member, data, pool)
    return member


def more_configs(result: Any, chosen: list[Any], limit: int) -> list[Any]:
    """The search's other complete trials, diverse best first, that a bagged run trains after
    ``chosen`` while its phase has time left (each member's repeats are capped, so a small
    table's run would otherwise stop early), up to ``limit`` configurations in all.

    Example:
        >>> from types import SimpleNamespace as S
        >>> from topnet.tune.checkpoints import TrialRecord
        >>> rs = [TrialRecord(n, "COMPLETE", v, {"family": f}) for n, v, f in [(0, .9, "a"), (1, .8, "a"), (2, .7, "b")]]
        >>> [r.number for r in more_configs(S(records=rs, direction="maximize"), rs[:1], 3)]
        [2, 1]
    """
    from topnet.tune.checkpoints import select_top_k

    taken = {record.number for record in chosen}
    ranked = select_top_k(result.records, len(result.records), maximize=result.direction == "maximize")
    return [record for record in ranked if record.number not in taken][:max(0, limit - len(chosen))]


def untried_configs(space: Any, result: Any, count: int, *, seed: int, epochs: int) -> list[Any]:
    """``count`` configurations of ``space`` the search did not reach, for a bagged run whose
    networks' phase has time left after the search's own (a short search scored out of fold may
    finish one trial): first the space's first trials (baseline, portfolio) that no trial of
    ``result`` ran, then random draws from the space. Seeded, so a resumed run draws the same.
    Their records have numbers -2, -3, ... (no trial) and no value; the ensemble's weights, fitted
    on their out-of-fold predictions, decide whether they count.

    Example:
        >>> from types import SimpleNamespace as S
        >>> from topnet.tune.space import Categorical, SearchSpace
        >>> space = SearchSpace({"family": Categorical(["mlp"]), "width": Categorical([8, 16, 32])},
        ...                     baseline={"width": 8}, portfolio=[{"width": 32}])
        >>> tried = S(records=[S(params={"family": "mlp", "width": 8})])
        >>> drawn = untried_configs(space, tried, 3, seed=0, epochs=2)
        >>> [r.number for r in drawn], drawn[0].config["width"]
        ([-2, -3, -4], 32)
    """
    from topnet.configs import complete_config
    from topnet.tune._optuna import import_optuna
    from topnet.tune.checkpoints import TrialRecord
    from topnet.tune.study import quiet_logs

    if count <= 0:
        return []
    optuna = import_optuna()
    tried = [record.params for record in result.records]
    with quiet_logs():  # no "A new study created in memory" line in a run's output
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    for params in space.first_trials():
        if params and not any(all(done.get(k) == v for k, v in params.items()) for done in tried):
            study.enqueue_trial(params)
    drawn = []
    for index in range(count):
        trial = study.ask()
        config = complete_config(space.sample(trial), epochs)
        drawn.append(TrialRecord(-2 - index, "UNTRIED", None, config, params=dict(trial.params)))
    return drawn


def member_name(index: int, record: Any) -> str:
    """A retrained network member's name (bagged or not): ``NN-family-`` and ``tN`` (trial N),
    ``baseline``, ``portfolioN`` (a zero-shot run's portfolio entry,
    `topnet.pipeline.search.zero_shot_records`) or ``drawN`` (an untried configuration, `untried_configs`).

    Example:
        >>> from types import SimpleNamespace as S
        >>> [member_name(i, S(number=n, family="mlp")) for i, n in enumerate([4, -1, -3])]
        ['00-mlp-t4', '01-mlp-baseline', '02-mlp-draw1']
        >>> member_name(0, S(number=-2, family="mlp", state="PORTFOLIO"))
        '00-mlp-portfolio0'
    """
    number = record.number
    kind = "portfolio" if getattr(record, "state", None) == "PORTFOLIO" else "draw"
    suffix = f"t{number}" if number >= 0 else "baseline" if number == -1 else f"{kind}{-number - 2}"
    return f"{index:02d}-{record.family}-{suffix}"


def distinct_configs(chosen: list[Any]) -> list[Any]:
    """The chosen trials without repeats (a bagged member already holds k models of its configuration)."""
    seen, distinct = set(), []
    for record in chosen:
        if record.number not in seen:
            seen.add(record.number)
            distinct.append(record)
    return distinct


def save_bagged(member: BaggedMember, folder: Any, record: dict[str, Any]) -> None:
    """``folder``: the fold members and ``member.json`` (their configs and the record)."""
    from topnet.io import write_json

    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / "member.json", {**member.save(folder), "record": record})


def load_bagged(folder: Any, data: RunSplits, pool: Pool, device: str) -> tuple[BaggedMember, dict[str, Any]]:
    """A bagged member a killed run saved, attached to the pool again, with its record."""
    import json

    from topnet.ensemble.members import load_member

    config = json.loads((folder / "member.json").read_text(encoding="utf-8"))
    record = config.pop("record", {})
    member = pool.attach(load_member(folder, config, device=device))
    set_split_scores(member, data, pool)
    return member, record

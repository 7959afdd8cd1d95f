"""``topnet tune``: search hyperparameters and architectures (`topnet.tune.tune`).

    topnet tune --data fashion-mnist --budget 10m
    topnet tune --data my.csv --target price --budget 1h --sampler tpe --pruner asha
    topnet tune --data fashion-mnist --budget 2h --storage postgresql://user@db/topnet --study-name fm

Also here, for the other commands that drive an Optuna study: `add_study_arguments` (the
storage, seed, device and heartbeat options ``topnet worker`` shares) and `quiet_optuna`.

Example:
    >>> import argparse
    >>> parser = argparse.ArgumentParser(prog="topnet")
    >>> _ = add_tune_parser(parser.add_subparsers(dest="command"))
    >>> args = parser.parse_args(["tune", "--budget", "20 trials", "--set", "family=convnet"])
    >>> args.budget, args.set, args.seed, args.storage
    ('20 trials', ['family=convnet'], 0, None)
"""
from __future__ import annotations

import argparse
from typing import Any

from topnet.cli.arguments import add_data_arguments, data_settings, parse_assignments

__all__ = ["add_tune_parser", "run_tune", "add_study_arguments", "quiet_optuna"]

_EPILOG = """examples:
  topnet tune --data fashion-mnist --budget 10m
  topnet tune --data mnist1d --budget "30 trials" --pruner hyperband --epochs 9
  topnet tune --data fashion-mnist --space space.toml --set family=convnet --budget 1h
  topnet tune --data fashion-mnist --budget 2h --storage postgresql://user@host/db --study-name fm

Running the same command again resumes the study (same --out / --storage and --study-name).
Open the study in a browser: optuna-dashboard sqlite:///OUT/study.db
"""


def add_tune_parser(subparsers: Any, name: str = "tune") -> argparse.ArgumentParser:
    """Add the ``tune`` command to ``subparsers`` (from ``parser.add_subparsers()``)."""
    from topnet.tune.study import PRUNERS, SAMPLERS

    p = subparsers.add_parser(name, help="search hyperparameters and architectures (Optuna)", epilog=_EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_arguments(p, "fashion-mnist")
    p.add_argument("--max-samples", type=int, default=None, help="search on a random subset of this many samples")
    p.add_argument("--valid", type=float, default=0.1, help="validation fraction (model selection)")
    p.add_argument("--blend", type=float, default=0.1, help="blend fraction (the selection-bias check)")
    p.add_argument("--test", type=float, default=0.1, help="test fraction when the dataset has none (never read here)")
    p.add_argument("--space", default=None, help="search space TOML file (default: the space for the data's kind)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="fix a parameter (or add a configuration key such as model.dense=64); repeatable")
    p.add_argument("--budget", default=None, help="wall time (10m, 2h, 90) or trials ('20 trials')")
    p.add_argument("--trials", type=int, default=None, help="target number of finished trials in the study")
    p.add_argument("--max-trials", type=int, default=None, help="the most trials this process runs "
                   "(0: only create the study, for `topnet worker` processes)")
    p.add_argument("--sampler", default="tpe", help=f"one of {', '.join(SAMPLERS)}")
    p.add_argument("--pruner", default="median", help=f"one of {', '.join(PRUNERS)}")
    p.add_argument("--epochs", type=int, default=3, help="epochs per trial")
    p.add_argument("--metric", default=None, help="validation log to optimise (default val_accuracy / val_loss)")
    p.add_argument("--direction", default=None, choices=["maximize", "minimize"])
    p.add_argument("--patience", type=int, default=None, help="early stopping inside each trial")
    p.add_argument("--subset", type=float, default=1.0, help="fraction of train for the first --subset-epochs")
    p.add_argument("--subset-epochs", type=int, default=0, help="epochs on the subset (multi-fidelity)")
    p.add_argument("--keep-top-k", type=int, default=3, help="checkpoints kept on disk")
    p.add_argument("--noise-seeds", type=int, default=0, help="re-train the top 3 with this many seeds")
    add_study_arguments(p)
    p.add_argument("--study-name", default=None, help="study name (default: tune-DATA)")
    p.add_argument("--out", default=None, help="output directory (default: runs/tune-DATA)")
    p.add_argument("--no-plots", action="store_true", help="skip history.png and importances.png")
    return p


def add_study_arguments(p: argparse.ArgumentParser, is_worker: bool = False) -> None:
    """--storage, --seed, --device, --heartbeat-interval, --grace-period and --quiet (tune; worker with ``is_worker``)."""
    where = "" if is_worker else " (default: OUT/study.db)"
    p.add_argument("--storage", required=is_worker, default=None,
                   help=f"database URL, e.g. postgresql://user@host/db{where}")
    p.add_argument("--seed", type=int, default=None if is_worker else 0, help="sampler and trial seed")
    p.add_argument("--device", default=None if is_worker else "auto", help="auto (CUDA when present), cpu or cuda")
    p.add_argument("--heartbeat-interval", type=int, default=30, help="seconds between a trial's heartbeats")
    p.add_argument("--grace-period", type=int, default=None, help="seconds without heartbeat before a trial "
                   "counts as crashed (default: twice the interval)")
    p.add_argument("--quiet", action="store_true", help="no line per trial")


def quiet_optuna() -> None:
    """The commands print a line per trial; Optuna's INFO lines would repeat them (CLI only)."""
    from topnet.tune._optuna import import_optuna

    optuna = import_optuna()
    optuna.logging.set_verbosity(optuna.logging.WARNING)


def run_tune(args: argparse.Namespace) -> int:
    """Run ``topnet tune`` from parsed arguments; returns the exit code."""
    import dataclasses

    from topnet.configs.data_spec import DataSpec, prepare_splits
    from topnet.tune.tuner import resolve_space, tune
    from topnet.tune.space import Fixed

    quiet_optuna()
    settings = data_settings(args)
    spec = DataSpec(settings.pop("data"), **settings, valid=args.valid, blend=args.blend, test=args.test,
                    seed=args.seed, max_samples=args.max_samples)
    space = args.space
    if args.set:  # fixing parameters needs the space, and the default space needs the data's kind
        space = resolve_space(space, prepare_splits(spec)[0] if space is None else None)
        fixed = {key: Fixed(value) for key, value in parse_assignments(args.set).items()}
        baseline = {k: v for k, v in (space.baseline or {}).items() if k not in fixed} or None
        space = dataclasses.replace(space, params={**space.params, **fixed}, baseline=baseline)
    name = args.data.replace("/", "_").rsplit(".", 1)[0]
    result = tune(space, spec, budget=args.budget, num_trials=args.trials, max_trials=args.max_trials,
                  sampler=args.sampler, pruner=args.pruner, storage=args.storage,
                  study_name=args.study_name or f"tune-{name}", seed=args.seed, out=args.out or f"runs/tune-{name}",
                  epochs=args.epochs, metric=args.metric, direction=args.direction, patience=args.patience,
                  keep_top_k=args.keep_top_k, subset=args.subset, subset_epochs=args.subset_epochs, device=args.device,
                  noise_seeds=args.noise_seeds, heartbeat_interval=args.heartbeat_interval,
                  grace_period=args.grace_period, plots=not args.no_plots, verbose=0 if args.quiet else 1)
    print(result.table(5))
    if result.selection_bias and result.selection_bias.get("blend") is not None:
        bias = result.selection_bias
        print(f"selection bias: trial {bias['trial']} {bias['metric']} "
              f"valid {bias['valid']:.4f}, blend {bias['blend']:.4f}")
    return 0

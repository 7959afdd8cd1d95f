"""``topnet run``: the whole recipe within a time budget (`topnet.pipeline.run`).

    topnet run --data my.csv --target price --budget 30m --out runs/price
    topnet run --out runs/price --resume

Example:
    >>> import argparse
    >>> parser = argparse.ArgumentParser(prog="topnet")
    >>> _ = add_run_parser(parser.add_subparsers(dest="command"))
    >>> args = parser.parse_args(["run", "--budget", "30m", "--set", "top_k=5"])
    >>> args.budget, args.set, args.out
    ('30m', ['top_k=5'], None)
"""
from __future__ import annotations

import argparse
import datetime as _dt
from typing import Any

from topnet.cli.arguments import add_data_arguments, data_settings, parse_assignments
from topnet.cli.tune import quiet_optuna

__all__ = ["add_run_parser", "run_run"]

_EPILOG = """The phases: load and split (train / valid / blend / test) -> standardise on train ->
learning-rate range test -> search (Optuna TPE, pruned trials) -> retrain the top-k diverse
configurations on all train rows -> LightGBM -> ensemble (combiner picked by blend log-loss,
temperature fitted on blend) -> MC dropout -> one evaluation on test -> report.html.
Images, and small (bagged) tables, on a CPU under 30 minutes skip the search's trials and
train the measured portfolio beside the baseline (search = "auto"; --set search=true searches,
search=false retrains the baseline only).

examples:
  topnet run                                          Fashion-MNIST with a 15-minute budget
  topnet run --budget 60m --out runs/fm60
  topnet run --data data/houses.csv --target price --budget 10m
  topnet run --data photos/ --image-size 64 --budget 30m     one subfolder of images per class
  topnet run --data sales.parquet --target units
  topnet run --config run.toml --set top_k=5 --set lightgbm=false
  topnet run --space space.toml --budget 30m          your own search space (docs/run.md)
  topnet run --out runs/fm60 --resume                 continue a killed run where it stopped

Every setting (see `topnet.pipeline.RunConfig`) is a TOML key and a --set key; the run
directory gets config.json, the study, every model, the ensemble, histories, TensorBoard logs,
metrics.json and report.html.
"""


def add_run_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``run`` command to ``subparsers`` (from ``parser.add_subparsers()``) and return it."""
    run = subparsers.add_parser("run", help="the whole recipe within a time budget: search, retrain, ensemble, report",
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=_EPILOG,
                                description="Find the best model the data allows within --budget, with the evidence.")
    add_data_arguments(run, None)
    run.add_argument("--budget", default=None, help="wall time of the whole run: 90s, 15m, 2h (default 15m)")
    run.add_argument("--out", default=None, help="run directory (default: runs/run-TIMESTAMP)")
    run.add_argument("--seed", type=int, default=None, help="seeds the split, the search and every model (default 0)")
    run.add_argument("--storage", default=None, help="database URL of the search, e.g. postgresql://... to let "
                     "`topnet worker` processes on other machines join (default: OUT/search/study.db)")
    run.add_argument("--config", default=None, help="a TOML file of run settings (keys as --set)")
    run.add_argument("--space", default=None, metavar="FILE",
                     help="your own search space: a TOML file in the format of `topnet tune --space` (docs/run.md, "
                          "docs/tuning.md); default: the space for the data")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="override one setting, e.g. --set top_k=5 (repeatable)")
    run.add_argument("--device", default=None, help="auto (CUDA when present), cpu or cuda")
    run.add_argument("--resume", action="store_true", help="continue the unfinished run in --out")
    run.add_argument("--overwrite", action="store_true", help="delete the run in --out and start again")
    run.add_argument("--quiet", action="store_true", help="no progress lines")
    return run


def run_run(args: argparse.Namespace) -> int:
    """Run ``topnet run`` from parsed arguments: resolve the config (TOML, --set, flags) and run it; returns 0.

    Raises:
        ValueError: ``--resume`` without ``--out``, or a bad setting.
    """
    from topnet.pipeline import resolve_config, run

    overrides = {**parse_assignments(args.set), **data_settings(args)}
    for name in ("budget", "out", "seed", "storage", "device", "space"):
        if getattr(args, name) is not None:
            overrides[name] = getattr(args, name)
    if args.quiet:
        overrides["verbose"] = 0
    if "out" not in overrides:
        if args.resume:
            raise ValueError("--resume: got no --out; expected the directory of the run to continue")
        overrides["out"] = f"runs/run-{_dt.datetime.now().strftime('%Y%m%d-%H%M%S')}"
    config = resolve_config(args.config, overrides)
    quiet_optuna()
    run(config, resume=args.resume, overwrite=args.overwrite)
    return 0

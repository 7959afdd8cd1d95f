"""The ``topnet`` command line: parse, build a config, call one public function, exit code.

    topnet run                            the whole recipe on Fashion-MNIST, within a budget
    topnet run --data my.csv --target price --budget 30m
    topnet predict --run runs/fm images.npz --out preds.csv
    topnet datasets                       which datasets are found where
    topnet models                         the registered model builders
    topnet train --data fashion-mnist --epochs 3 --out runs/fm
    topnet tune --data fashion-mnist --budget 10m --out runs/search
    topnet worker --study NAME --storage postgresql://...
    topnet ensemble --run runs/search
    topnet report DIR
    topnet recipe list / topnet recipe run NAME --quick   the books' experiments

One module per command (``topnet.cli.run``, ``topnet.cli.train``, ...), each with
``add_<command>_parser(subparsers)`` and ``run_<command>(args) -> exit code``; the options
several commands share are in `topnet.cli.arguments`. `main` maps the errors a user can fix
to exit code 2 and one ``topnet: error: ...`` line.

Example:
    >>> args = build_parser().parse_args(["train", "--epochs", "5"])
    >>> args.command, args.epochs, args.batch_size
    ('train', 5, 128)
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from topnet.cli.datasets import add_datasets_parser, run_datasets
from topnet.cli.ensemble import add_ensemble_parser, run_ensemble
from topnet.cli.models import add_models_parser, run_models
from topnet.cli.predict import add_predict_parser, run_predict
from topnet.cli.recipe import add_recipe_parser, run_recipe
from topnet.cli.report import add_report_parser, run_report
from topnet.cli.run import add_run_parser, run_run
from topnet.cli.train import add_train_parser, run_train
from topnet.cli.tune import add_tune_parser, run_tune
from topnet.cli.worker import add_worker_parser, run_worker
from topnet.errors import TopnetError

__all__ = ["main", "build_parser"]

# command: (add its parser, run it from the parsed arguments), in the order of `topnet --help`
_COMMANDS = {
    "run": (add_run_parser, run_run),
    "predict": (add_predict_parser, run_predict),
    "datasets": (add_datasets_parser, run_datasets),
    "models": (add_models_parser, run_models),
    "train": (add_train_parser, run_train),
    "tune": (add_tune_parser, run_tune),
    "worker": (add_worker_parser, run_worker),
    "ensemble": (add_ensemble_parser, run_ensemble),
    "report": (add_report_parser, run_report),
    "recipe": (add_recipe_parser, run_recipe),
}

# the errors a user can fix: one line and exit code 2, no traceback
_USER_ERRORS = (TopnetError, ValueError, TypeError, FileExistsError, FileNotFoundError, ImportError, RuntimeError)

_EPILOG = """examples:
  topnet run                                       Fashion-MNIST, 15 minutes, runs/run-TIMESTAMP
  topnet run --data my.csv --target price --budget 30m --out runs/price
  topnet run --data photos/ --budget 30m           a folder with one subfolder of images per class
  topnet run --out runs/price --resume             continue a killed run
  topnet datasets
  topnet train --data fashion-mnist --epochs 3 --out runs/fm
  topnet train --data my.csv --target price --model mlp --epochs 20 --patience 3
  topnet train --data cifar10 --data-path ~/data/cifar-10-batches-py --epochs 10
  topnet tune --data fashion-mnist --budget 10m --out runs/search
  topnet ensemble --run runs/search

A killed `topnet train` resumes from its last epoch when run again with the same --out.
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for the docs and tests)."""
    import topnet

    parser = argparse.ArgumentParser(
        prog="topnet", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=_EPILOG,
        description="Train PyTorch models the way Keras users do: fit with callbacks, model files, run directories.")
    parser.add_argument("--version", action="version", version=f"topnet {topnet.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add_parser, _ in _COMMANDS.values():
        add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``topnet`` console script; returns the exit code.

    Args:
        argv: the arguments after ``topnet`` (default: ``sys.argv[1:]``).

    Returns:
        0 on success; 2 for a usage error or an error the user can fix (printed as one
        ``topnet: error: ...`` line on stderr); 130 when interrupted.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command is None:
            parser.print_help()
            return 0
        _, run_command = _COMMANDS[args.command]
        return run_command(args)
    except _USER_ERRORS as error:
        print(f"topnet: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("topnet: interrupted; run the same command again to resume (from the last epoch or trial)", file=sys.stderr)
        return 130

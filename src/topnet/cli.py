"""The ``topnet`` command line: parse, build a config, call one public function, exit code.

    topnet datasets                       which datasets are found where
    topnet models                         the registered model builders
    topnet train --data fashion-mnist --epochs 3 --out runs/fm
    topnet tune --data fashion-mnist --budget 10m --out runs/search
    topnet worker --study NAME --storage postgresql://...
    topnet ensemble --run runs/search
    topnet report DIR
"""
from __future__ import annotations

import argparse
import datetime as _dt
import sys
from collections.abc import Sequence

from topnet.errors import TopnetError

__all__ = ["main", "build_parser"]

_EPILOG = """examples:
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
    commands.add_parser("datasets", help="list the named datasets and where their files were found")
    commands.add_parser("models", help="list the registered model builders")
    train = commands.add_parser("train", help="train one model and write a run directory",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    train.add_argument("--data", default="fashion-mnist", help="dataset name or a .npz / .csv path")
    train.add_argument("--data-path", default=None, help="directory holding the named dataset's files")
    train.add_argument("--target", default=None, help="target column (CSV files)")
    train.add_argument("--model", default="auto", help="model builder name (see `topnet models`); auto: "
                       "small_convnet for images, mlp otherwise")
    train.add_argument("--epochs", type=int, default=3)
    train.add_argument("--batch-size", type=int, default=128)
    train.add_argument("--optimizer", default="adam", help="sgd, adagrad, adadelta, rmsprop, adam, adamax, nadam, adamw")
    train.add_argument("--lr", type=float, default=None, help="learning rate (default: the optimizer's)")
    train.add_argument("--schedule", default="cosine", choices=["cosine", "constant"],
                       help="learning-rate schedule: cosine decay to 0 over the run (per step), or constant")
    train.add_argument("--valid", type=float, default=0.1, help="fraction of the training data held out for validation")
    train.add_argument("--test", type=float, default=0.1, help="test fraction, when the dataset has no test split")
    train.add_argument("--patience", type=int, default=None, help="early stopping patience on val_loss (keeps the best weights)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    train.add_argument("--out", default=None, help="run directory (default: runs/DATA-TIMESTAMP)")
    train.add_argument("--overwrite", action="store_true", help="replace a finished run in --out")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    from topnet.ensemble.cli_commands import add_ensemble_parser
    from topnet.report.cli_commands import add_report_parser
    from topnet.tune.cli_commands import add_tune_parser, add_worker_parser

    add_tune_parser(commands)
    add_worker_parser(commands)
    add_ensemble_parser(commands)
    add_report_parser(commands)
    return parser


def _datasets() -> int:
    from topnet.data import datasets_status

    for row in datasets_status():
        print(f"{row['name']:<15} {row.get('status', '')}  {row.get('location') or ''}".rstrip())
    return 0


def _models() -> int:
    from topnet.nn import list_models

    print("\n".join(list_models()))
    return 0


def _train(args: argparse.Namespace) -> int:
    from topnet.pipeline import TrainConfig, train_run

    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = args.out or f"runs/{args.data.replace('/', '_').rsplit('.', 1)[0]}-{stamp}"
    config = TrainConfig(data=args.data, out=out, data_path=args.data_path, target=args.target, model=args.model,
                         epochs=args.epochs, batch_size=args.batch_size, optimizer=args.optimizer, lr=args.lr, schedule=args.schedule,
                         valid=args.valid, test=args.test, patience=args.patience, seed=args.seed,
                         device=args.device, verbose=0 if args.quiet else 1, overwrite=args.overwrite)
    metrics = train_run(config)
    for split_name, values in metrics.items():
        print(f"{split_name:<6} " + "  ".join(f"{k}: {v:.4f}" for k, v in values.items()))
    print(f"run directory: {out}  (metrics.json, model/, history.csv)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``topnet`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "datasets":
            return _datasets()
        if args.command == "models":
            return _models()
        if args.command == "train":
            return _train(args)
        if args.command in ("tune", "worker"):
            from topnet.tune.cli_commands import run_tune, run_worker

            return run_tune(args) if args.command == "tune" else run_worker(args)
        if args.command == "ensemble":
            from topnet.ensemble.cli_commands import run_ensemble

            return run_ensemble(args)
        if args.command == "report":
            from topnet.report.cli_commands import run_report

            return run_report(args)
        parser.print_help()
        return 0
    except (TopnetError, ValueError, TypeError, FileExistsError, FileNotFoundError, ImportError, RuntimeError) as error:
        print(f"topnet: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("topnet: interrupted; run the same command again to resume (from the last epoch or trial)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

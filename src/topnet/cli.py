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
  topnet recipe run transfer --seeds 10
    topnet report DIR
    topnet recipe list / topnet recipe run NAME --quick   the books' experiments
"""
from __future__ import annotations

import argparse
import datetime as _dt
import sys
from collections.abc import Sequence

from topnet.errors import TopnetError

__all__ = ["main", "build_parser"]

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


DATA_HELP = ("fashion-mnist (default), mnist, cifar10, cifar100, mnist1d; a folder of images with one subfolder per "
             "class (JPEG, PNG, WebP, BMP, GIF, TIFF); an image manifest (.csv/.parquet with path and label "
             "columns); a table (.csv, .tsv, .parquet with --target); or a .npz file")


def add_data_arguments(parser: argparse.ArgumentParser, default: str | None) -> None:
    """--data, --data-path, --target and the options of a folder of images (run, train, tune)."""
    from topnet.data.image_decode import FITS
    from topnet.data.registry import parse_image_size

    parser.add_argument("--data", default=default, help=DATA_HELP)
    parser.add_argument("--data-path", default=None, help="directory holding the named dataset's files")
    parser.add_argument("--target", default=None, help="the column to predict (tables)")
    parser.add_argument("--image-size", type=parse_image_size, default=None, metavar="N|HxW",
                        help="resize a folder's images to N x N (or H x W) pixels (default: the median size, "
                             "capped at 64)")
    parser.add_argument("--image-fit", choices=FITS, default=None,
                        help="keep the aspect ratio by padding (default) or centre-cropping, or stretch")
    parser.add_argument("--skip-bad", action="store_true", default=None,
                        help="skip unreadable image files (the report counts them) instead of stopping")


def data_settings(args: argparse.Namespace) -> dict:
    """The data options given on the command line, as setting names (absent ones left out)."""
    names = {"data": "data", "data_path": "data_path", "target": "target", "image_size": "image_size",
             "image_fit": "image_fit", "skip_bad": "skip_bad"}
    values = {key: getattr(args, name) for name, key in names.items() if getattr(args, name, None) is not None}
    if isinstance(values.get("image_size"), tuple):
        values["image_size"] = list(values["image_size"])
    return values


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for the docs and tests)."""
    import topnet

    parser = argparse.ArgumentParser(
        prog="topnet", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=_EPILOG,
        description="Train PyTorch models the way Keras users do: fit with callbacks, model files, run directories.")
    parser.add_argument("--version", action="version", version=f"topnet {topnet.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_run_parser(commands)
    from topnet.pipeline.predict_cli import add_predict_parser

    add_predict_parser(commands)
    commands.add_parser("datasets", help="list the named datasets and where their files were found")
    commands.add_parser("models", help="list the registered model builders")
    train = commands.add_parser("train", help="train one model and write a run directory",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_data_arguments(train, "fashion-mnist")
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
    from topnet.recipes.cli_commands import add_recipe_parser
    from topnet.tune.cli_commands import add_tune_parser, add_worker_parser

    add_tune_parser(commands)
    add_worker_parser(commands)
    add_ensemble_parser(commands)
    add_report_parser(commands)
    add_recipe_parser(commands)
    return parser


_RUN_EPILOG = """The phases: load and split (train / valid / blend / test) -> standardise on train ->
learning-rate range test -> search (Optuna TPE, pruned trials) -> retrain the top-k diverse
configurations on all train rows -> LightGBM -> ensemble (combiner picked by blend log-loss,
temperature fitted on blend) -> MC dropout -> one evaluation on test -> report.html.

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


def _add_run_parser(commands: argparse._SubParsersAction) -> None:
    run = commands.add_parser("run", help="the whole recipe within a time budget: search, retrain, ensemble, report",
                              formatter_class=argparse.RawDescriptionHelpFormatter, epilog=_RUN_EPILOG,
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


def _run(args: argparse.Namespace) -> int:
    from topnet.pipeline import resolve_config, run
    from topnet.tune.cli_commands import parse_assignments, quiet_optuna

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
    config = TrainConfig(**data_settings(args), out=out, model=args.model,
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
        if args.command == "run":
            return _run(args)
        if args.command == "predict":
            from topnet.pipeline.predict_cli import run_predict

            return run_predict(args)
        if args.command in ("tune", "worker"):
            from topnet.tune.cli_commands import run_tune, run_worker

            return run_tune(args) if args.command == "tune" else run_worker(args)
        if args.command == "ensemble":
            from topnet.ensemble.cli_commands import run_ensemble

            return run_ensemble(args)
        if args.command == "report":
            from topnet.report.cli_commands import run_report

            return run_report(args)
        if args.command == "recipe":
            from topnet.recipes.cli_commands import run_recipe

            return run_recipe(args)
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

"""``topnet train``: train one model and write a run directory (`topnet.pipeline.train_run`).

    topnet train --data fashion-mnist --epochs 3 --out runs/fm
    topnet train --data my.csv --target price --model mlp --epochs 20 --patience 3

Example:
    >>> import argparse
    >>> parser = argparse.ArgumentParser(prog="topnet")
    >>> _ = add_train_parser(parser.add_subparsers(dest="command"))
    >>> args = parser.parse_args(["train", "--epochs", "5"])
    >>> args.data, args.model, args.epochs
    ('fashion-mnist', 'auto', 5)
"""
from __future__ import annotations

import argparse
import datetime as _dt
from typing import Any

from topnet.cli.arguments import add_data_arguments, data_settings

__all__ = ["add_train_parser", "run_train"]


def add_train_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``train`` command to ``subparsers`` (from ``parser.add_subparsers()``) and return it."""
    train = subparsers.add_parser("train", help="train one model and write a run directory",
                                  formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_data_arguments(train, "fashion-mnist")
    train.add_argument("--model", default="auto", help="model builder name (see `topnet models`); auto: "
                       "small_convnet for images, text_cnn for text, wide_and_deep for a table with text columns, "
                       "mlp otherwise")
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
    return train


def run_train(args: argparse.Namespace) -> int:
    """Run ``topnet train`` from parsed arguments; prints the metrics of each split; returns 0."""
    from topnet.pipeline import TrainConfig, train_run

    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = args.out or f"runs/{args.data.replace('/', '_').rsplit('.', 1)[0]}-{stamp}"
    config = TrainConfig(**data_settings(args), out=out, model=args.model,
                         epochs=args.epochs, batch_size=args.batch_size, optimizer=args.optimizer, lr=args.lr,
                         schedule=args.schedule, valid=args.valid, test=args.test, patience=args.patience,
                         seed=args.seed, device=args.device, verbose=0 if args.quiet else 1, overwrite=args.overwrite)
    metrics = train_run(config)
    for split_name, values in metrics.items():
        print(f"{split_name:<6} " + "  ".join(f"{k}: {v:.4f}" for k, v in values.items()))
    print(f"run directory: {out}  (metrics.json, model/, history.csv)")
    return 0

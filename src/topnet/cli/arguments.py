"""Arguments several commands share, and how their values are read.

``--data`` and the options of a folder of images (``run``, ``train``, ``tune``), and
``--set KEY=VALUE`` (``run``, ``tune``).

Example:
    >>> import argparse
    >>> parser = argparse.ArgumentParser(prog="topnet train")
    >>> add_data_arguments(parser, "fashion-mnist")
    >>> data_settings(parser.parse_args(["--image-size", "32x48"]))
    {'data': 'fashion-mnist', 'image_size': [32, 48]}
"""
from __future__ import annotations

import argparse
import json
from typing import Any

from topnet.errors import format_message

__all__ = ["DATA_HELP", "add_data_arguments", "data_settings", "parse_assignments"]

DATA_HELP = ("fashion-mnist (default), mnist, cifar10, cifar100, mnist1d, imdb-reviews, rotten-tomatoes; a folder "
             "of images with one subfolder per class (JPEG, PNG, WebP, BMP, GIF, TIFF); a folder of .txt files "
             "with one subfolder per class; an image manifest (.csv/.parquet with path and label columns); a "
             "table (.csv, .tsv, .parquet with --target; free-text columns are read as text); or a .npz file")


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


def parse_assignments(items: list[str]) -> dict[str, Any]:
    """``["lr=0.01", "family=convnet"]`` → ``{"lr": 0.01, "family": "convnet"}`` (JSON values, else strings).

    Example:
        >>> parse_assignments(["lr=1e-3", "batch_norm=true", "family=convnet"])
        {'lr': 0.001, 'batch_norm': True, 'family': 'convnet'}
    """
    values = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ValueError(format_message("--set", item, "KEY=VALUE", "e.g. --set lr=0.001"))
        try:
            values[key.strip()] = json.loads(text)
        except json.JSONDecodeError:
            values[key.strip()] = text
    return values

"""``topnet models``: the registered model builders (`topnet.nn.list_models`).

Example:
    >>> import argparse, contextlib, io
    >>> with contextlib.redirect_stdout(io.StringIO()) as printed:
    ...     code = run_models(argparse.Namespace())
    >>> code, "mlp" in printed.getvalue().split()
    (0, True)
"""
from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_models_parser", "run_models"]


def add_models_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``models`` command to ``subparsers`` (from ``parser.add_subparsers()``) and return it."""
    return subparsers.add_parser("models", help="list the registered model builders")


def run_models(args: argparse.Namespace) -> int:
    """Print the registered model builders' names, one a line; returns 0."""
    from topnet.nn import list_models

    print("\n".join(list_models()))
    return 0

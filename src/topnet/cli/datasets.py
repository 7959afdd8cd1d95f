"""``topnet datasets``: the named datasets and where their files were found.

Example:
    >>> import argparse
    >>> parser = argparse.ArgumentParser(prog="topnet")
    >>> _ = add_datasets_parser(parser.add_subparsers(dest="command"))
    >>> parser.parse_args(["datasets"]).command
    'datasets'
"""
from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_datasets_parser", "run_datasets"]


def add_datasets_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``datasets`` command to ``subparsers`` (from ``parser.add_subparsers()``) and return it."""
    return subparsers.add_parser("datasets", help="list the named datasets and where their files were found")


def run_datasets(args: argparse.Namespace) -> int:
    """Print one line per named dataset: name, status, location; returns 0."""
    from topnet.data import datasets_status

    for row in datasets_status():
        print(f"{row['name']:<15} {row.get('status', '')}  {row.get('location') or ''}".rstrip())
    return 0

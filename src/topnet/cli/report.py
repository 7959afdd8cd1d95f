"""``topnet report DIR``: rebuild a run directory's ``report.html`` from its files.

Errors (a missing directory, one that holds no run files) propagate as ``FileNotFoundError`` /
``ValueError`` for `topnet.cli.main` to print.

Example:
    >>> import argparse
    >>> parser = argparse.ArgumentParser(prog="topnet")
    >>> _ = add_report_parser(parser.add_subparsers(dest="command"))
    >>> parser.parse_args(["report", "runs/fm"]).run_dir
    'runs/fm'
"""
from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_report_parser", "run_report"]

_EPILOG = """examples:
  topnet report runs/fm            writes runs/fm/report.html
  topnet report runs/fm --quiet    the same, printing nothing

The page is self-contained (no network): open it in any browser, mail it, archive it.
"""


def add_report_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``report`` command to ``subparsers`` (from ``parser.add_subparsers()``).

    Args:
        subparsers: the ``_SubParsersAction`` of the ``topnet`` parser.

    Returns:
        The new sub-parser.
    """
    parser = subparsers.add_parser("report", help="rebuild report.html from a run directory",
                                   description="Rebuild DIR/report.html from the files `topnet run` wrote in DIR. "
                                               "Parts the run lacks are noted in the page.",
                                   formatter_class=argparse.RawDescriptionHelpFormatter, epilog=_EPILOG)
    parser.add_argument("run_dir", metavar="DIR", help="the run directory (the --out of `topnet run`)")
    parser.add_argument("--quiet", action="store_true", help="print nothing on success")
    return parser


def run_report(args: argparse.Namespace) -> int:
    """Build ``args.run_dir``/report.html (atomically) and print its path; return the exit code 0.

    Raises:
        FileNotFoundError: the directory does not exist.
        ValueError: it holds none of the run files.
    """
    from topnet.io import atomic_write_text
    from topnet.report.html import render_report
    from topnet.report.schema import read_run

    run = read_run(args.run_dir)  # the same steps as build_report, keeping the notes to print
    path = run.path / "report.html"
    atomic_write_text(path, render_report(run))
    if not getattr(args, "quiet", False):
        missing = sorted(k for k, v in run.notes.items() if v == "missing")
        print(f"report: {path}")
        if missing:
            print(f"not in this run (noted in the report): {', '.join(missing)}")
    return 0

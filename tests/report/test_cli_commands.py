"""`topnet report DIR` rebuilds report.html."""
from __future__ import annotations

import argparse

import pytest

from topnet.cli.report import add_report_parser, run_report


def _parse(argv):
    parser = argparse.ArgumentParser(prog="topnet")
    add_report_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_report_rebuilds_the_page(tools, tmp_path, capsys):
    tools.write_partial_run(tmp_path)
    assert run_report(_parse(["report", str(tmp_path)])) == 0
    out = capsys.readouterr().out
    assert f"report: {tmp_path / 'report.html'}" in out and "tune.json" in out
    first = (tmp_path / "report.html").read_text()
    assert "80.00%" in first
    assert run_report(_parse(["report", str(tmp_path), "--quiet"])) == 0  # again: replaced atomically
    assert capsys.readouterr().out == "" and (tmp_path / "report.html").read_text() == first
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left


def test_report_on_a_missing_directory_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope"):
        run_report(_parse(["report", str(tmp_path / "nope")]))

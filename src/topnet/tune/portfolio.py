"""Measured starting points for a search: per kind of data, configurations that did well.

A search that starts from random draws spends its first trials relearning what is known. A
new study therefore tries the default space's baseline, then this portfolio's entries for the
kind of data, in order of expected value (best measured first); TPE then models the space from
their results (the way AutoGluon's zero-shot portfolios and a warm-started TPE work).

The entries live in ``portfolio.json`` next to this module (package data), each with a
``measured`` note saying how, where and when it was measured and with what figure:

- ``images``: Fashion-MNIST, `bench/bench_long_recipes.py` (docs/benchmarks.md, "Longer
  training, augmentation or more members?");
- ``signals``: MNIST-1D, `bench/build_portfolio.py` (docs/benchmarks.md, "Search portfolio");
- ``vectors`` and ``tabular``: empty, as nothing has been measured for them yet.

Each entry names only parameters of its default space (`topnet.tune.defaults`); an entry that
a narrowed space cannot hold is skipped by `topnet.tune.space.SearchSpace.first_trials`.

Example:
    >>> default_portfolio("images")[0]["width"]
    64
    >>> default_portfolio("vectors")
    ()
"""
from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

from topnet.errors import unknown_name

__all__ = ["default_portfolio", "portfolio_entries"]

PORTFOLIO_FILE = "portfolio.json"


@functools.lru_cache(maxsize=1)
def _document() -> dict[str, Any]:
    text = resources.files("topnet.tune").joinpath(PORTFOLIO_FILE).read_text(encoding="utf-8")
    return json.loads(text)


def portfolio_entries(kind: str) -> tuple[dict[str, Any], ...]:
    """The portfolio of ``kind`` with its notes: ``({"config": {...}, "measured": "..."}, ...)``.

    Raises:
        ValueError: a kind that the portfolio file does not list.
    """
    kinds = [key for key, value in _document().items() if isinstance(value, list)]
    if kind not in kinds:
        raise unknown_name("data kind", kind, kinds)
    return tuple({"config": dict(entry["config"]), "measured": entry["measured"]} for entry in _document()[kind])


def default_portfolio(kind: str) -> tuple[dict[str, Any], ...]:
    """The configurations (partial: parameter values) a new study of ``kind`` tries after the
    baseline, best measured first.

    Args:
        kind: ``"images"``, ``"signals"``, ``"vectors"`` or ``"tabular"``.

    Raises:
        ValueError: an unknown kind.
    """
    return tuple(entry["config"] for entry in portfolio_entries(kind))

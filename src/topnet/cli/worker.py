"""``topnet worker``: join a study from another process or machine and run its trials.

    topnet tune --data fashion-mnist --budget 2h --storage postgresql://user@db/topnet --study-name fm
    topnet worker --study fm --storage postgresql://user@db/topnet          # on every other machine

The work itself is `topnet.tune.worker.join_study`; this module parses its arguments.

Example:
    >>> import argparse
    >>> parser = argparse.ArgumentParser(prog="topnet")
    >>> _ = add_worker_parser(parser.add_subparsers(dest="command"))
    >>> args = parser.parse_args(["worker", "--study", "fm", "--storage", "sqlite:///study.db"])
    >>> args.study, args.out, args.seed, args.device
    ('fm', 'runs/worker', None, None)
"""
from __future__ import annotations

import argparse
import json
from typing import Any

from topnet.cli.tune import add_study_arguments, quiet_optuna

__all__ = ["add_worker_parser", "run_worker"]


def add_worker_parser(subparsers: Any, name: str = "worker") -> argparse.ArgumentParser:
    """Add the ``worker`` command to ``subparsers``."""
    p = subparsers.add_parser(name, help="join a study and run its trials (another process or machine)")
    p.add_argument("--study", required=True, help="the study's name")
    p.add_argument("--budget", default=None, help="this worker's wall time or trials (default: the study's deadline)")
    p.add_argument("--trials", type=int, default=None, help="the most trials this worker runs")
    p.add_argument("--data-path", default=None, help="where the dataset's files are on this machine")
    add_study_arguments(p, is_worker=True)
    p.add_argument("--out", default="runs/worker", help="this worker's directory (checkpoints)")
    return p


def run_worker(args: argparse.Namespace) -> int:
    """Run ``topnet worker`` from parsed arguments; prints a JSON summary; returns the exit code."""
    from topnet.tune.worker import join_study

    quiet_optuna()
    report = join_study(args.study, args.storage, out=args.out, budget=args.budget, max_trials=args.trials,
                        data_path=args.data_path, seed=args.seed, device=args.device,
                        heartbeat_interval=args.heartbeat_interval, grace_period=args.grace_period,
                        verbose=0 if args.quiet else 1)
    print(json.dumps(report), flush=True)
    return 0

"""The ``topnet recipe`` command: ``topnet recipe list`` and ``topnet recipe run NAME``.

``run_recipe(args)`` returns the exit code. Errors (an unknown recipe, data that is not found)
propagate as ``ValueError`` / ``FileNotFoundError`` for `topnet.cli.main` to print.

Example:
    >>> import argparse
    >>> parser = argparse.ArgumentParser(prog="topnet")
    >>> _ = add_recipe_parser(parser.add_subparsers(dest="command"))
    >>> args = parser.parse_args(["recipe", "run", "deep-dnn", "--quick", "--seeds", "2"])
    >>> args.name, args.quick, args.seeds
    ('deep-dnn', True, 2)
"""
from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_recipe_parser", "run_recipe"]

_EPILOG = """examples:
  topnet recipe list
  topnet recipe run deep-dnn --quick                  a few seconds on a tiny subset
  topnet recipe run transfer --seeds 10               error rates over 10 seeds
  topnet recipe run separable-vs-conv --data ~/data/cifar-10-batches-py

Each run prints its table and writes table.md and result.json (and the recipe's plots and
logs) into --out (default: runs/recipe-NAME). The table gives mean ± sd over the seeds.
"""


def add_recipe_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``recipe`` command (with ``list`` and ``run``) to ``subparsers``.

    Args:
        subparsers: the ``_SubParsersAction`` of the ``topnet`` parser.

    Returns:
        The new sub-parser.
    """
    from topnet.recipes import list_recipes

    parser = subparsers.add_parser("recipe", help="run the books' experiments (topnet recipe list)",
                                   formatter_class=argparse.RawDescriptionHelpFormatter, epilog=_EPILOG,
                                   description="The experiments of Chollet ch. 7 and Géron ch. 11, runnable.")
    actions = parser.add_subparsers(dest="recipe_command", metavar="ACTION")
    actions.add_parser("list", help="list the recipes with a line on each")
    run = actions.add_parser("run", help="run one recipe and print its table", epilog=_EPILOG,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("name", metavar="NAME", help=f"one of: {', '.join(list_recipes())}")
    run.add_argument("--data", default=None, help="dataset name, folder (IDX or CIFAR-10 files) or .npz "
                     "(default: the recipe's, Fashion-MNIST for most)")
    run.add_argument("--seeds", type=int, default=None, help="number of seeds (default: 1 with --quick, "
                     "else the recipe's, usually 3)")
    run.add_argument("--quick", action="store_true", help="a tiny subset for a few seconds (a smoke test)")
    run.add_argument("--out", default=None, help="output folder (default: runs/recipe-NAME)")
    run.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    return parser


def run_recipe(args: argparse.Namespace) -> int:
    """Do what ``args`` asks (list the recipes, or run one and print its table); return the exit code.

    Raises:
        ValueError: an unknown recipe name (listing the recipes), or bad arguments.
    """
    from topnet.recipes import get_recipe, list_recipes

    action = getattr(args, "recipe_command", None)
    if action == "list":
        for name in list_recipes():
            print(f"{name:<22} {get_recipe(name).summary}")
        return 0
    if action != "run":
        print("usage: topnet recipe {list,run} ...; try: topnet recipe list")
        return 2
    recipe = get_recipe(args.name)
    out = args.out or f"runs/recipe-{args.name}"
    kwargs = {"seeds": args.seeds, "quick": args.quick, "out": out, "device": args.device}
    if args.data is not None:
        kwargs["data"] = args.data
    result = recipe.run(**kwargs)
    print(result)
    print(f"table: {out}/table.md")
    return 0

"""The books' experiments as runnable recipes: ``topnet recipe run NAME``.

Each recipe is one short module written on topnet's public API only (a test checks that it
touches no private name), with a function ``run(data=..., seeds=..., quick=..., out=...,
device=...)`` that trains what the book trains, scores each model once on the test split, and
returns a `RecipeResult`: a table of means and spreads over seeds, with the machine and date.
``quick=True`` runs a tiny subset for a few seconds (a smoke test, not a measurement).

| recipe                | book                 | compares                                                       |
| --------------------- | -------------------- | -------------------------------------------------------------- |
| separable-vs-conv     | Chollet 7.3.1, 7.3.3 | separable convnet, simple convnet (RMSprop, Adadelta), average |
| deep-dnn              | Géron ch. 11 ex. 8   | 20×100 ELU/He, + BN, SELU/LeCun, + alpha dropout, + MC dropout |
| transfer              | Géron 11.2           | sandal/shirt from 200 images: scratch vs reusing model A       |
| functional-api        | Chollet 7.1          | multi-input, multi-output, Siamese, model as a layer           |
| schedules             | Géron 11.3           | constant, power, exponential, piecewise, performance, 1cycle   |
| lr-finder             | Géron 11.3, Smith    | the learning-rate range test and its plot                      |
| callbacks-tensorboard | Chollet 7.2          | checkpoint, early stopping, plateau, CSV, custom, TensorBoard  |

Example:
    >>> "deep-dnn" in list_recipes()
    True
    >>> get_recipe("transfer").summary.startswith("Transfer learning")
    True
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from topnet.errors import unknown_name
from topnet.recipes.table import RecipeResult, mean_spread

__all__ = ["Recipe", "RecipeResult", "RECIPES", "list_recipes", "get_recipe", "mean_spread"]

#: recipe name -> the module that holds its ``run``.
RECIPES: dict[str, str] = {
    "separable-vs-conv": "topnet.recipes.separable_vs_conv",
    "deep-dnn": "topnet.recipes.deep_dnn",
    "transfer": "topnet.recipes.transfer",
    "functional-api": "topnet.recipes.functional_api",
    "schedules": "topnet.recipes.schedules",
    "lr-finder": "topnet.recipes.lr_finder",
    "callbacks-tensorboard": "topnet.recipes.callbacks_tensorboard",
}


@dataclass(frozen=True)
class Recipe:
    """A recipe: its name, the module that holds it, its one-line summary and its ``run``."""

    name: str
    module: str
    summary: str
    run: Callable[..., RecipeResult]


def list_recipes() -> list[str]:
    """The recipe names, in the order of the books' chapters."""
    return list(RECIPES)


def get_recipe(name: str) -> Recipe:
    """The recipe called ``name`` (its module is imported now).

    Raises:
        ValueError: an unknown name; the message lists the recipes and the closest match.
    """
    if name not in RECIPES:
        raise unknown_name("recipe", name, RECIPES)
    module: Any = importlib.import_module(RECIPES[name])
    summary = (module.__doc__ or "").strip().splitlines()[0]
    return Recipe(name=name, module=RECIPES[name], summary=summary, run=module.run)

"""The recipes use topnet's public API only: they import from the public packages, take only
names listed in their ``__all__``, and touch no name that starts with an underscore."""
from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import topnet.recipes

#: Modules whose ``__all__`` is topnet's public API (the recipes' own modules are added below).
PUBLIC = {"topnet", "topnet.data", "topnet.nn", "topnet.train", "topnet.callbacks", "topnet.uncertainty",
          "topnet.ensemble", "topnet.errors", "topnet.seeding", "topnet.io"}
RECIPE_MODULES = sorted(f"topnet.recipes.{m.name}" for m in pkgutil.iter_modules(topnet.recipes.__path__))
ALLOWED = PUBLIC | {"topnet.recipes", *RECIPE_MODULES}


def private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def public_names(module: str) -> set[str]:
    """``__all__`` of ``module``, plus its public subpackages (``topnet.train`` is reachable from ``topnet``)."""
    names = set(getattr(importlib.import_module(module), "__all__", ()))
    return names | {m.split(".")[-1] for m in ALLOWED if m.rsplit(".", 1)[0] == module}


def dotted(node: ast.AST) -> list[str] | None:
    """``a.b.c`` as ``["a", "b", "c"]``; None when the chain does not start at a plain name."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    return [node.id, *reversed(parts)] if isinstance(node, ast.Name) else None


def private_uses(source: str) -> list[str]:
    """Every use of a private or non-public topnet name in ``source``, as readable strings."""
    problems, aliases = [], {}  # aliases: local name -> topnet module
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if any(private(part) for part in alias.name.split(".")):
                    problems.append(f"import {alias.name}")
                if alias.name.startswith("topnet"):
                    if alias.name not in ALLOWED:
                        problems.append(f"import {alias.name} (not a public module)")
                    aliases[alias.asname or alias.name.split(".")[0]] = alias.asname and alias.name or "topnet"
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level or any(private(part) for part in module.split(".")):
                problems.append(f"from {'.' * node.level}{module} import ...")
            for alias in node.names:
                if private(alias.name):
                    problems.append(f"from {module} import {alias.name}")
                elif module.startswith("topnet"):
                    if module not in ALLOWED:
                        problems.append(f"from {module} import {alias.name} (not a public module)")
                    elif alias.name not in public_names(module):
                        problems.append(f"from {module} import {alias.name} (not in its __all__)")
        elif isinstance(node, ast.Attribute) and private(node.attr):
            problems.append(f"attribute .{node.attr}")
    for node in ast.walk(tree):  # chains such as topnet.train.resolve_device
        chain = dotted(node) if isinstance(node, ast.Attribute) else None
        if chain and chain[0] in aliases:
            module = aliases[chain[0]]
            for part in chain[1:]:
                if part not in public_names(module):
                    problems.append(f"{'.'.join(chain)} ({part} is not public in {module})")
                    break
                if f"{module}.{part}" not in ALLOWED:
                    break  # reached a public function or class: its own attributes are its business
                module = f"{module}.{part}"
    return problems


@pytest.mark.parametrize("module", RECIPE_MODULES)
def test_recipe_modules_use_only_the_public_api(module):
    path = Path(importlib.import_module(module).__file__)
    assert private_uses(path.read_text()) == []


def test_every_registered_recipe_is_checked():
    assert len(topnet.recipes.list_recipes()) >= 7
    assert set(topnet.recipes.RECIPES.values()) <= set(RECIPE_MODULES)


@pytest.mark.parametrize("source", [
    "from topnet.train.loop import fit",
    "from topnet.nn import _image_shape",
    "from topnet.nn import MODELS",
    "import topnet\ntopnet.train.loop.fit",
    "import topnet\ntopnet._version",
    "import torch\ntorch._C",
    "from . import common",
    "import topnet.data.registry",
    "from topnet.callbacks.diagnostics import Diagnostics",
])
def test_the_check_finds_private_uses(source):
    assert private_uses(source)


@pytest.mark.parametrize("source", [
    "import topnet\ntopnet.fit\ntopnet.train.resolve_device",
    "from topnet.nn import create_model, freeze\nfrom topnet.recipes.common import train_model",
    "import topnet\ntopnet.data.Splits(train=None).train.x.shape",
    "class A:\n    def __init__(self):\n        self.x = 1",
])
def test_the_check_accepts_public_uses(source):
    assert private_uses(source) == []

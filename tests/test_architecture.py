"""Architecture checks on the topnet package, read statically from src/topnet.

No module is imported: each ``src/topnet/**/*.py`` file is parsed with :mod:`ast`, so these
tests see every import, optional dependencies included, and need none of them installed.

**The import graph.** One node per module; a package's ``__init__.py`` is its own node, named
after the package (``topnet.ensemble``). An edge ``a -> b`` means module ``a`` imports ``b``:

* ``import topnet.x.y`` is an edge to ``topnet.x.y``.
* ``from topnet.x import y`` is an edge to ``topnet.x.y`` when ``y`` is a submodule of
  ``topnet.x``, otherwise (``y`` is a name defined or re-exported there) an edge to ``topnet.x``.
* Relative imports are resolved against the importing module's package first.
* Imports at module level and inside functions, methods and classes all count: an import
  deferred into a function that closes a cycle still makes a cycle (the two modules cannot be
  understood, tested or moved apart), it only hides it from the interpreter.
* Imports under ``if TYPE_CHECKING:`` do not count: they never run.
* Importing ``topnet.x.y`` runs ``topnet/x/__init__.py`` first. From a module outside
  ``topnet.x`` that is an edge to ``topnet.x`` as well, because that ``__init__`` really runs
  then (and whatever it imports): ``topnet.sklearn`` importing ``topnet.ensemble.estimator``
  depends on ``topnet/ensemble/__init__.py``. From inside ``topnet.x`` the package is already
  being imported, so no edge is drawn; ``topnet/__init__.py`` never gets one this way.

**The re-export rule.** A package ``__init__`` that re-exports its submodules' names has an
edge to each submodule. So a submodule ``topnet.x.sub`` that imports a sibling through the
package (``from topnet.x import Thing``) has an edge to ``topnet.x``, and the cycle
``topnet.x.sub -> topnet.x -> topnet.x.sub`` is reported: inside a package, import a sibling
from its own module (``from topnet.x.thing import Thing``). Importing *another* package's
public names through its ``__init__`` (``from topnet.data import Dataset`` in
``topnet.ensemble.members``) is what the ``__init__`` is for, and makes a cycle only when
something that ``__init__`` imports reaches back to the importer.

A cycle is a strongly connected component of more than one module (or a module importing
itself). The test lists each one with shortest loops through its modules, every edge with the
``file:line`` of the import that makes it.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "topnet"


def _module_name(path: Path, src: Path) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules(src: Path = SRC) -> dict[str, Path]:
    """Every module of the package: ``{'topnet.ensemble.members': Path(...), ...}``."""
    return {_module_name(path, src): path for path in sorted((src / PACKAGE).rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_imports(tree: ast.AST):
    """Yield every ``Import``/``ImportFrom`` node, at any depth, except under ``if TYPE_CHECKING:``."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:  # the `else:` branch does run
                yield from _runtime_imports(ast.Module(body=[child], type_ignores=[]))
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        yield from _runtime_imports(node)


def _resolve_from(node: ast.ImportFrom, importer: str, is_package: bool) -> str:
    """The absolute module a ``from ... import`` names, relative levels resolved."""
    if node.level == 0:
        return node.module or ""
    base = importer.split(".")
    if not is_package:
        base = base[:-1]  # a plain module's relative imports start from its package
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _ancestors_entered(target: str, importer: str) -> list[str]:
    """The packages whose ``__init__`` importing ``target`` runs first, leaving out the importer's own."""
    parts = target.split(".")
    packages = [".".join(parts[:i]) for i in range(2, len(parts))]
    return [p for p in packages if importer != p and not importer.startswith(p + ".")]


def _imported_modules(name: str, path: Path, modules: dict[str, Path], src: Path) -> dict[str, str]:
    """``{imported topnet module: where}`` for module ``name`` (the rules: the module docstring)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    named: dict[str, str] = {}  # imports the source names
    entered: dict[str, str] = {}  # package __init__s those imports run first
    for node in _runtime_imports(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = _resolve_from(node, name, is_package)
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        where = f"{path.relative_to(src)}:{node.lineno}"
        for target in targets:
            named.setdefault(target, where)
            for package in _ancestors_entered(target, name):
                entered.setdefault(package, f"{where}, which runs {package}'s __init__ first")
    edges = {**entered, **named}
    return {target: where for target, where in edges.items() if target in modules}


def import_graph(src: Path = SRC) -> dict[str, dict[str, str]]:
    """``{module: {module it imports: file:line of the import}}`` over every topnet module."""
    modules = _modules(src)
    return {name: _imported_modules(name, path, modules, src) for name, path in modules.items()}


def strongly_connected_components(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative; every component, each sorted, singletons included."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component))
    return components


def import_cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The components that are cycles: more than one module, or a module importing itself."""
    return [
        component
        for component in strongly_connected_components(graph)
        if len(component) > 1 or component[0] in graph[component[0]]
    ]


def _shortest_loop(start: str, graph: Mapping[str, Iterable[str]], within: set[str]) -> list[str]:
    """A shortest path ``start -> ... -> start`` inside ``within`` (breadth first)."""
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(graph[node]):
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if child in within and child not in came_from:
                    came_from[child] = node
                    following.append(child)
        frontier = following
    return []


def _describe(cycle: list[str], graph: dict[str, dict[str, str]]) -> str:
    """The modules of one cycle, then shortest loops covering them, every edge with its import line."""
    lines = [f"  {len(cycle)} modules: {', '.join(cycle)}"]
    covered: set[str] = set()
    for module in cycle:
        if module in covered:
            continue
        loop = _shortest_loop(module, graph, set(cycle))
        covered.update(loop)
        lines.append("    loop: " + " -> ".join(loop))
        lines.extend(f"      {a} -> {b}  ({graph[a][b]})" for a, b in zip(loop, loop[1:]))
    return "\n".join(lines)


def test_graph_reader_sees_the_package():
    graph = import_graph()
    assert len(graph) >= 100, f"only {len(graph)} modules found under {SRC / PACKAGE}"
    assert "topnet.ensemble.members" in graph["topnet.ensemble"]  # __init__ re-exports


def test_graph_rules_on_a_small_package(tmp_path):
    files = {
        "__init__.py": "",
        "base.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from topnet.pkg.a import A\n",
        "pkg/__init__.py": "from topnet.pkg.a import A\n",
        "pkg/a.py": "from . import b\nfrom .b import B\n",
        "pkg/b.py": "def f():\n    import topnet.base\n",
        "pkg/sub/__init__.py": "",
        "pkg/sub/c.py": "from ..a import A\nfrom topnet.pkg import A\n",
        "user.py": "from topnet.pkg.sub import c\n",
    }
    for name, text in files.items():
        (tmp_path / PACKAGE / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / PACKAGE / name).write_text(text)
    graph = {module: set(edges) for module, edges in import_graph(tmp_path).items()}
    assert graph == {
        "topnet": set(),
        "topnet.base": set(),  # only under TYPE_CHECKING
        "topnet.pkg": {"topnet.pkg.a"},
        "topnet.pkg.a": {"topnet.pkg.b"},  # a submodule named in `from . import b`
        "topnet.pkg.b": {"topnet.base"},  # inside a function
        "topnet.pkg.sub": set(),
        "topnet.pkg.sub.c": {"topnet.pkg.a", "topnet.pkg"},  # a name through the package __init__
        "topnet.user": {"topnet.pkg.sub.c", "topnet.pkg", "topnet.pkg.sub"},  # __init__s run first
    }


def test_cycle_finder_on_a_known_graph():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"d"}, "e": {"a"}, "f": set()}
    assert import_cycles(graph) == [["a", "b", "c"], ["d"]]


def test_no_import_cycles():
    graph = import_graph()
    cycles = import_cycles(graph)
    report = "\n".join(_describe(cycle, graph) for cycle in cycles)
    assert not cycles, f"{len(cycles)} import cycle(s) among topnet modules:\n{report}"


def _classes_deriving_from(base: str, modules: dict[str, Path]) -> dict[str, list[str]]:
    """``{module: [class names]}`` for every class whose bases, followed through the package, reach ``base``.

    Bases are matched by their last name (``Callback``, ``callbacks.Callback``), then through
    classes defined in the package, so a subclass of a subclass is found too.
    """
    bases_of: dict[tuple[str, str], set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                names = {ast.unparse(b).rpartition(".")[2] for b in node.bases}
                bases_of[(name, node.name)] = names
    derived = {base}
    changed = True
    while changed:
        changed = False
        for (_, cls), names in bases_of.items():
            if cls not in derived and names & derived:
                derived.add(cls)
                changed = True
    found = defaultdict(list)
    for (module, cls), names in bases_of.items():
        if names & derived:
            found[module].append(cls)
    return found


def test_callbacks_live_in_the_callbacks_package():
    """Every Callback subclass is defined under topnet/callbacks/, where users look for one.

    Written while issue 20 moved them there; it failed until the callbacks defined in
    recipes/, train/, tune/ and pipeline/ had moved. Classes are matched by name, so a base
    imported under another name (``import Callback as Hook``) is not followed.
    """
    found = _classes_deriving_from("Callback", _modules())
    elsewhere = {
        module: classes
        for module, classes in sorted(found.items())
        if not module.startswith(f"{PACKAGE}.callbacks.") and module != f"{PACKAGE}.callbacks"
    }
    listing = "\n".join(f"  {module}: {', '.join(sorted(c))}" for module, c in elsewhere.items())
    assert not elsewhere, f"Callback subclasses outside topnet/callbacks/:\n{listing}"

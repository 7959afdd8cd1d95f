"""The README's and docs/'s Python examples run as written (each file's blocks in order, in one
namespace, as a reader runs them)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Files with a dedicated test of their own (which also checks the printed output).
OWN_TESTS = {"functional_api.md"}
FILES = [ROOT / "README.md", *sorted(p for p in (ROOT / "docs").glob("*.md") if p.name not in OWN_TESTS)]


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


def test_the_readme_has_examples():
    assert len(python_blocks(ROOT / "README.md")) >= 3


SLOW = {"run.md", "text.md"}  # its example is a whole `topnet run`: over 30 s


@pytest.mark.parametrize("path", [pytest.param(p, marks=[pytest.mark.slow] if p.name in SLOW else [])
                                  for p in FILES if python_blocks(p)], ids=lambda p: p.name)
def test_examples_run(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for index, code in enumerate(python_blocks(path)):
        if 'load("fashion-mnist")' in code:
            assert Path("/usr/share/datasets/fashion-mnist").exists(), \
                "Fashion-MNIST missing: run scripts/setup.sh (installs dataset-fashion-mnist)"
        exec(compile(code, f"{path.name}[block {index}]", "exec"), namespace)

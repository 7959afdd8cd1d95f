"""The README's Python examples run as written."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_examples():
    assert len(python_blocks()) >= 3


@pytest.mark.parametrize("index", range(len(python_blocks())))
def test_readme_example_runs(index, tmp_path, monkeypatch):
    code = python_blocks()[index]
    if 'load("fashion-mnist")' in code and not Path("/usr/share/datasets/fashion-mnist").exists():
        pytest.fail("Fashion-MNIST missing: run scripts/setup.sh (installs dataset-fashion-mnist)")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    # Blocks build on earlier ones (imports, the model), as a reader runs them.
    for earlier in python_blocks()[:index]:
        if 'load("fashion-mnist")' not in earlier:
            exec(compile(earlier, "README.md", "exec"), namespace)
    exec(compile(code, "README.md", "exec"), namespace)

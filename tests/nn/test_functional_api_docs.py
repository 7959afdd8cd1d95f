"""docs/functional_api.md runs as written, and prints what its comments say.

Every ```python block runs in order in one namespace, as a reader runs them. A line
``print(...)  # text`` must print a prefix of ``text``; a ``print(...)`` without a comment is
checked against a comment line right below it.
"""
from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "functional_api.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


def expected_prints(block: str) -> list[str | None]:
    """The comment that documents each top-level ``print(...)`` line of ``block``, in order."""
    lines = block.splitlines()
    expected = []
    for i, line in enumerate(lines):
        if not line.startswith("print("):
            continue
        comment = line.partition(")  # ")[2] if ")  # " in line else None
        if comment is None and i + 1 < len(lines) and lines[i + 1].startswith("# "):
            comment = lines[i + 1][2:]
        expected.append(comment)
    return expected


def test_the_doc_has_the_four_examples():
    assert len(python_blocks()) == 5  # imports + the chapter's four models
    text = DOC.read_text(encoding="utf-8")
    for name in ("QuestionAnswering", "PostsModel", "SiameseLSTM", "DualCamera"):
        assert f"class {name}(nn.Module)" in text


def test_blocks_run_and_print_what_they_say(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "functional_api_doc"}
    for index, block in enumerate(python_blocks()):
        output = io.StringIO()
        with contextlib.redirect_stdout(output):
            exec(compile(block, f"{DOC.name} block {index}", "exec"), namespace)
        printed = output.getvalue().splitlines()
        expected = expected_prints(block)
        assert len(printed) == len(expected), (index, printed)
        for got, want in zip(printed, expected):
            if want is None:
                pytest.fail(f"block {index}: print without a comment saying what it prints: {got}")
            assert want.startswith(got), f"block {index}: printed {got!r}; the doc says {want!r}"

"""docs/ensembles.md: its Python blocks run as written, in order."""
from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "ensembles.md"


def test_ensembles_guide_runs(tmp_path, monkeypatch, capsys):
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) >= 6
    monkeypatch.chdir(tmp_path)  # the guide writes diversity.png and my_ensemble/
    namespace: dict = {}
    for index, code in enumerate(blocks):
        exec(compile(code, f"{DOC.name}[block {index}]", "exec"), namespace)
    assert (tmp_path / "diversity.png").exists() and (tmp_path / "my_ensemble" / "ensemble.json").exists()

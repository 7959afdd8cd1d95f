"""Every recipe that reads data runs with ``--quick`` on the real Fashion-MNIST files (Debian's
``dataset-fashion-mnist`` package; never downloaded), as ``topnet recipe run NAME --quick`` does."""
from __future__ import annotations

from pathlib import Path

import pytest

from topnet.recipes import get_recipe, list_recipes

FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in list_recipes() if n != "functional-api"])
def test_quick_run_on_fashion_mnist(name, tmp_path):
    assert FASHION_MNIST.exists(), "Fashion-MNIST missing: run scripts/setup.sh (installs dataset-fashion-mnist)"
    result = get_recipe(name).run(data=str(FASHION_MNIST), quick=True, out=tmp_path, device="cpu")
    assert result.setting["data"].startswith(("fashion-mnist", "task A")), result.setting["data"]
    assert (tmp_path / "table.md").read_text().count("|") > 10

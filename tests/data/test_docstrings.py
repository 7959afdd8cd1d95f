"""Run the examples in topnet.data's docstrings."""
import doctest
import importlib

import pytest

MODULES = ["dataset", "idx", "cifar", "npz", "csv", "registry", "splits", "transforms"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(f"topnet.data.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0

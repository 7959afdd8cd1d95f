"""Names that moved below ``topnet.train`` (so that callbacks never import it) stay importable
from their old modules, as the very same objects."""
from __future__ import annotations

import importlib

import pytest

MOVED = [
    ("topnet.train.state", "topnet.callbacks.state", "TrainState"),
    ("topnet.train.state", "topnet.callbacks.state", "capture_rng_state"),
    ("topnet.train.state", "topnet.callbacks.state", "restore_rng_state"),
    ("topnet.train", "topnet.callbacks.state", "TrainState"),
    ("topnet.train.checks", "topnet.nn.call", "call_model"),
    ("topnet.train.diagnostics", "topnet.nn.probe", "Probe"),
    ("topnet.train.diagnostics", "topnet.nn.diagnosis", "Diagnosis"),
    ("topnet.train.diagnostics", "topnet.nn.diagnosis", "Finding"),
    ("topnet.train.diagnostics", "topnet.nn.diagnosis", "LayerStats"),
    ("topnet.train", "topnet.nn.diagnosis", "Diagnosis"),
    ("topnet.train.pruning", "topnet.nn.weight_masks", "apply_masks"),
    ("topnet.train.pruning", "topnet.nn.weight_masks", "sparsity"),
    ("topnet.train", "topnet.nn.weight_masks", "apply_masks"),
    ("topnet.train", "topnet.nn.weight_masks", "sparsity"),
]


@pytest.mark.parametrize(("old", "new", "name"), MOVED)
def test_old_module_still_exports_the_moved_name(old, new, name):
    old_module, new_module = importlib.import_module(old), importlib.import_module(new)
    assert getattr(old_module, name) is getattr(new_module, name)
    if hasattr(old_module, "__all__"):
        assert name in old_module.__all__

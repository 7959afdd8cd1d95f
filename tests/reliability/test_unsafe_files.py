"""Scenario 4: unsafe model files are refused without running anything — a pickle that would
execute code, a checkpoint holding arbitrary objects, malformed safetensors headers — and
non-finite weights are reported on load. (tests/test_io.py and tests/data/test_cifar.py hold
more cases.)"""
from __future__ import annotations

import argparse
import json
import os
import struct

import pytest
import torch
from torch import nn

import topnet
from topnet.callbacks import BackupAndRestore
from topnet.errors import CheckpointError, UnsafeFileError
from topnet.io import load_model, load_weights, safe_torch_load, save_model
from reliability_helpers import write_backup


class RunsCode:
    """Unpickling this runs a shell command (it would create the marker file)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_torch_checkpoint_that_would_run_code_is_refused(tmp_path):
    torch.save({"model": RunsCode(tmp_path / "pwned")}, tmp_path / "evil.pt")
    with pytest.raises(UnsafeFileError, match="refused without running it"):
        safe_torch_load(tmp_path / "evil.pt")
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("payload", [
    lambda tmp_path: {"format": "topnet.backup", "model": RunsCode(tmp_path / "pwned")},
    lambda tmp_path: {"format": "topnet.backup", "settings": argparse.Namespace(lr=0.1)},  # any other object
], ids=["code", "arbitrary object"])
def test_a_backup_holding_objects_is_refused_on_resume_not_run_and_not_ignored(tmp_path, payload):
    backup_dir = tmp_path / "backup"
    backup_dir.mkdir()
    write_backup(backup_dir / "backup.pt", payload(tmp_path))  # a valid checksum: the content is the problem
    x = torch.randn(8, 3)
    with pytest.raises(UnsafeFileError):
        topnet.fit(nn.Linear(3, 2), (x, torch.arange(8) % 2), callbacks=[BackupAndRestore(backup_dir)], verbose=0)
    assert not (tmp_path / "pwned").exists() and (backup_dir / "backup.pt").exists()


def _safetensors(header, data=b""):
    text = json.dumps(header).encode() if isinstance(header, dict) else header
    return struct.pack("<Q", len(text)) + text + data


HEADERS = {
    "header length beyond the file": lambda: struct.pack("<Q", 10**12) + b"{}",
    "header not JSON": lambda: _safetensors(b"{not json"),
    "offsets beyond the data": lambda: _safetensors({"weight": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
                                                     "bias": {"dtype": "F32", "shape": [2], "data_offsets": [24, 32]}},
                                                    b"\0" * 16),
    "unknown dtype": lambda: _safetensors({"weight": {"dtype": "PICKLE", "shape": [2, 3], "data_offsets": [0, 24]}},
                                          b"\0" * 24),
    "shape and size disagree": lambda: _safetensors({"weight": {"dtype": "F32", "shape": [200, 3], "data_offsets": [0, 24]}},
                                                    b"\0" * 24),
    "empty file": lambda: b"",
}


@pytest.mark.parametrize("blob", HEADERS.values(), ids=HEADERS.keys())
def test_malformed_safetensors_are_refused_and_leave_the_model_alone(tmp_path, blob):
    (tmp_path / "w.safetensors").write_bytes(blob())
    model = nn.Linear(3, 2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(UnsafeFileError, match="not a valid safetensors file"):
        load_weights(model, tmp_path / "w.safetensors")
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_a_config_naming_code_is_never_imported(tmp_path):
    save_model(nn.Linear(3, 2), tmp_path / "m", config={"builder": "os.system", "kwargs": {"command": "touch x"}})
    with pytest.raises(CheckpointError, match="not registered"):
        load_model(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    (tmp_path / "m" / "config.json").write_text(json.dumps({**config, "builder": None, "class": "os.system"}))
    with pytest.raises(CheckpointError, match="pass the module to load into"):
        load_model(tmp_path / "m")


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_weights_are_reported_on_load(tmp_path, bad):
    model = nn.Linear(3, 2)
    with torch.no_grad():
        model.bias[1] = bad
    save_model(model, tmp_path / "m")
    with pytest.warns(RuntimeWarning, match=r"non-finite values \(NaN or inf\) in \['bias'\]"):
        load_model(tmp_path / "m", model=nn.Linear(3, 2))


"""Model files: safetensors + JSON config, atomic writes, refusing unsafe files."""
from __future__ import annotations

import json
import os
import pickle

import pytest
import torch
from torch import nn

from topnet.errors import CheckpointError, UnsafeFileError
from topnet.io import atomic_writer, load_model, load_weights, safe_torch_load, save_model, save_weights
from topnet.nn import create_model


def test_builder_model_round_trips_without_pickle(tmp_path):
    torch.manual_seed(0)
    model = create_model("small_convnet", input_shape=[1, 12, 12], num_classes=4, filters=[4], dense=8)
    model.eval()
    path = save_model(model, tmp_path / "m", metadata={"class_names": ["a", "b", "c", "d"]})
    config = json.loads((path / "config.json").read_text())
    assert config["builder"] == "small_convnet" and config["kwargs"]["filters"] == [4]
    loaded = load_model(path)
    x = torch.randn(3, 1, 12, 12)
    assert torch.equal(loaded(x), model(x))
    # BatchNorm running statistics are buffers: they travel too.
    assert torch.equal(loaded[1].running_var, model[1].running_var)


def test_user_module_needs_the_module_to_load_into(tmp_path):
    model = nn.Linear(3, 2)
    save_model(model, tmp_path / "m")
    with pytest.raises(CheckpointError, match="model=YourModel"):
        load_model(tmp_path / "m")
    other = load_model(tmp_path / "m", model=nn.Linear(3, 2))
    assert torch.equal(other.weight, model.weight)
    with pytest.raises(CheckpointError, match="do not match"):
        load_model(tmp_path / "m", model=nn.Linear(4, 2))


def test_tied_weights_save(tmp_path):
    a = nn.Linear(3, 3)
    model = nn.Sequential(a, a)
    save_weights(model, tmp_path / "w.safetensors")
    fresh = nn.Sequential(nn.Linear(3, 3))
    fresh = nn.Sequential(fresh[0], fresh[0])
    load_weights(fresh, tmp_path / "w.safetensors")
    assert torch.equal(fresh[0].weight, a.weight)


def test_malformed_safetensors_header_is_refused(tmp_path):
    save_model(nn.Linear(3, 2), tmp_path / "m")
    weights = tmp_path / "m" / "weights.safetensors"
    blob = weights.read_bytes()
    weights.write_bytes((10**12).to_bytes(8, "little") + blob[8:])  # header length beyond the file
    with pytest.raises(UnsafeFileError, match="not a valid safetensors"):
        load_model(tmp_path / "m", model=nn.Linear(3, 2))
    weights.write_bytes(blob[: len(blob) // 2])  # truncated
    with pytest.raises(UnsafeFileError):
        load_model(tmp_path / "m", model=nn.Linear(3, 2))


def test_unknown_builder_in_config_is_refused_not_imported(tmp_path):
    save_model(nn.Linear(3, 2), tmp_path / "m", config={"builder": "os:system", "kwargs": {}})
    with pytest.raises(CheckpointError, match="not registered"):
        load_model(tmp_path / "m")


def test_non_finite_weights_warn_on_load(tmp_path):
    model = nn.Linear(3, 2)
    with torch.no_grad():
        model.weight[0, 0] = float("nan")
    save_model(model, tmp_path / "m")
    with pytest.warns(RuntimeWarning, match="non-finite"):
        load_model(tmp_path / "m", model=nn.Linear(3, 2))


class _Boom:
    def __reduce__(self):
        return (os.system, ("echo pwned > pwned.txt",))


def test_pickle_that_runs_code_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pt"
    with open(path, "wb") as handle:
        pickle.dump({"model": _Boom()}, handle)
    with pytest.raises(UnsafeFileError, match="refused"):
        safe_torch_load(path)
    assert not (tmp_path / "pwned.txt").exists()


def test_atomic_writer_keeps_the_old_file_on_error(tmp_path):
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_writer(target) as handle:
            handle.write(b"half")
            raise RuntimeError("disk full")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]  # no temporary left behind


def test_create_model_errors():
    with pytest.raises(ValueError, match="did you mean 'mlp'"):
        create_model("mpl", input_shape=[4], num_classes=2)
    with pytest.raises(TypeError, match="unexpected arguments"):
        create_model("mlp", input_shape=[4], num_classes=2, widht=3)


def test_atomic_files_get_the_usual_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_writer(tmp_path / "f.txt", "w") as handle:
            handle.write("x")
    finally:
        os.umask(old)
    assert (tmp_path / "f.txt").stat().st_mode & 0o777 == 0o644

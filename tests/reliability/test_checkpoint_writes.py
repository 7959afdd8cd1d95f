"""Scenario 2: a crash inside a checkpoint write never damages the previous checkpoint.

An exception while serialising, a disk-full error half-way through the bytes, and SIGKILL at
seeded byte offsets while a large backup is being written: the previous backup stays readable,
the run resumes from it and ends bit-identical to an uninterrupted run, and the temporary file a
killed write leaves behind is removed at the next start."""
from __future__ import annotations

import errno
import random

import pytest
import torch
from torch import nn

import topnet
import topnet.io
from topnet.callbacks import BackupAndRestore, Callback, ModelCheckpoint
from reliability_helpers import differences, read_backup, run_script


def _data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(48, 4, generator=g)
    return x, (x[:, 0] > 0).long()


def _fit(backup_dir, callbacks=(), epochs=4):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.2), nn.Linear(8, 2))
    topnet.fit(model, _data(), epochs=epochs, batch_size=8, seed=1, verbose=0,
               callbacks=[BackupAndRestore(backup_dir), *callbacks])
    return model.state_dict()


class ArmAt(Callback):
    """Calls ``arm()`` at the end of epoch ``epoch``: the next write (the next epoch's backup) fails."""

    def __init__(self, epoch, arm):
        self.epoch, self.arm = epoch, arm

    def on_epoch_end(self, state):
        if state.epoch == self.epoch:
            self.arm()


def _fail_serialising(monkeypatch):
    import topnet.callbacks.backup_and_restore as module

    def broken_save(obj, f, *args, **kwargs):
        f.write(b"partial")
        raise RuntimeError("cannot pickle this object")

    monkeypatch.setattr(module.torch, "save", broken_save)
    return RuntimeError


def _disk_full_half_way(monkeypatch):
    real_fdopen = topnet.io.os.fdopen

    class HalfWritten:
        def __init__(self, handle):
            self.handle = handle

        def write(self, data):
            self.handle.write(bytes(data[: len(data) // 2]))
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, name):
            return getattr(self.handle, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return self.handle.__exit__(*exc)

    monkeypatch.setattr(topnet.io.os, "fdopen", lambda *a, **k: HalfWritten(real_fdopen(*a, **k)))
    return OSError


@pytest.mark.parametrize("fault", [_fail_serialising, _disk_full_half_way])
def test_a_failed_backup_write_keeps_the_previous_backup_and_resume_uses_it(tmp_path, monkeypatch, fault):
    reference = _fit(tmp_path / "reference")
    raised = []
    with pytest.raises(Exception) as caught:
        _fit(tmp_path / "run", [ArmAt(1, lambda: raised.append(fault(monkeypatch)))])
    assert isinstance(caught.value, raised[0])
    monkeypatch.undo()
    assert [p.name for p in (tmp_path / "run").iterdir() if p.suffix == ".tmp"] == []  # the temporary file is gone
    good = [read_backup(p)["epoch"] for p in sorted((tmp_path / "run").glob("backup*.pt"))]
    assert 1 in good  # epoch 1's backup survived, under whichever name
    assert differences(_fit(tmp_path / "run"), reference) == []


def test_a_failed_weights_write_keeps_the_previous_file(tmp_path, monkeypatch):
    model = nn.Linear(3, 2)
    path = tmp_path / "best.safetensors"
    checkpoint = ModelCheckpoint(path, monitor="loss", save_weights_only=True)
    state = topnet.train.state.TrainState(model=model, logs={"loss": 1.0})
    checkpoint.on_epoch_end(state)
    saved = path.read_bytes()
    with torch.no_grad():
        model.weight.add_(1.0)
    _disk_full_half_way(monkeypatch)
    with pytest.raises(OSError, match="No space"):
        checkpoint.on_epoch_end(state)
    monkeypatch.undo()
    assert path.read_bytes() == saved and sorted(p.name for p in tmp_path.iterdir()) == ["best.safetensors"]


@pytest.fixture(scope="module")
def large_reference(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("large-reference")
    done = run_script(run_dir, "--width", 4000, "--epochs", 3)
    assert done.returncode == 0, done.stderr
    return torch.load(run_dir / "result.pt")


@pytest.mark.slow
@pytest.mark.parametrize("offset", random.Random(2).sample(range(0, 400_000, 4096), 3))
def test_sigkill_while_writing_a_large_backup(tmp_path, large_reference, offset):
    killed = run_script(tmp_path, "--width", 4000, "--epochs", 3, "--kill", f"write:{offset}")
    assert killed.returncode == -9, killed.stderr
    backups = tmp_path / "backup"
    leftovers = list(backups.glob(".*.tmp"))
    assert len(leftovers) == 1 and leftovers[0].stat().st_size >= offset  # killed inside the write
    assert read_backup(backups / "backup.prev.pt")["epoch"] == 0  # the previous backup is whole
    resumed = run_script(tmp_path, "--width", 4000, "--epochs", 3)
    assert resumed.returncode == 0, resumed.stderr
    assert differences(torch.load(tmp_path / "result.pt"), large_reference) == []
    assert list(backups.iterdir()) == []  # the leftover was removed at the start; the backups at the end


@pytest.mark.parametrize("filepath, leftover", [
    ("w-{epoch:02d}.safetensors", ".w-01.safetensors.k3j2h1g0.tmp"),
    ("best.safetensors", ".best.safetensors.k3j2h1g0.tmp"),
    ("model", "model/.weights.safetensors.k3j2h1g0.tmp"),
])
def test_model_checkpoint_removes_the_leftovers_of_a_killed_write_at_the_next_start(tmp_path, filepath, leftover):
    (tmp_path / leftover).parent.mkdir(exist_ok=True)
    (tmp_path / leftover).write_bytes(b"half a file")
    (tmp_path / ".notes.txt.tmp").write_text("not ours")
    weights_only = filepath.endswith(".safetensors")
    checkpoint = ModelCheckpoint(tmp_path / filepath, monitor="loss", save_weights_only=weights_only)
    topnet.fit(nn.Linear(4, 2), _data(), epochs=1, verbose=0, callbacks=[checkpoint])
    assert not (tmp_path / leftover).exists() and (tmp_path / ".notes.txt.tmp").exists()

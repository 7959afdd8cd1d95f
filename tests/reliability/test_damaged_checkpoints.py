"""Scenario 3: a truncated or bit-flipped latest backup is detected by its checksum, set aside, and
the run resumes from the previous one with a warning (ending bit-identical to an uninterrupted
run); when no backup is good the error is clear and nothing starts from scratch."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import topnet
from topnet.callbacks import BackupAndRestore, Callback
from topnet.errors import CheckpointError
from reliability_helpers import differences


class Crash(Callback):
    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, state):
        if state.epoch == self.epoch:
            raise KeyboardInterrupt  # stands in for a kill: the backups stay


class SetAside(Callback):
    seen = []

    def on_fit_begin(self, state):
        SetAside.seen = [p.read_bytes() for p in state.callbacks[0].backup_dir.glob("*.bad")]


def _fit(backup_dir, callbacks=()):
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(48, 4, generator=g)
    model = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.2), nn.Linear(8, 2))
    history = topnet.fit(model, (x, (x[:, 0] > 0).long()), epochs=4, batch_size=8, seed=1, verbose=0,
                         callbacks=[BackupAndRestore(backup_dir), *callbacks])
    return {"weights": model.state_dict(), "history": history.history}


def _interrupted(backup_dir):
    with pytest.raises(KeyboardInterrupt):
        _fit(backup_dir, [Crash(2)])  # backups of epochs 1 (previous) and 2 (latest) on disk


DAMAGES = {
    "truncated to half": lambda blob: blob[: len(blob) // 2],
    "truncated to the checksum": lambda blob: blob[:32],
    "empty": lambda blob: b"",
    "one bit flipped in the payload": lambda blob: blob[:-100] + bytes([blob[-100] ^ 0x10]) + blob[-99:],
    "one bit flipped in the checksum": lambda blob: bytes([blob[0] ^ 0x01]) + blob[1:],
}


@pytest.mark.parametrize("damage", DAMAGES.values(), ids=DAMAGES.keys())
def test_a_damaged_latest_backup_is_set_aside_and_the_previous_one_used(tmp_path, damage):
    reference = _fit(tmp_path / "reference")
    _interrupted(tmp_path / "run")
    latest = tmp_path / "run" / "backup.pt"
    blob = latest.read_bytes()
    latest.write_bytes(damage(blob))
    with pytest.warns(RuntimeWarning, match="truncated or corrupted"):
        resumed = _fit(tmp_path / "run", [SetAside()])
    assert SetAside.seen == [damage(blob)]  # kept aside while the run went on
    assert differences(resumed, reference) == []
    assert not list((tmp_path / "run").iterdir())  # the damaged file, set aside, went with the backups at the end


def test_when_no_backup_is_good_the_error_is_clear_and_nothing_starts_fresh(tmp_path):
    _interrupted(tmp_path)
    for name in ("backup.pt", "backup.prev.pt"):
        path = tmp_path / name
        path.write_bytes(path.read_bytes()[:-1])
    with pytest.warns(RuntimeWarning), pytest.raises(CheckpointError) as caught:
        _fit(tmp_path)
    message = str(caught.value)
    assert "backup.pt" in message and "backup.prev.pt" in message and "delete the directory" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backup.prev.pt.bad", "backup.pt.bad"]
    with pytest.raises(CheckpointError, match="set aside as damaged"):  # trying again does not start fresh either
        _fit(tmp_path)

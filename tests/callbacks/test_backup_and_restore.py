"""BackupAndRestore: a run killed with SIGKILL resumes and ends bit-identical to an unkilled one."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import topnet
from topnet.callbacks import BackupAndRestore
from topnet.errors import CheckpointError, TrainingInterrupted

SCRIPT = Path(__file__).with_name("kill_script.py")


def _run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=300)


@pytest.mark.slow
# 10 batches per epoch: mid-epoch 0; after epoch 0's last step (before its validation); just after
# the epoch-1 backup; mid-epoch 2.
@pytest.mark.parametrize("kill_at", [3, 10, 11, 25])
def test_sigkill_then_resume_matches_an_uninterrupted_run(tmp_path, kill_at):
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    reference = _run(tmp_path / "a" / "backup", tmp_path / "ref.pt")
    assert reference.returncode == 0, reference.stderr
    killed = _run(tmp_path / "b" / "backup", tmp_path / "out.pt", kill_at)
    assert killed.returncode == -9, killed.stderr  # really killed, not a clean exit
    assert not (tmp_path / "out.pt").exists()
    resumed = _run(tmp_path / "b" / "backup", tmp_path / "out.pt")
    assert resumed.returncode == 0, resumed.stderr
    start = (kill_at - 1) // 10  # the epoch the kill interrupted
    assert f"starting at epoch {start}" in resumed.stdout
    ref, out = torch.load(tmp_path / "ref.pt"), torch.load(tmp_path / "out.pt")
    for key, value in ref["weights"].items():
        torch.testing.assert_close(out["weights"][key], value, rtol=0, atol=1e-6)
    assert out["history"] == ref["history"]
    assert not any((tmp_path / "b" / "backup").glob("backup*.pt"))  # deleted after completion
    rows = (tmp_path / "b" / "history.csv").read_text().splitlines()
    assert rows == (tmp_path / "a" / "history.csv").read_text().splitlines()


class Crash(topnet.callbacks.Callback):
    def __init__(self, at_epoch=None):
        self.at_epoch = at_epoch

    def on_epoch_end(self, state):
        if state.epoch == self.at_epoch:
            raise RuntimeError("crash")


def _fit(model, backup_dir, epochs, callbacks=()):
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(40, 3, generator=g), torch.randint(0, 2, (40,), generator=g)
    return topnet.fit(model, (x, y), epochs=epochs, batch_size=8, callbacks=[BackupAndRestore(backup_dir), *callbacks], verbose=0)


def test_backup_is_kept_after_an_exception_and_deleted_after_success(tmp_path):
    with pytest.raises(RuntimeError):
        _fit(nn.Linear(3, 2), tmp_path, 4, [Crash(1)])
    assert (tmp_path / "backup.pt").exists()
    history = _fit(nn.Linear(3, 2), tmp_path, 4, [Crash()])
    assert history.epoch == [0, 1, 2, 3]  # epoch 0 from the backup's History, then 1..3
    assert not (tmp_path / "backup.pt").exists()


def test_corrupted_latest_backup_falls_back_to_the_previous(tmp_path):
    with pytest.raises(RuntimeError):
        _fit(nn.Linear(3, 2), tmp_path, 4, [Crash(2)])
    latest = tmp_path / "backup.pt"
    blob = bytearray(latest.read_bytes())
    blob[len(blob) // 2] ^= 0x01  # one flipped bit
    latest.write_bytes(bytes(blob))
    with pytest.warns(RuntimeWarning, match="corrupted"):
        history = _fit(nn.Linear(3, 2), tmp_path, 4, [Crash()])
    assert history.epoch == [0, 1, 2, 3]
    assert not (tmp_path / "backup.pt.bad").exists()  # set aside while running, deleted with the backups at the end


def test_no_good_backup_is_an_error_not_a_fresh_start(tmp_path):
    (tmp_path / "backup.pt").write_bytes(b"garbage" * 10)
    with pytest.raises(CheckpointError, match="Refusing to start from scratch"), pytest.warns(RuntimeWarning, match="corrupted"):
        _fit(nn.Linear(3, 2), tmp_path, 2)


def test_callback_state_goes_to_the_same_class_even_when_callbacks_change(tmp_path):
    # mode="max" on a falling loss: never an improvement, so `wait` counts epochs since the first.
    early = topnet.callbacks.EarlyStopping(monitor="loss", mode="max", patience=100)
    with pytest.raises(RuntimeError):
        _fit(nn.Linear(3, 2), tmp_path, 5, [early, Crash(2)])
    assert early.wait == 2  # after epoch 2's end; the backup is from epoch 2's start: wait == 1
    resumed = topnet.callbacks.EarlyStopping(monitor="loss", mode="max", patience=100)

    class Peek(topnet.callbacks.Callback):
        def on_epoch_begin(self, state):
            self.first = getattr(self, "first", (state.epoch, resumed.wait))

    peek = Peek()
    _fit(nn.Linear(3, 2), tmp_path, 5, [peek, resumed])  # Crash dropped, Peek added: still restored
    assert peek.first == (2, 1)


class Terminate(topnet.callbacks.Callback):
    """Sends this process SIGTERM after optimizer step ``step``."""

    def __init__(self, step):
        self.step = step

    def on_batch_end(self, state):
        if state.step == self.step:
            os.kill(os.getpid(), signal.SIGTERM)


def _fit_with_metrics(backup_dir, callbacks=()):
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(40, 3, generator=g), torch.randint(0, 2, (40,), generator=g)
    model = nn.Sequential(nn.Linear(3, 8), nn.Dropout(0.3), nn.Linear(8, 2))
    history = topnet.fit(model, (x, y), validation_data=(x[:8], y[:8]), epochs=3, batch_size=8, metrics=["accuracy"],
                         callbacks=[BackupAndRestore(backup_dir), *callbacks], verbose=0)
    return model.state_dict(), history.history


def test_sigterm_backs_up_the_epoch_so_far_and_the_rerun_continues_with_the_next_batch(tmp_path):
    weights, history = _fit_with_metrics(tmp_path / "a")
    previous = signal.getsignal(signal.SIGTERM)
    # sent after step 7 (after BackupAndRestore's hook of that step): acted on after step 8, mid-epoch 1
    with pytest.raises(TrainingInterrupted, match="SIGTERM: stopped at epoch 1, step 8"):
        _fit_with_metrics(tmp_path / "b", [Terminate(7)])
    assert signal.getsignal(signal.SIGTERM) is previous  # the handler is put back
    resumed_weights, resumed_history = _fit_with_metrics(tmp_path / "b")
    assert resumed_history == history  # epoch 1's loss and accuracy include the batches before SIGTERM
    assert all(torch.equal(resumed_weights[k], v) for k, v in weights.items())

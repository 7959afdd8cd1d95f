"""Scenario 1: SIGKILL mid-epoch, at an epoch boundary and during validation; the resumed run ends
bit-identical to an uninterrupted one (weights, optimizer, schedule and early-stopping state,
history, CSV log). Controls: the same resume with the dropout RNG or the augmentation generator
not restored ends differently, so the comparison can fail."""
from __future__ import annotations

import pytest
import torch

from reliability_helpers import differences, read_backup, run_script, write_backup

pytestmark = pytest.mark.slow

# 10 batches per epoch, 6 epochs, dropout, shuffled data, augmentation from the fit's generator.
MOMENTS = ["batch:15", "boundary:2", "validation:3"]


def kill_then_resume(run_dir, moment, tamper=None):
    killed = run_script(run_dir, "--kill", moment)
    assert killed.returncode == -9, killed.stderr  # really killed, not a clean exit
    assert not (run_dir / "result.pt").exists()
    if tamper is not None:
        latest = run_dir / "backup" / "backup.pt"
        payload = read_backup(latest)
        tamper(payload)
        write_backup(latest, payload)
    resumed = run_script(run_dir)
    assert resumed.returncode == 0, resumed.stderr
    return torch.load(run_dir / "result.pt"), (run_dir / "history.csv").read_text()


@pytest.mark.parametrize("moment", MOMENTS)
def test_killed_and_resumed_run_is_bit_identical(tmp_path, reference_run, moment):
    (reference, reference_csv), (result, csv) = reference_run, kill_then_resume(tmp_path, moment)
    assert differences(result, reference) == []
    assert csv == reference_csv
    assert len(result["history"]["loss"]) == 6 and result["plateau"] == reference["plateau"]
    assert not list((tmp_path / "backup").glob("backup*"))  # deleted once the run completed


def _reseed_dropout(payload):
    payload["rng"]["torch_cpu"] = torch.Generator().manual_seed(12345).get_state()


def _forget_augmentation_generator(payload):
    del payload["rng"]["generator"]  # the resumed fit keeps its freshly seeded generator


@pytest.mark.parametrize("tamper", [_reseed_dropout, _forget_augmentation_generator])
def test_control_without_the_rng_restore_the_result_differs(tmp_path, reference_run, tamper):
    (reference, _), (result, _) = reference_run, kill_then_resume(tmp_path, "batch:25", tamper)
    assert any(path.startswith("/weights") for path in differences(result, reference))

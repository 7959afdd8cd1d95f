"""`topnet run` killed with SIGKILL (a real child process) and resumed with ``--resume``.

The kill lands at a moment read off the run directory (the search has finished trials; a
retrained model has written epochs; LightGBM is saved), never at a fixed delay. The resumed
run must finish with a complete run directory, keep every trial the killed run finished (same
values, same completion times: not redone) and never retrain a finished model.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from topnet.pipeline import RunConfig, run
from topnet.report.schema import read_run

# search = true (a short image run skips the trials by default); one-epoch trials: the search finishes trials even on a loaded machine (with the default fidelity
# a CI run on a busy machine once finished none, and the "search" moment never came)
RESUME = dict(lr_find_steps=40, top_k=2, mc_samples=4, max_epochs=8, tensorboard=False, search_epochs=1, search=True)
SETTINGS = [arg for key, value in RESUME.items()  # the same settings on the command line (resume compares them)
            for arg in ("--set", f"{key}={str(value).lower() if isinstance(value, bool) else value}")]


def _complete_trials(out: Path) -> dict[int, tuple[float, str]]:
    import optuna

    storage = f"sqlite:///{out / 'search' / 'study.db'}"
    try:
        study = optuna.load_study(study_name="topnet-run", storage=storage)
    except (KeyError, ValueError, RuntimeError, Exception):  # not created yet
        return {}
    return {t.number: (t.value, str(t.datetime_complete)) for t in study.get_trials(deepcopy=False)
            if t.state.name == "COMPLETE"}


def _history_rows(out: Path) -> int:
    files = list((out / "histories").glob("*.csv"))
    return max((len(f.read_text().splitlines()) - 1 for f in files), default=0)


MOMENTS = {
    "search": lambda out: len(_complete_trials(out)) >= 1,
    "retrain": lambda out: _history_rows(out) >= 2,
    "lightgbm-saved": lambda out: (out / "models" / "lightgbm" / "member.json").exists(),
}


def _state(out: Path) -> dict:
    file = out / "state.json"
    return json.loads(file.read_text()) if file.exists() else {}


@pytest.mark.slow
@pytest.mark.parametrize("moment", list(MOMENTS))
def test_a_run_killed_and_resumed_finishes_without_redoing_work(moment, tmp_path, image_npz, kill_run):
    out = tmp_path / "run"
    kill_run(["--data", str(image_npz), "--out", str(out), "--budget", "90s", "--quiet", *SETTINGS],
             lambda: MOMENTS[moment](out))
    assert not (out / "metrics.json").exists()
    trials_before, state_before = _complete_trials(out), _state(out)
    retrained_before = list(state_before.get("retrained", []))
    times_before = {name: (out / "models" / name / "weights.safetensors").stat().st_mtime_ns for name in retrained_before}

    config = RunConfig(data=str(image_npz), out=str(out), budget="90s", verbose=0, **RESUME)
    metrics = run(config, resume=True)

    assert set(metrics["phases"]) >= {"lr_find", "search", "retrain", "lightgbm", "ensemble"}
    assert read_run(out).notes == {}  # a complete, consistent run directory
    trials_after = _complete_trials(out)
    assert {n: trials_after[n] for n in trials_before} == trials_before  # finished trials kept, not redone
    state = _state(out)
    assert state["retrained"][:len(retrained_before)] == retrained_before
    for name, stamp in times_before.items():  # a finished model is loaded, never retrained
        assert (out / "models" / name / "weights.safetensors").stat().st_mtime_ns == stamp
    models = json.loads((out / "models.json").read_text())["models"]
    assert {m["name"] for m in models} >= set(state["retrained"]) | {"lightgbm"}
    assert not any((out / "backup").glob("*/backup.pt"))  # the interrupted model's backup was used up


def test_resume_counts_the_time_the_killed_run_spent(tmp_path):
    from topnet.pipeline.run_state import RunState

    state = RunState(tmp_path)
    state.document["elapsed_s"] = 30.0
    state.file.write_text(json.dumps(state.document))
    saved = state.file.stat().st_mtime
    later = tmp_path / "search" / "study.db"
    later.parent.mkdir()
    later.write_text("x")
    os.utime(later, (saved + 12.0, saved + 12.0))  # the killed search wrote for 12 s after the last save
    assert RunState(tmp_path).time_spent() == pytest.approx(42.0)


@pytest.mark.slow
def test_a_run_killed_at_ten_seeded_moments_still_finishes(tmp_path, image_npz):
    """Issue 9, scenario 9: SIGKILL at 10 moments drawn from a seeded generator (from the first
    import on), ``--resume`` each time; then the run finishes, complete and consistent. The
    budget is longer than the 10 attempts together, so every attempt is killed."""
    out = tmp_path / "run"
    command = [sys.executable, "-c", "import sys; from topnet.cli import main; sys.exit(main())", "run",
               "--data", str(image_npz), "--out", str(out), "--budget", "150s", "--quiet", "--resume", *SETTINGS]
    delays = np.random.default_rng(9).uniform(1.0, 10.0, 10)
    kills = 0
    for delay in delays:
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            child.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            os.kill(child.pid, signal.SIGKILL)
            kills += 1
        child.wait(timeout=60)
        error = child.stderr.read().decode()
        child.stderr.close()
        assert child.returncode == -signal.SIGKILL, error[-2000:]  # killed, never failed on its own
    assert kills == 10 and not (out / "metrics.json").exists()
    run(RunConfig(data=str(image_npz), out=str(out), budget="150s", verbose=0, **RESUME), resume=True)
    data = read_run(out)
    assert data.notes == {}, data.notes
    assert all(p["status"] in ("done", "skipped") for p in data.metrics["phases"].values())
    state = _state(out)
    assert len(state["retrained"]) == len(set(state["retrained"]))  # no model trained twice
    for name in state["retrained"]:
        assert (out / "models" / name / "weights.safetensors").exists()
    assert data.predictions["proba"].shape == (150, 3)


@pytest.mark.slow
def test_sigterm_during_retraining_backs_up_exits_nonzero_and_resume_finishes(tmp_path, image_npz):
    """Issue 9, scenario 9: SIGTERM while a model trains writes its backup and exits non-zero
    within 10 s; ``--resume`` then finishes the run."""
    out = tmp_path / "run"
    command = [sys.executable, "-c", "import sys; from topnet.cli import main; sys.exit(main())", "run",
               "--data", str(image_npz), "--out", str(out), "--budget", "90s", "--quiet", *SETTINGS]
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    try:
        while not MOMENTS["retrain"](out):
            assert child.poll() is None, child.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "retraining never started"
            time.sleep(0.05)
        sent = time.monotonic()
        child.send_signal(signal.SIGTERM)
        code = child.wait(timeout=10)
        waited = time.monotonic() - sent
    finally:
        if child.poll() is None:
            child.kill()
        child.stderr.close()
    assert code != 0 and waited < 10
    assert any((out / "backup").glob("*/backup.pt")), "no backup of the model that was training"
    metrics = run(RunConfig(data=str(image_npz), out=str(out), budget="90s", verbose=0, **RESUME), resume=True)
    assert metrics["phases"]["retrain"]["status"] == "done"
    assert read_run(out).notes == {}

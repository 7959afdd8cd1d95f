"""Workers: two processes share a PostgreSQL study; a worker killed mid-trial is failed and retried."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from topnet.tune import DataSpec, tune
from topnet.tune._optuna import import_optuna
from topnet.tune.study import finished_count, make_storage

pytestmark = pytest.mark.slow


def start_worker(study, storage, out, *extra):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "topnet.cli", "worker", "--study", study, "--storage", storage,
               "--out", str(out), "--quiet", *extra]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def report_of(process, timeout=300):
    stdout, stderr = process.communicate(timeout=timeout)
    assert process.returncode == 0, stderr
    return json.loads(stdout.strip().splitlines()[-1])


def test_two_workers_share_a_postgres_study(postgres_url, blobs_npz, small_space, tmp_path):
    target = 10
    created = tune(small_space(), DataSpec(blobs_npz()), num_trials=target, max_trials=0, epochs=2, study_name="shared",
                   storage=postgres_url, out=tmp_path / "main", plots=False, verbose=0)
    assert created.trials_run == 0
    # each may run 6 at most, so each runs at least 4 of the 10: both take part, whichever starts first
    workers = [start_worker("shared", postgres_url, tmp_path / name, "--trials", "6") for name in ("a", "b")]
    reports = [report_of(worker) for worker in workers]
    study = import_optuna().load_study(study_name="shared", storage=make_storage(postgres_url))
    trials = study.get_trials()
    numbers = [t.number for t in trials]
    ran = [set(r["trials"]) for r in reports]
    assert all(4 <= r["count"] <= 6 for r in reports), reports
    assert sorted(numbers) == list(range(len(trials))) and len(set(numbers)) == len(numbers)  # each recorded once
    assert ran[0].isdisjoint(ran[1]) and ran[0] | ran[1] == set(numbers)  # none lost, none run twice
    assert target <= len(trials) == sum(r["count"] for r in reports) <= target + 1  # a last trial may start on both
    assert all(t.state.name in ("COMPLETE", "PRUNED") for t in trials)
    assert {t.user_attrs["worker"] for t in trials} == {r["worker"] for r in reports}


def wait_for_running_trial(storage_url, study_name, timeout=120):
    optuna = import_optuna()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            trials = optuna.load_study(study_name=study_name, storage=storage_url).get_trials(deepcopy=False)
        except KeyError:
            trials = []
        running = [t for t in trials if t.state.name == "RUNNING" and len(t.intermediate_values) >= 1]
        if running:
            return running[0].number
        time.sleep(0.02)
    pytest.fail("no trial started within the timeout")


def test_a_killed_worker_s_trial_fails_by_heartbeat_and_is_retried(blobs_npz, small_space, tmp_path):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    beat = ["--heartbeat-interval", "1", "--grace-period", "2"]
    tune(small_space(batch_size=16), DataSpec(blobs_npz(2000)), num_trials=3, max_trials=0, epochs=40,
         study_name="crash", storage=storage, pruner="none", out=tmp_path / "main", plots=False, verbose=0,
         heartbeat_interval=1, grace_period=2)
    victim = start_worker("crash", storage, tmp_path / "a", *beat)
    killed = wait_for_running_trial(storage, "crash")
    os.kill(victim.pid, signal.SIGKILL)
    victim.communicate(timeout=60)
    time.sleep(3)  # longer than the grace period: the trial's heartbeat is stale now
    report = report_of(start_worker("crash", storage, tmp_path / "b", *beat))
    study = import_optuna().load_study(study_name="crash", storage=make_storage(storage, heartbeat_interval=1))
    trials = {t.number: t for t in study.get_trials()}
    assert trials[killed].state.name == "FAIL"
    retries = [t for t in trials.values() if t.system_attrs.get("failed_trial") == killed]
    assert len(retries) == 1 and retries[0].state.name == "COMPLETE"
    assert retries[0].params == trials[killed].params and retries[0].number in report["trials"]
    assert retries[0].user_attrs["seed"] == trials[killed].user_attrs["seed"]  # the same trial, run again
    assert finished_count(study) == 3 and not [t for t in trials.values() if t.state.name in ("RUNNING", "WAITING")]

"""Test-wide settings, a PostgreSQL server on loopback for the tests that share a study, and
tiny datasets with `topnet run` on them (tests/pipeline, tests/report)."""
import csv
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

# scikit-learn's estimator checks run their array-API cases only with this set (before scipy loads).
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import torch  # noqa: E402

# Tests use tiny tensors, where a second intra-op thread only adds synchronisation (measured
# ~100x slower steps for a small MLP when the 2 cores are busy). Subprocess tests (kill/resume,
# end-to-end) run with torch's default threads.
torch.set_num_threads(1)

from topnet.pipeline import RunConfig, run  # noqa: E402


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _postgres_bin() -> str:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.fail("PostgreSQL binaries not found under /usr/lib/postgresql/*/bin; install them with "
                    "`apt-get install postgresql` (scripts/setup.sh lists it)")
    return os.path.dirname(found[-1])


def _as_postgres(command: list[str]) -> list[str]:
    # initdb refuses to run as root: run the server as the postgres user when we are root
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@pytest.fixture(scope="session")
def postgres_url():
    """A PostgreSQL server on loopback for this session; yields its URL; stopped at teardown."""
    bindir = _postgres_bin()
    directory = tempfile.mkdtemp(prefix="topnet-pg-")
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres", "postgres")
    data, port = os.path.join(directory, "data"), _free_port()

    def run(*args):
        return subprocess.run(_as_postgres(list(args)), check=True, capture_output=True, text=True)

    try:
        run(f"{bindir}/initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8")
        run(f"{bindir}/pg_ctl", "-D", data, "-l", os.path.join(directory, "log"), "-w", "-t", "60", "start",
            "-o", f"-p {port} -k {directory} -c listen_addresses=127.0.0.1")
    except subprocess.CalledProcessError as error:
        shutil.rmtree(directory, ignore_errors=True)
        pytest.fail(f"could not start PostgreSQL: {error.stderr or error.stdout}")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(_as_postgres([f"{bindir}/pg_ctl", "-D", data, "-m", "fast", "-w", "stop"]), capture_output=True)
        time.sleep(0.2)
        shutil.rmtree(directory, ignore_errors=True)


# --- tiny datasets and `topnet run` on them once per session (each ~40 s): tests/pipeline, tests/report ---

# search = true: these runs test the search's path, which images on a CPU under 30 minutes skip by
# default (zero-shot, tests/pipeline/test_zero_shot.py)
QUICK = {"budget": "40s", "lr_find_steps": 40, "top_k": 2, "mc_samples": 4, "max_epochs": 8, "search": True,
         "verbose": 0}


def write_image_npz(path: Path, seed: int = 0, num_train: int = 600, num_test: int = 150) -> Path:
    """3 classes of 1×12×12 images: a bright bar (vertical, horizontal, diagonal) in noise."""
    rng = np.random.default_rng(seed)

    def make(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, 3, n)
        x = rng.normal(0.0, 0.6, (n, 1, 12, 12)).astype(np.float32)
        for i, label in enumerate(y):
            offset = rng.integers(2, 10)
            if label == 0:
                x[i, 0, :, offset] += 2.0
            elif label == 1:
                x[i, 0, offset, :] += 2.0
            else:
                x[i, 0, np.arange(12), np.arange(12)] += 2.0
        return x, y

    x_train, y_train = make(num_train)
    x_test, y_test = make(num_test)
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test,
             class_names=np.array(["vertical", "horizontal", "diagonal"]))
    return path


def write_table_csv(path: Path, task: str, seed: int = 0, num_rows: int = 400) -> Path:
    """A table with numeric columns, a categorical one (with missing cells) and a target: a
    3-class label (classification) or a noisy linear value (regression)."""
    rng = np.random.default_rng(seed)
    numeric = rng.normal(size=(num_rows, 4))
    colour = rng.choice(["red", "green", "blue", ""], num_rows)
    signal = numeric[:, 0] + 0.5 * numeric[:, 1] - numeric[:, 2] * 0.5 + (colour == "red") * 1.0
    if task == "classification":
        target = np.digitize(signal, np.quantile(signal, [1 / 3, 2 / 3]))
        target = np.array(["low", "mid", "high"])[target]
    else:
        target = np.round(3.0 * signal + rng.normal(0, 0.3, num_rows), 4)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["a", "b", "c", "d", "colour", "target"])
        for row in range(num_rows):
            writer.writerow([*np.round(numeric[row], 4), colour[row], target[row]])
    return path


def quick_run(data: Path, out: Path, **settings) -> Path:
    run(RunConfig(data=str(data), out=str(out), **{**QUICK, **settings}))
    return out


@pytest.fixture(scope="session")
def image_run_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pipeline-images")
    return quick_run(write_image_npz(root / "bars.npz"), root / "run")


@pytest.fixture(scope="session")
def classification_run_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pipeline-csv")
    # 30 s: a bagged table run uses its whole budget (repeated bagging), and 30 s holds every phase
    return quick_run(write_table_csv(root / "table.csv", "classification"), root / "run", target="target", budget="30s")


@pytest.fixture(scope="session")
def regression_run_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pipeline-regression")
    return quick_run(write_table_csv(root / "table.csv", "regression"), root / "run", target="target", budget="30s")


@pytest.fixture
def quick_settings() -> dict:
    return dict(QUICK)


@pytest.fixture
def image_npz(tmp_path) -> Path:
    return write_image_npz(tmp_path / "bars.npz")


@pytest.fixture(scope="session")
def table_csv():
    """``table_csv(path, task)`` writes the tiny table."""
    return write_table_csv


def kill_run_when(arguments: list[str], moment, timeout: float = 240.0) -> None:
    """``topnet run ARGUMENTS`` in a real child process, SIGKILLed as soon as ``moment()`` is
    true (read off the run directory, never a fixed delay); fails if the run ends first."""
    import os
    import signal
    import subprocess
    import sys
    import time

    command = [sys.executable, "-c", "import sys; from topnet.cli import main; sys.exit(main())", "run", *arguments]
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ})
    deadline = time.monotonic() + timeout
    try:
        while not moment():
            assert child.poll() is None, f"the run ended before the kill moment: {child.stderr.read().decode()[-2000:]}"
            assert time.monotonic() < deadline, "the kill moment never came"
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=60)
        child.stderr.close()


@pytest.fixture(scope="session")
def kill_run():
    """``kill_run(arguments, moment)``: `kill_run_when`."""
    return kill_run_when

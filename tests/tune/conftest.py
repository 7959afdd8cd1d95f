"""Fixtures of the search tests: tiny synthetic data (in memory and as .npz), a PostgreSQL server."""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time

import numpy as np
import pytest

from topnet.data import Dataset, split, standardize
from topnet.tune import Categorical, Fixed, Float, Int, SearchSpace


def make_blobs(n: int = 300, features: int = 8, classes: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian blobs: separable classes, so a tiny MLP learns them in an epoch or two."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(classes, features)) * 2.0
    y = rng.integers(0, classes, n)
    return (centers[y] + rng.normal(size=(n, features))).astype(np.float32), y.astype(np.int64)


@pytest.fixture
def blobs():
    x, y = make_blobs()
    splits, _ = standardize(split(Dataset(x=x, y=y), valid=0.2, blend=0.2, test=0.1, seed=0))
    return splits


@pytest.fixture
def blobs_npz(tmp_path):
    def write(n: int = 300) -> str:
        x, y = make_blobs(n)
        path = tmp_path / f"blobs{n}.npz"
        np.savez(path, x=x, y=y)
        return str(path)

    return write


@pytest.fixture
def small_space():
    """A function returning a small MLP space (each epoch a fraction of a second); keywords fix values."""

    def make(**fixed) -> SearchSpace:
        params = {"family": Fixed("mlp"), "depth": Int(1, 2), "width": Categorical([8, 16]),
                  "lr": Float(1e-3, 3e-2, log=True), "batch_size": Fixed(64)}
        params.update({key: Fixed(value) for key, value in fixed.items()})
        return SearchSpace(params)

    return make


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

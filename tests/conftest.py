"""Test-wide settings, and a PostgreSQL server on loopback for the tests that share a study."""
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

# scikit-learn's estimator checks run their array-API cases only with this set (before scipy loads).
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import torch  # noqa: E402

# Tests use tiny tensors, where a second intra-op thread only adds synchronisation (measured
# ~100x slower steps for a small MLP when the 2 cores are busy). Subprocess tests (kill/resume,
# end-to-end) run with torch's default threads.
torch.set_num_threads(1)


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

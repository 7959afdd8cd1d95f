"""Scenario 12: the report escapes every user-provided string (a ``<script>`` class name stays
inert), and storage URLs with passwords never appear in logs, files written to disk, or the
report. (tests/report/ checks the report's own escaping and redaction field by field.)"""
from __future__ import annotations

import os
import random
import subprocess
import sys

import numpy as np
import pytest

from topnet.cli import main

EVIL_CLASS = "<script>alert(1)</script>"
EVIL_COLUMN = "<img src=x onerror=alert(2)>"
PASSWORD = "s3cret-pw"


def test_a_script_class_name_is_inert_in_the_report(tmp_path, capsys):
    rng = random.Random(0)
    rows = [f"{EVIL_COLUMN},b,label"]
    for _ in range(60):
        a, b = rng.gauss(0, 1), rng.gauss(0, 1)
        rows.append(f"{a:.3f},{b:.3f},{EVIL_CLASS if a > 0 else 'plain'}")
    (tmp_path / "evil.csv").write_text("\n".join(rows) + "\n")
    run = tmp_path / "run"
    assert main(["train", "--data", str(tmp_path / "evil.csv"), "--target", "label", "--out", str(run),
                 "--epochs", "1", "--quiet"]) == 0
    assert main(["report", str(run), "--quiet"]) == 0, capsys.readouterr().err
    page = (run / "report.html").read_text()
    assert "alert(1)" in (run / "config.json").read_text()  # the class name really is in the run
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # shown, as text
    assert "<script>alert" not in page and "<img src=x" not in page


@pytest.mark.slow
def test_storage_passwords_never_reach_logs_or_files(postgres_url, tmp_path, capfd):
    secret_url = postgres_url.replace("postgres@", f"postgres:{PASSWORD}@", 1)  # trust auth: any password works
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 4)).astype(np.float32)
    np.savez(tmp_path / "d.npz", x=x, y=(x[:, 0] > 0).astype(np.int64))
    code = main(["tune", "--data", str(tmp_path / "d.npz"), "--storage", secret_url, "--study-name", "secret",
                 "--trials", "3", "--max-trials", "2", "--epochs", "1", "--out", str(tmp_path / "tune"), "--no-plots"])
    assert code == 0
    worker = subprocess.run([sys.executable, "-m", "topnet.cli", "worker", "--study", "secret", "--storage", secret_url,
                             "--out", str(tmp_path / "worker")], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert worker.returncode == 0, worker.stderr.replace(PASSWORD, "***")
    logs = capfd.readouterr()
    assert PASSWORD not in logs.out + logs.err + worker.stdout + worker.stderr
    files = [p for p in tmp_path.rglob("*") if p.is_file() and p.name != "d.npz"]
    assert any(p.name == "tune.json" for p in files)
    assert [p for p in files if PASSWORD.encode() in p.read_bytes()] == []
    assert "postgres:***@" in (tmp_path / "tune" / "tune.json").read_text()

"""Side environments for the anchors of B1 and B6 (Keras 3, AutoGluon), made on first use.

An anchor often cannot live in topnet's environment: TensorFlow and AutoGluon pin their own
numpy, pandas and torch. `ensure_venv` makes ``bench/.venv-NAME`` with ``python -m venv``,
installs the packages with pip (its log goes to ``bench/.venv-NAME/install.log``) and checks
that an import works. It returns the venv's interpreter, or None and the reason when the
install failed, so the benchmark records "not installed (reason)" and goes on without that
anchor. `run_script` runs a small script there and reads its JSON result from the last line
of its standard output.
"""
from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

__all__ = ["ensure_venv", "run_script", "machine_line"]

BENCH = Path(__file__).resolve().parent


def _tail(text: str, lines: int = 3) -> str:
    """The last few meaningful lines of a log (pip's warnings about local indexes skipped)."""
    kept = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("WARNING")]
    return " | ".join(kept[-lines:]) or "no output"


def _check(python: Path, check: str) -> tuple[bool, str]:
    """Whether ``python -c check`` works, and what it printed (versions) or its error."""
    try:
        done = subprocess.run([str(python), "-c", check], capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as error:
        return False, str(error)
    return done.returncode == 0, (done.stdout.strip() if done.returncode == 0 else _tail(done.stderr))


def ensure_venv(name: str, installs: list[list[str]], check: str, timeout: float = 3600.0) -> tuple[Path | None, str]:
    """The interpreter of ``bench/.venv-NAME``, made and filled on first use.

    Args:
        name: the venv's suffix (``keras`` gives ``bench/.venv-keras``).
        installs: pip install commands' arguments, run in order (``[["torch==2.13.0"], ["autogluon.tabular"]]``).
        check: Python code that imports the packages and prints their versions.
        timeout: seconds for each pip command.

    Returns:
        ``(python, versions)`` when ``check`` works, else ``(None, reason)``.
    """
    folder = BENCH / f".venv-{name}"
    python = folder / "bin" / "python"
    if python.exists():
        works, said = _check(python, check)
        if works:
            return python, said
    print(f"[bench] installing {name} into {folder} (log: {folder / 'install.log'}); this takes minutes", flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True, capture_output=True, text=True)
        with open(folder / "install.log", "a", encoding="utf-8") as log:
            for packages in installs:
                log.write(f"$ pip install {' '.join(packages)}\n")
                log.flush()
                done = subprocess.run([str(python), "-m", "pip", "install", *packages], stdout=log,
                                      stderr=subprocess.STDOUT, timeout=timeout)
                if done.returncode != 0:
                    return None, f"pip install {' '.join(packages)} failed: {_tail((folder / 'install.log').read_text())}"
    except subprocess.CalledProcessError as error:
        return None, f"python -m venv failed: {_tail(error.stderr or '')}"
    except (OSError, subprocess.TimeoutExpired) as error:
        return None, f"the install failed: {error}"
    works, said = _check(python, check)
    return (python, said) if works else (None, f"installed, but the import failed: {said}")


def run_script(python: Path, source: str, args: list[str], timeout: float, env: dict[str, str] | None = None) -> dict:
    """Run ``source`` with ``python`` and return the JSON object on the last line of its output.

    Raises:
        RuntimeError: the script failed, timed out or printed no JSON (the message has its
            last lines of standard error).
    """
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as handle:
        handle.write(source)
    try:
        done = subprocess.run([str(python), handle.name, *args], capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, **(env or {})})
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{python} timed out after {timeout:.0f}s") from None
    finally:
        os.unlink(handle.name)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{python} exited {done.returncode}: {_tail(done.stderr, 5)}")
    try:
        return json.loads(lines[-1])
    except json.JSONDecodeError:
        raise RuntimeError(f"{python} printed no JSON result; last line: {lines[-1][:200]!r}") from None


def machine_line(name: str, extra: str = "") -> str:
    """``# NAME — machine: CPU, cores, load average; versions; UTC time`` (the first printed line)."""
    cpu = platform.processor() or platform.machine()
    try:
        lines = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout.splitlines()
        cpu = next(line.split(":", 1)[1].strip() for line in lines if line.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    return (f"# {name} — machine: {platform.node()} ({cpu}, {os.cpu_count()} cores, load average {load}); "
            f"torch {torch.__version__} ({torch.get_num_threads()} threads), python {platform.python_version()}"
            f"{'; ' + extra if extra else ''}; {now}")

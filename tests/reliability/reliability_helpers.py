"""What the reliability tests share: the child training script, bit-for-bit comparison, backup tampering."""
from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
from pathlib import Path

import torch

SCRIPT = Path(__file__).with_name("train_script.py")


def run_script(run_dir, *args, timeout=300):
    """Run train_script.py in a child process; returns the CompletedProcess."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(SCRIPT), str(run_dir), *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, env=env)


def differences(a, b, path="") -> list[str]:
    """Where two nested structures of tensors, numbers, strings, lists and dicts differ (bit for bit)."""
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        same = a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
        return [] if same else [path]
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return [f"{path} keys {sorted(a)} != {sorted(b)}"]
        return [d for key in a for d in differences(a[key], b[key], f"{path}/{key}")]
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return [f"{path} lengths {len(a)} != {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{path}[{i}]")]
    return [] if type(a) is type(b) and a == b else [f"{path}: {a!r} != {b!r}"]


def read_backup(path) -> dict:
    blob = Path(path).read_bytes()
    assert hashlib.sha256(blob[32:]).digest() == blob[:32]
    return torch.load(io.BytesIO(blob[32:]), weights_only=True)


def write_backup(path, payload: dict) -> None:
    """Write a backup with a valid checksum (to tamper with its contents, not to damage it)."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    data = buffer.getvalue()
    Path(path).write_bytes(hashlib.sha256(data).digest() + data)

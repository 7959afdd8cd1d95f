"""A run directory: what a command that trains leaves behind, so scripts can read results.

    DIR/config.json        the fully resolved configuration
    DIR/environment.json   versions, hardware, seed, command line, start time
    DIR/history.csv        one row per epoch (CSVLogger)
    DIR/model/             the final model (weights.safetensors + config.json)
    DIR/backup/            BackupAndRestore's files while the run is unfinished
    DIR/metrics.json       final metrics per split, e.g. {"test": {"accuracy": 0.91, "loss": 0.25}}

``metrics.json`` is written last: its presence marks a finished run, which is never overwritten.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

import torch

from topnet.io import write_json

__all__ = ["RunDir", "environment"]


def environment(seed: int | None = None) -> dict[str, Any]:
    """Versions, hardware and seed, for reproducing a run."""
    import numpy

    import topnet

    return {
        "topnet": topnet.__version__,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "seed": seed,
        "argv": sys.argv,
        "started": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


class RunDir:
    """The directory of one run.

    Args:
        path: the directory; created if missing.
        overwrite: allow reusing a directory that holds a finished run (its files are replaced).

    Raises:
        FileExistsError: ``path`` holds a finished run and ``overwrite`` is False.
    """

    def __init__(self, path: str | os.PathLike, overwrite: bool = False):
        self.path = Path(path)
        self.overwrite = overwrite
        if self.finished and not overwrite:
            raise FileExistsError(f"--out {str(self.path)!r} holds a finished run (metrics.json exists); "
                                  "choose another directory, or pass --overwrite to replace it")
        self.path.mkdir(parents=True, exist_ok=True)

    @property
    def finished(self) -> bool:
        return (self.path / "metrics.json").exists()

    @property
    def resumable(self) -> bool:
        return (self.path / "backup" / "backup.pt").exists() or (self.path / "backup" / "backup.prev.pt").exists()

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    def write_json(self, name: str, document: Any) -> Path:
        """Write ``document`` as indented JSON, atomically."""
        return write_json(self.path / name, document, sort_keys=True)

    def read_json(self, name: str) -> Any:
        return json.loads((self.path / name).read_text(encoding="utf-8"))



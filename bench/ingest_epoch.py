"""Parts of B7 (`bench_ingest.py`) about a folder once it is read: Keras's loader on the same
folder, and one training epoch from the memory-mapped cache against the same images in memory.

Keras 3's ``image_dataset_from_directory`` runs in its own venv (``bench/.venv-keras``, made on
first use by `_side_venv.ensure_venv`, as B1 does); without it that row says why. Its "first
load" is one full pass over the dataset (it decodes lazily, so a pass is what a first epoch
pays), in batches of 256.

The epoch rows train topnet's ``small_convnet`` for one epoch with `topnet.fit` (batch 128,
Adam, float32, one thread per core) on ``x`` given two ways: the read-only ``np.memmap`` that
`read_image_folder` returns (batches are index slices read from the file's pages) and an
in-memory copy. Both feed uint8 pixels to a model whose first layer scales them, so the
only difference is where the rows come from. The page cache is warm (the file was just
written): this measures the memory-map path, not a cold disk.
"""
from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from _side_venv import ensure_venv, run_script

__all__ = ["keras_first_load", "epoch_times"]

_KERAS_SCRIPT = """
import json, sys, time
import keras, tensorflow as tf
folder, size, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
start = time.perf_counter()
data = keras.utils.image_dataset_from_directory(folder, image_size=(size, size), color_mode=mode, batch_size=256,
                                                shuffle=False, verbose=False)
rows = sum(int(x.shape[0]) for x, _ in data)
print(json.dumps({"seconds": time.perf_counter() - start, "rows": rows,
                  "versions": f"keras {keras.__version__}, tensorflow {tf.__version__}"}))
"""


def keras_first_load(folder: Path, image_size: int, channels: int, repeats: int) -> dict:
    """Seconds for one pass of Keras's ``image_dataset_from_directory`` over ``folder`` (each repeat)."""
    python, said = ensure_venv("keras", [["tensorflow-cpu", "keras"]],
                               "import keras, tensorflow; print(f'keras {keras.__version__}, "
                               "tensorflow {tensorflow.__version__}')")
    if python is None:
        return {"name": "keras image_dataset_from_directory", "note": f"not installed ({said})"}
    mode = "grayscale" if channels == 1 else "rgb"
    runs = [run_script(python, _KERAS_SCRIPT, [str(folder), str(image_size), mode], timeout=3600)
            for _ in range(repeats)]
    return {"name": "keras image_dataset_from_directory (one pass)", "seconds": [r["seconds"] for r in runs],
            "rows": runs[0]["rows"], "note": runs[0]["versions"]}


class _Scale(nn.Module):
    """uint8 pixels -> floats around 0: the model's first layer, so ``x`` can stay uint8."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.float().div(127.5).sub(1.0)


def _one_epoch(x: np.ndarray, y: np.ndarray, seed: int) -> float:
    import topnet
    from topnet.nn import create_model

    torch.manual_seed(seed)
    model = nn.Sequential(_Scale(), create_model("small_convnet", input_shape=list(x.shape[1:]),
                                                 num_classes=int(y.max()) + 1))
    start = time.perf_counter()
    topnet.fit(model, (x, y), epochs=1, batch_size=128, optimizer="adam", loss="cross_entropy", device="cpu",
               verbose=0, seed=seed)
    return time.perf_counter() - start


def epoch_times(x_disk: np.ndarray, y: np.ndarray, repeats: int) -> list[dict]:
    """One epoch from the memmap and from an in-memory copy, alternating which goes first."""
    x_memory = np.array(x_disk)  # the same pixels, read into memory once
    seconds: dict[str, list[float]] = {"memory-mapped cache": [], "in-memory array": []}
    for repeat in range(repeats):
        order = list(seconds) if repeat % 2 == 0 else list(seconds)[::-1]
        for name in order:
            seconds[name].append(_one_epoch(x_disk if name == "memory-mapped cache" else x_memory, y, seed=repeat))
    return [{"name": f"one epoch, small_convnet, from the {name}", "seconds": values} for name, values in seconds.items()]


def describe(row: dict) -> str:
    """``name: median [min-max] s`` or the row's note."""
    values = row.get("seconds")
    if not values:
        return f"{row['name']}: {row.get('note', 'not measured')}"
    return (f"{row['name']}: {statistics.median(values):.2f} s [{min(values):.2f}-{max(values):.2f}]"
            + (f" ({row['note']})" if row.get("note") else ""))

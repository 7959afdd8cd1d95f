"""Tiny datasets written to a temporary folder in the formats the recipes read (never downloaded)."""
from __future__ import annotations

import numpy as np
import pytest

from topnet.data import write_idx


def striped_images(num_per_class: int, channels: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (N, channels, size, size) whose class k is a bright band at rows 2k+2 .. 2k+4, plus noise."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(10), num_per_class)
    images = rng.integers(0, 60, (len(labels), channels, size, size))
    for index, label in enumerate(labels):
        images[index, :, 2 * label + 2: 2 * label + 5] += 150
    order = rng.permutation(len(labels))
    return images[order].astype(np.uint8), labels[order]


@pytest.fixture(scope="session")
def tiny_fashion(tmp_path_factory):
    """A folder of Fashion-MNIST-format IDX files: 400 training and 200 test images of 28×28."""
    folder = tmp_path_factory.mktemp("fashion")
    for prefix, per_class, seed in (("train", 40, 0), ("t10k", 20, 1)):
        images, labels = striped_images(per_class, 1, 28, seed)
        write_idx(folder / f"{prefix}-images-idx3-ubyte", images[:, 0])
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", labels.astype(np.uint8))
    return folder


@pytest.fixture(scope="session")
def tiny_cifar(tmp_path_factory):
    """A folder of binary CIFAR-10 files (label byte, then 3072 pixel bytes per image): 400 train, 100 test."""
    folder = tmp_path_factory.mktemp("cifar")
    images, labels = striped_images(50, 3, 32, 2)
    records = np.concatenate([labels[:, None].astype(np.uint8), images.reshape(len(labels), -1)], axis=1)
    for index in range(5):
        records[index * 80:(index + 1) * 80].tofile(folder / f"data_batch_{index + 1}.bin")
    records[400:].tofile(folder / "test_batch.bin")
    return folder

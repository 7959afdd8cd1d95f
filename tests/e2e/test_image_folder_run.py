"""End to end on a folder of PNG files: Fashion-MNIST written out as images in the test, then
`topnet run --data DIR` and `topnet predict --run RUN DIR` as a user would call them."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from topnet.data import load

TRAIN_IMAGES, TEST_IMAGES = 8000, 1000  # a stratified-enough subset keeps the test within minutes


def _write_pngs(root: Path, images: np.ndarray, labels: np.ndarray, names: tuple[str, ...]) -> list[Path]:
    from PIL import Image

    paths = []
    for index, (image, label) in enumerate(zip(images, labels)):
        folder = root / names[int(label)].replace("/", "-")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{index:05d}.png"
        Image.fromarray(image[0]).save(path)  # (1, 28, 28) uint8 -> a grayscale PNG
        paths.append(path)
    return paths


@pytest.mark.e2e
@pytest.mark.slow
def test_run_and_predict_on_a_folder_of_fashion_mnist_pngs(tmp_path):
    assert Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz").exists(), \
        "install Debian's dataset-fashion-mnist (scripts/setup.sh does)"
    fm = load("fashion-mnist")
    rng = np.random.default_rng(0)
    train_rows = rng.choice(len(fm.train), TRAIN_IMAGES, replace=False)
    names = fm.train.class_names
    data = tmp_path / "fashion"
    _write_pngs(data / "train", fm.train.x[train_rows], fm.train.y[train_rows], names)
    _write_pngs(data / "test", fm.test.x[:TEST_IMAGES], fm.test.y[:TEST_IMAGES], names)
    (data / "train" / "README.txt").write_text("not an image: ignored with a note")
    env = {**os.environ, "TOPNET_CACHE": str(tmp_path / "cache")}

    out = tmp_path / "run"
    result = subprocess.run([sys.executable, "-m", "topnet.cli", "run", "--data", str(data), "--budget", "2m",
                             "--out", str(out), "--quiet"], capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    info = json.loads((out / "dataset.json").read_text())
    assert info["images"]["image_size"] == [28, 28] and info["images"]["channels"] == 1
    assert info["class_names"] == sorted(n.replace("/", "-") for n in names)
    assert info["num_rows"]["test"] == TEST_IMAGES  # the folder's own test/ split, read once at the end
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] >= 0.80, metrics["test"]  # 8000 images, 2 minutes of training
    assert metrics["elapsed_s"] <= 1.1 * 120, metrics["elapsed_s"]
    assert "sample_path" in np.load(out / "predictions" / "test.npz")
    assert (out / "report.html").read_text().count(".png") > 0  # the least-sure rows name their files

    new = tmp_path / "new"
    _write_pngs(new, fm.test.x[TEST_IMAGES:TEST_IMAGES + 50], np.zeros(50, int), ("unlabelled",))
    preds = tmp_path / "preds.csv"
    result = subprocess.run([sys.executable, "-m", "topnet.cli", "predict", "--run", str(out), str(new),
                             "--out", str(preds)], capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = list(csv.DictReader(preds.open()))
    assert len(rows) == 50 and rows[0]["path"].endswith(".png")
    np.savez(tmp_path / "same.npz", x=fm.test.x[TEST_IMAGES:TEST_IMAGES + 50])  # the same pixels as an array
    result = subprocess.run([sys.executable, "-m", "topnet.cli", "predict", "--run", str(out),
                             str(tmp_path / "same.npz"), "--out", str(tmp_path / "same.csv")],
                            capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    same = list(csv.DictReader((tmp_path / "same.csv").open()))
    by_name = {Path(row["path"]).name: row["class_name"] for row in rows}
    assert [by_name[f"{i:05d}.png"] for i in range(50)] == [row["class_name"] for row in same]

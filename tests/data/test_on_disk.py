"""Arrays derived from a large memory map stay on disk: split rows, standardised values, a run."""
import json

import numpy as np
import pytest
import torch
from torch import nn

import topnet
from topnet.data import Dataset, load, split, standardize
from topnet.data import on_disk
from topnet.data.on_disk import map_rows, take_rows


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "x.npy"
    array = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(10_000, 1, 3, 3))
    array[:] = np.random.default_rng(0).integers(0, 256, array.shape, dtype=np.uint8)
    array.flush()
    return np.load(path, mmap_mode="r")


def test_rows_of_a_large_memory_map_go_to_disk_and_equal_fancy_indexing(source, tmp_path):
    indices = np.random.default_rng(1).choice(len(source), 9000, replace=False)  # more than one chunk
    rows = take_rows(source, indices, spill_bytes=0)
    assert isinstance(rows, np.memmap) and rows.flags.writeable
    np.testing.assert_array_equal(rows, np.asarray(source)[indices])
    mask = np.zeros(len(source), bool)
    mask[::3] = True
    np.testing.assert_array_equal(take_rows(source, mask, spill_bytes=0), np.asarray(source)[mask])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npy"]  # derived files are unlinked at once


def test_small_results_and_plain_arrays_stay_in_memory(source):
    assert not isinstance(take_rows(source, np.arange(5)), np.memmap)  # under a quarter of memory
    plain = np.asarray(source).copy()
    assert not isinstance(take_rows(plain, np.arange(5), spill_bytes=0), np.memmap)
    assert map_rows(plain, lambda b: b, np.float32, spill_bytes=0) is None


def test_split_and_standardize_keep_a_large_image_set_on_disk(source, monkeypatch):
    monkeypatch.setattr(on_disk, "spill_threshold", lambda: 0)
    labels = np.arange(len(source)) % 4
    splits = split(Dataset(x=source, y=labels), valid=0.1, blend=0.1, test=0.1, seed=0)
    scaled, scalers = standardize(splits)
    in_memory, _ = standardize(split(Dataset(x=np.asarray(source).copy(), y=labels), valid=0.1, blend=0.1,
                                     test=0.1, seed=0))
    for (name, part), (_, reference) in zip(scaled.items(), in_memory.items()):
        assert isinstance(part.x, np.memmap) and part.x.dtype == np.float32, name
        np.testing.assert_allclose(part.x, reference.x, rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(part.y, reference.y)


def test_fit_trains_from_the_memory_map_without_copying_it(source, monkeypatch):
    monkeypatch.setattr(on_disk, "spill_threshold", lambda: 0)
    scaled, _ = standardize(split(Dataset(x=source, y=np.arange(len(source)) % 2), valid=0.1, blend=0, test=0))
    model = nn.Sequential(nn.Flatten(), nn.Linear(9, 2))
    seen = []
    original = topnet.data.batches.to_tensors

    def spy(tree, device=None):
        tensors = original(tree, device)
        x = tree[0] if isinstance(tree, tuple) else tree  # fit passes (x, y)
        if isinstance(x, np.memmap):
            seen.append((tensors[0] if isinstance(tree, tuple) else tensors).data_ptr() == x.ctypes.data)
        return tensors

    monkeypatch.setattr("topnet.train.loop.to_tensors", spy)
    history = topnet.fit(model, scaled.train, validation_data=scaled.valid, epochs=1, batch_size=256, verbose=0,
                         device="cpu", loss="cross_entropy")
    assert seen and all(seen) and np.isfinite(history.history["loss"][0])


@pytest.mark.slow
def test_a_run_on_a_folder_that_stays_on_disk_skips_lightgbm_and_finishes(tmp_path, monkeypatch):
    from PIL import Image

    from topnet.pipeline import RunConfig, run

    monkeypatch.setattr(on_disk, "spill_threshold", lambda: 0)
    monkeypatch.setenv("TOPNET_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    for index in range(90):
        name = ("dark", "light", "mid")[index % 3]
        (tmp_path / "data" / name).mkdir(parents=True, exist_ok=True)
        level = (40, 210, 125)[index % 3]
        Image.fromarray(np.clip(rng.normal(level, 20, (8, 8)), 0, 255).astype(np.uint8)).save(
            tmp_path / "data" / name / f"{index}.png")
    assert isinstance(load(tmp_path / "data").train.x, np.memmap)
    config = RunConfig(data=str(tmp_path / "data"), out=str(tmp_path / "run"), budget="40s", top_k=1,
                       ensemble_size=1, max_epochs=2, min_epochs=1, search_epochs=1, mc_samples=0,
                       tensorboard=False, verbose=0, device="cpu")
    run(config)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["phases"]["lightgbm"]["status"] == "skipped"
    assert 0.0 <= metrics["test"]["accuracy"] <= 1.0
    torch.set_num_threads(1)  # the run may have changed it; conftest's setting for the other tests

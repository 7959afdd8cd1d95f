"""Tests for topnet.data.registry: locating, downloading (simulated) and naming datasets.

Every test runs with $TOPNET_DATA and $XDG_CACHE_HOME in tmp_path, no Debian folder, and a
network that is down unless the test serves files itself: no test touches the network.
"""
import hashlib
import io
import random
import tarfile
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from topnet.data import datasets_status, load, write_idx
from topnet.data import registry
from topnet.errors import DataError, DatasetNotFoundError

DEBIAN = Path("/usr/share/datasets/fashion-mnist")


def _offline(url, timeout=None):
    raise urllib.error.URLError("network is unreachable (test)")


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("TOPNET_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(registry, "DEBIAN_FASHION_MNIST", tmp_path / "debian")
    monkeypatch.setattr(registry, "_urlopen", _offline)
    return tmp_path


def _idx_files(folder, num_train=6, num_test=4, gz=True):
    """Tiny fake MNIST-format files; returns {file name: bytes}."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(num_train)
    suffix = ".gz" if gz else ""
    for prefix, n in (("train", num_train), ("t10k", num_test)):
        write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", (np.arange(n) % 10).astype(np.uint8))
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_fashion_mnist_from_topnet_data(isolated):
    _idx_files(isolated / "data" / "fashion-mnist")
    splits = load("fashion-mnist")
    assert [name for name, _ in splits.items()] == ["train", "test"]
    assert splits.train.x.shape == (6, 1, 28, 28) and splits.train.x.dtype == np.uint8
    assert splits.test.y.dtype == np.int64 and splits.test.y.tolist() == [0, 1, 2, 3]
    assert splits.train.class_names[0] == "T-shirt/top" and splits.train.class_names[9] == "Ankle boot"
    assert load("fashion_mnist").train.x.shape == (6, 1, 28, 28)


def test_search_order_topnet_data_then_cache_then_debian(isolated, monkeypatch):
    _idx_files(isolated / "debian", num_train=3)
    assert len(load("fashion-mnist").train) == 3
    _idx_files(isolated / "cache" / "topnet" / "fashion-mnist", num_train=4, gz=False)
    assert len(load("fashion-mnist").train) == 4
    _idx_files(isolated / "data" / "fashion-mnist", num_train=5)
    assert len(load("fashion-mnist").train) == 5
    assert len(load("fashion-mnist", path=isolated / "debian").train) == 3
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(isolated / "home"))
    _idx_files(isolated / "home" / ".cache" / "topnet" / "mnist", num_train=7)
    splits = load("mnist")
    assert len(splits.train) == 7 and splits.train.class_names == tuple("0123456789")


def test_explicit_path_without_files(isolated):
    with pytest.raises(DatasetNotFoundError, match="does not hold the files"):
        load("mnist", path=isolated / "empty")


def test_offline_error_lists_where_it_looked_and_how_to_get_it(isolated):
    with pytest.raises(DatasetNotFoundError) as info:
        load("fashion-mnist")
    message = str(info.value)
    for expected in (str(isolated / "data" / "fashion-mnist"), str(isolated / "cache" / "topnet" / "fashion-mnist"),
                     str(isolated / "debian"), "network is unreachable", "apt-get install dataset-fashion-mnist",
                     "train-images-idx3-ubyte.gz", "$TOPNET_DATA/fashion-mnist"):
        assert expected in message
    assert not list((isolated / "cache").rglob("*.part"))


def test_download_false_never_touches_the_network(isolated, monkeypatch):
    monkeypatch.delenv("TOPNET_DATA")
    calls = []
    monkeypatch.setattr(registry, "_urlopen", lambda *a, **k: calls.append(a))
    with pytest.raises(DatasetNotFoundError, match=r"(?s)\$TOPNET_DATA/mnist: not set.*download=False"):
        load("mnist", download=False)
    assert calls == []


def _serve(monkeypatch, files, fail_first_mirror=False):
    """Serve ``files`` (name -> bytes) as if from the network; returns the list of URLs asked for."""
    asked = []

    def urlopen(url, timeout=None):
        asked.append(url)
        if fail_first_mirror and len(asked) % 2 == 1:
            raise urllib.error.URLError("first mirror down")
        return io.BytesIO(files[url.rsplit("/", 1)[1]])

    monkeypatch.setattr(registry, "_urlopen", urlopen)
    return asked


def _checksums(monkeypatch, name, files, mirrors=("https://example.org/a/",)):
    sums = {n: hashlib.sha256(data).hexdigest() for n, data in files.items() if n in registry._SOURCES[name].files}
    monkeypatch.setitem(registry._SOURCES, name, registry._Source(sums, mirrors))


def test_download_checks_sha256_and_fills_the_cache(isolated, monkeypatch):
    files = _idx_files(isolated / "upstream")
    _checksums(monkeypatch, "mnist", files, ("https://a.example/", "https://b.example/"))
    asked = _serve(monkeypatch, files, fail_first_mirror=True)
    splits = load("mnist")
    assert len(splits.train) == 6 and len(asked) == 8  # each file: mirror a fails, mirror b serves
    cached = isolated / "cache" / "topnet" / "mnist"
    assert sorted(p.name for p in cached.iterdir()) == sorted(files)
    assert datasets_status()[1] == {"name": "mnist", "status": "found", "location": str(cached),
                                    "source": "user cache", "url": "https://a.example/"}


def test_checksum_mismatch_deletes_the_download(isolated, monkeypatch):
    files = _idx_files(isolated / "upstream")
    _checksums(monkeypatch, "mnist", files)
    _serve(monkeypatch, {**files, "t10k-images-idx3-ubyte.gz": b"tampered"})
    with pytest.raises(DataError, match="checksum mismatch"):
        load("mnist")
    cached = isolated / "cache" / "topnet" / "mnist"
    assert "t10k-images-idx3-ubyte.gz" not in {p.name for p in cached.iterdir()}
    assert not list(cached.glob(".*part"))


def _cifar10_tarball(folder_name="cifar-10-batches-bin"):
    images = np.random.default_rng(0).integers(0, 256, (12, 3072), dtype=np.uint8)
    records = np.concatenate([(np.arange(12) % 10)[:, None].astype(np.uint8), images], axis=1)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        names = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
        for i, name in enumerate(names):
            data = records[2 * i:2 * i + 2].tobytes()
            info = tarfile.TarInfo(f"{folder_name}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue(), images


def test_cifar10_download_unpacks_safely_into_the_cache(isolated, monkeypatch):
    tarball, images = _cifar10_tarball()
    files = {"cifar-10-binary.tar.gz": tarball}
    _checksums(monkeypatch, "cifar10", files)
    _serve(monkeypatch, files)
    splits = load("cifar10")
    assert splits.train.x.shape == (10, 3, 32, 32) and splits.test.y.tolist() == [0, 1]
    np.testing.assert_array_equal(splits.train.x.reshape(10, -1), images[:10])
    cached = isolated / "cache" / "topnet" / "cifar10"
    assert sorted(p.name for p in cached.iterdir()) == ["cifar-10-batches-bin"]  # tarball removed
    assert load("cifar10", download=False).train.class_names[0] == "airplane"


def test_cifar_tarball_in_topnet_data_is_unpacked_to_the_cache(isolated):
    (isolated / "data" / "cifar10").mkdir(parents=True)
    (isolated / "data" / "cifar10" / "cifar-10-binary.tar.gz").write_bytes(_cifar10_tarball()[0])
    assert len(load("cifar10").train) == 10
    assert (isolated / "cache" / "topnet" / "cifar10" / "cifar-10-batches-bin").is_dir()
    assert datasets_status()[2]["source"] == "$TOPNET_DATA"


def test_files_by_path(isolated):
    np.savez(isolated / "d.npz", x=np.zeros((3, 2)), y=np.array([0, 1, 0]), t=np.array([1.0, 2.0, 3.0]))
    assert load(isolated / "d.npz", target="t").train.y.dtype == np.float32
    assert load(str(isolated / "d.npz"), x="x").train.y.tolist() == [0, 1, 0]
    (isolated / "d.csv").write_text("a,b\n1,x\n2,y\n")
    splits = load(isolated / "d.csv", target="b")
    assert splits.train.class_names == ("x", "y") and splits.test is None
    with pytest.raises(DataError, match="target: got None"):
        load(isolated / "d.csv")


def test_unknown_names_and_arguments(isolated):
    with pytest.raises(ValueError, match="unknown dataset 'fashon-mnist'.*did you mean 'fashion-mnist'"):
        load("fashon-mnist")
    with pytest.raises(TypeError, match="unexpected keyword arguments"):
        load("mnist", seed=1)


def test_mnist1d_is_generated_locally_without_touching_global_state():
    np_state, py_state = np.random.get_state()[1].copy(), random.getstate()
    splits = load("mnist1d", num_samples=200, seed=3)
    assert np.array_equal(np.random.get_state()[1], np_state) and random.getstate() == py_state
    assert splits.train.x.shape == (160, 1, 40) and splits.train.x.dtype == np.float32
    assert splits.test.y.dtype == np.int64 and splits.train.num_classes == 10
    again = load("mnist1d", num_samples=200, seed=3)
    np.testing.assert_array_equal(again.train.x, splits.train.x)
    assert not np.array_equal(load("mnist1d", num_samples=200, seed=4).train.x, splits.train.x)


def test_datasets_status_lists_every_named_dataset(isolated):
    _idx_files(isolated / "data" / "fashion-mnist")
    rows = {row["name"]: row for row in datasets_status()}
    assert set(rows) == {"fashion-mnist", "mnist", "cifar10", "cifar100", "mnist1d", "imdb-reviews", "rotten-tomatoes"}
    assert rows["fashion-mnist"]["status"] == "found" and rows["fashion-mnist"]["source"] == "$TOPNET_DATA"
    assert rows["fashion-mnist"]["location"] == str(isolated / "data" / "fashion-mnist")
    assert rows["mnist"] == {"name": "mnist", "status": "not found", "location": None, "source": None,
                             "url": "https://storage.googleapis.com/cvdf-datasets/mnist/"}
    assert rows["mnist1d"]["status"] == "generated locally"


@pytest.mark.e2e
def test_real_fashion_mnist_from_debian(monkeypatch):
    assert DEBIAN.is_dir(), "needs Debian's dataset-fashion-mnist: run scripts/setup.sh (apt-get install dataset-fashion-mnist)"
    monkeypatch.setattr(registry, "DEBIAN_FASHION_MNIST", DEBIAN)
    splits = load("fashion-mnist")
    assert splits.train.x.shape == (60000, 1, 28, 28) and splits.test.x.shape == (10000, 1, 28, 28)
    assert splits.train.x.dtype == np.uint8 and splits.train.y.dtype == np.int64
    assert np.bincount(splits.train.y).tolist() == [6000] * 10
    assert np.bincount(splits.test.y).tolist() == [1000] * 10
    assert 72 < splits.train.x.mean() < 74  # the published mean pixel, 0.2860 * 255

"""The download addresses and SHA-256 checksums that topnet.data.registry ships, checked offline.

A wrong checksum makes every download of that dataset fail; a wrong address fails the same way.
No test here touches the network: checksums are checked against the files already on this
machine, addresses by their form and by the requests ``_download`` would make.
"""
import hashlib
import re
import struct
import urllib.error
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from topnet.data import registry

SOURCES = sorted((name, filename) for name, source in registry._SOURCES.items() for filename in source.files)

# Debian's dataset-fashion-mnist holds upstream's gzip streams with the header's file name taken
# out and its mtime set to the package's date (dh_strip_nondeterminism), so its files hash
# differently. Upstream's headers (github.com/zalandoresearch/fashion-mnist, data/fashion/ as of
# commit 658ec8c, 2017-08-31) carry the file name and these mtimes: put back, they give
# upstream's bytes, which are what the registry's checksums are of.
UPSTREAM_GZIP_MTIMES = {
    "train-images-idx3-ubyte.gz": 0x59A7E9DE,  # 2017-08-31 10:50:06 UTC
    "train-labels-idx1-ubyte.gz": 0x59A7E9DE,
    "t10k-images-idx3-ubyte.gz": 0x59A7E9F3,  # 2017-08-31 10:50:27 UTC
    "t10k-labels-idx1-ubyte.gz": 0x59A7E9F3,
}
_GZIP_FNAME = 0x08


def _upstream_bytes(data: bytes, filename: str) -> bytes:
    """``data`` with the gzip header upstream published: file name and mtime put back."""
    if data[:4] != b"\x1f\x8b\x08\x00":  # not a gzip file without optional header fields: as it is
        return data
    header = data[:3] + bytes([_GZIP_FNAME]) + struct.pack("<I", UPSTREAM_GZIP_MTIMES[filename]) + data[8:10]
    return header + filename.removesuffix(".gz").encode() + b"\0" + data[10:]


def _copies_on_this_machine(name: str, filename: str) -> list[tuple[Path, bytes]]:
    """Every copy of a registry file in the places `load` looks, as the bytes upstream published."""
    copies = []
    for _, folder in registry._places(name):
        path = folder / filename if folder is not None else None
        if path is None or not path.is_file():
            continue
        data = path.read_bytes()
        if folder == registry.DEBIAN_FASHION_MNIST:
            data = _upstream_bytes(data, filename)
        copies.append((path, data))
    return copies


@pytest.mark.parametrize("name, filename", SOURCES)
def test_files_on_this_machine_hash_to_the_registry_checksum(name, filename):
    copies = _copies_on_this_machine(name, filename)
    if not copies:
        pytest.skip(f"{name}/{filename} is not on this machine")
    for path, data in copies:
        assert hashlib.sha256(data).hexdigest() == registry._SOURCES[name].files[filename], path


def test_the_debian_fashion_mnist_files_are_checked():
    # the parametrised test above skips files that are not here: make sure it checked something
    assert registry.DEBIAN_FASHION_MNIST.is_dir(), \
        "needs Debian's dataset-fashion-mnist: run scripts/setup.sh (apt-get install dataset-fashion-mnist)"
    files = registry._SOURCES["fashion-mnist"].files
    assert all(_copies_on_this_machine("fashion-mnist", filename) for filename in files)


def test_every_named_dataset_but_mnist1d_has_a_source():
    assert set(registry._SOURCES) == set(registry.DATASETS) - {"mnist1d", "imdb-reviews", "rotten-tomatoes"}
    assert len(SOURCES) >= 10


@pytest.mark.parametrize("name", sorted(registry._SOURCES))
def test_files_are_the_ones_the_readers_open(name):
    files = set(registry._SOURCES[name].files)
    if name in ("fashion-mnist", "mnist"):
        assert files == {f"{stem}.gz" for stem in registry._IDX}
    else:
        assert files == {registry._TARBALLS[name][0]}
    for sha256 in registry._SOURCES[name].files.values():
        assert re.fullmatch("[0-9a-f]{64}", sha256), sha256


def test_checksums_are_distinct():  # a checksum pasted twice is wrong at least once
    checksums = [sha256 for source in registry._SOURCES.values() for sha256 in source.files.values()]
    assert len(set(checksums)) == len(checksums)


@pytest.mark.parametrize("name", sorted(registry._SOURCES))
def test_addresses_are_well_formed_and_end_with_the_checked_file(name):
    source = registry._SOURCES[name]
    assert source.mirrors and urlsplit(source.mirrors[0]).scheme == "https"  # the address messages show
    for mirror in source.mirrors:
        parts = urlsplit(mirror)
        assert parts.scheme in ("https", "http") and "." in parts.netloc, mirror
        assert not (parts.query or parts.fragment or re.search(r"\s", mirror)) and mirror.endswith("/"), mirror
        for filename in source.files:
            path = urlsplit(mirror + filename).path
            assert path.endswith("/" + filename) and path.rsplit("/", 1)[1] == filename


@pytest.mark.parametrize("name", sorted(registry._SOURCES))
def test_download_asks_each_mirror_for_the_file_it_checks(name, tmp_path, monkeypatch):
    asked = []

    def offline(url, timeout=None):
        asked.append(url)
        raise urllib.error.URLError("network is unreachable (test)")

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(registry, "_urlopen", offline)
    with pytest.raises(OSError):
        registry._download(name)
    source = registry._SOURCES[name]
    first = next(iter(source.files))
    assert asked == [mirror + first for mirror in source.mirrors]

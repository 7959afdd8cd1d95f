"""The settings that carry a folder of images through load, config, CLI and study, and the
pieces of the data floor they rely on (row paths, chunked uint8 statistics)."""
import numpy as np
import pytest

from topnet.cli import build_parser
from topnet.cli.arguments import data_settings
from topnet.data import Dataset, Standardizer
from topnet.data.registry import image_options, parse_image_size
from topnet.data.transforms import _uint8_moments
from topnet.pipeline import RunConfig
from topnet.configs.data_spec import DataSpec


def test_image_options_keep_only_what_differs_from_the_defaults():
    assert image_options() == {}
    assert image_options(32) == {"image_size": (32, 32)}
    assert image_options([24, 40], "stretch", True) == {"image_size": (24, 40), "fit": "stretch", "skip_bad": True}


@pytest.mark.parametrize("size", [0, -3, [1, 2, 3], "64", 2.5, True, [8, 0]])
def test_bad_image_sizes_name_the_value(size):
    with pytest.raises(ValueError, match=r"image_size: got .*expected a positive int"):
        image_options(size)


def test_bad_fit_lists_the_choices():
    with pytest.raises(ValueError, match=r"fit: got 'squash'; expected one of \['pad', 'crop', 'stretch'\]"):
        image_options(fit="squash")


def test_parse_image_size_for_the_command_line():
    assert parse_image_size("64") == 64 and parse_image_size("48x64") == (48, 64) and parse_image_size("8X9") == (8, 9)
    for text in ("", "x", "0", "64x", "a", "1x2x3"):
        with pytest.raises(ValueError, match="--image-size: got"):
            parse_image_size(text)


def test_run_config_validates_early_and_stores_lists_as_config_json_does():
    config = RunConfig(image_size=(24, 32), image_fit="crop")
    assert config.image_size == [24, 32] and config.to_dict()["image_size"] == [24, 32]
    with pytest.raises(ValueError, match="fit: got 'zoom'"):
        RunConfig(image_fit="zoom")


def test_the_cli_flags_become_settings():
    args = build_parser().parse_args(["run", "--data", "photos/", "--image-size", "32x48", "--image-fit", "crop",
                                      "--skip-bad"])
    assert data_settings(args) == {"data": "photos/", "image_size": [32, 48], "image_fit": "crop", "skip_bad": True}
    args = build_parser().parse_args(["run"])
    assert data_settings(args) == {}  # nothing given: the config file and defaults decide
    args = build_parser().parse_args(["train", "--data", "photos", "--image-size", "16"])
    assert data_settings(args) == {"data": "photos", "image_size": 16}


def test_a_data_spec_round_trips_its_image_settings():
    spec = DataSpec("photos", image_size=(16, 24), image_fit="crop", skip_bad=True)
    again = DataSpec.from_dict(spec.to_dict())
    assert image_options(again.image_size, again.image_fit, again.skip_bad) == \
        {"image_size": (16, 24), "fit": "crop", "skip_bad": True}


def test_take_keeps_each_rows_path_in_step():
    data = Dataset(x=np.arange(4)[:, None], y=np.array([0, 1, 0, 1]), meta={"paths": ["a", "b", "c", "d"], "k": 1})
    taken = data.take([3, 0])
    assert taken.meta["paths"] == ["d", "a"] and taken.meta["k"] == 1 and taken.x.ravel().tolist() == [3, 0]
    assert data.take(np.array([False, True, True, False])).meta["paths"] == ["b", "c"]


@pytest.mark.parametrize("shape", [(50, 3, 4, 5), (30, 2), (40,)])
def test_uint8_statistics_in_chunks_equal_the_float_ones(shape):
    array = np.random.default_rng(0).integers(0, 256, shape).astype(np.uint8)
    mean, std = _uint8_moments(array, rows_per_chunk=7)  # several chunks, a short last one
    as_float = array.astype(np.float64)
    axes = tuple(i for i in range(array.ndim) if i != 1)
    np.testing.assert_allclose(mean, as_float.mean(axis=axes), rtol=1e-12)
    np.testing.assert_allclose(std, as_float.std(axis=axes), rtol=1e-9)
    fitted = Standardizer().fit(array)
    shape = (1, -1) + (1,) * (array.ndim - 2) if array.ndim > 1 else (-1,)
    expected = (as_float - as_float.mean(axis=axes).reshape(shape)) / as_float.std(axis=axes).reshape(shape)
    np.testing.assert_allclose(fitted.transform(array), expected, rtol=1e-5, atol=1e-5)


def test_uint8_statistics_read_a_memory_map_without_loading_it(tmp_path):
    path = tmp_path / "x.u8"
    images = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(64, 1, 4, 4))
    images[:] = np.arange(64, dtype=np.uint8)[:, None, None, None]
    images.flush()
    fitted = Standardizer().fit(np.load(path, mmap_mode="r"))
    assert fitted.mean_.tolist() == [31.5] and fitted.std_[0] == pytest.approx(np.arange(64).std())
    constant = Standardizer().fit(np.full((3, 2), 9, np.uint8))
    assert constant.mean_.tolist() == [9.0, 9.0] and constant.std_.tolist() == [1.0, 1.0]  # std 0 -> only centred


def _photos(root, classes=("cat", "dog"), count=2):
    from PIL import Image

    for index, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            Image.new("L", (6, 4), 40 * index + i).save(root / name / f"{i}.png")
    return root


def test_load_reads_a_folder_a_manifest_and_tables_by_what_they_are(tmp_path, monkeypatch):
    from topnet.data import load

    monkeypatch.setenv("TOPNET_CACHE", str(tmp_path / "cache"))
    photos = _photos(tmp_path / "photos")
    folder = load(photos, image_size=4)
    assert folder.train.x.shape == (4, 1, 4, 4) and folder.train.class_names == ("cat", "dog")
    manifest = tmp_path / "labels.csv"
    manifest.write_text("path,label,split\nphotos/cat/0.png,cat,train\nphotos/dog/0.png,dog,train\n"
                        "photos/cat/1.png,cat,test\nphotos/dog/1.png,dog,train\n")
    listed = load(manifest, image_size=4)
    assert len(listed.train) == 3 and len(listed.test) == 1 and listed.test.meta["paths"] == ["photos/cat/1.png"]
    np.testing.assert_array_equal(listed.test.x[0], folder.train.x[folder.train.meta["paths"].index("cat/1.png")])
    table = load(manifest, target="label")  # with a target, the same file is a table
    assert table.train.meta["categorical_columns"] == ["path", "split"]


def test_load_says_what_it_accepts_for_a_path_that_is_not_there(tmp_path):
    from topnet.data import load

    with pytest.raises(ValueError, match=r"unknown dataset .*no_such_folder.*or the path of an existing folder of "
                                         r"images, .*\.parquet.* table or \.npz file \(nothing exists at"):
        load(str(tmp_path / "no_such_folder"))
    (tmp_path / "t.parquet").write_bytes(b"")
    with pytest.raises(Exception, match="target: got None"):
        load(tmp_path / "t.parquet")


def test_run_config_wants_a_target_for_a_table_but_not_for_a_manifest(tmp_path):
    (tmp_path / "table.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="target: got None; expected the column of .* to predict"):
        RunConfig(data=str(tmp_path / "table.csv"))
    (tmp_path / "labels.csv").write_text("path,label\na.png,cat\n")
    assert RunConfig(data=str(tmp_path / "labels.csv")).target is None

"""``topnet predict`` on small run directories made in the test.

Each run directory is written by the functions ``topnet run`` uses (``prepare`` for
``dataset.json`` / ``standardizer.json``, ``network_members`` for the members, ``Ensemble.save``),
with small untrained networks instead of a search: the predictions are checked against the
in-memory ensemble on the run's own standardised splits, and the MC dropout ones against
``topnet.uncertainty.mc_predict``.
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import shutil

import numpy as np
import pytest
import torch

from topnet.cli.predict import add_predict_parser, run_predict
from topnet.configs.data_spec import TrialData, model_arguments
from topnet.data import Standardizer, write_idx
from topnet.ensemble import Ensemble, LightGBMMember, NetworkMember
from topnet.errors import CheckpointError, DataError
from topnet.nn import create_model
from topnet.pipeline import RunConfig
from topnet.pipeline.data import prepare
from topnet.pipeline.evaluate import network_members
from topnet.pipeline.predict import predict_run
from topnet.pipeline.predict_inputs import fit_shape
from topnet.uncertainty import mc_predict

CLASS_NAMES = ["T-shirt/top", "Trouser", "a b"]


def _make_run(directory, data, *, target=None, families=(), lightgbm=False):
    """A run directory as ``topnet run`` writes it, with untrained networks; returns (splits, ensemble)."""
    data = prepare(RunConfig(data=str(data), target=target, out=str(directory), seed=0))
    directory.mkdir()
    (directory / "dataset.json").write_text(json.dumps(data.info))
    (directory / "standardizer.json").write_text(json.dumps(data.standardizers))
    trial, models, records = TrialData(data.splits), {}, {}
    for index, (family, options) in enumerate(families):
        torch.manual_seed(index)
        name = f"{index:02d}-{family}"
        arguments = model_arguments(family, trial.for_family(family).train, data.width)
        models[name], records[name] = create_model(family, **arguments, **options), {"family": family}
    members = network_members(models, records, data, "cpu")
    if lightgbm:
        members.append(LightGBMMember(task=data.task, num_boost_round=5, params={"min_data_in_leaf": 3}))
    ensemble = Ensemble(members, combiner="uniform", temperature=data.task == "classification").fit(data.splits)
    ensemble.save(directory / "ensemble")
    return dataclasses.replace(data.splits, test=data.test.open()), ensemble  # the run's sealed test, read here


def _write_table(path, header, rows):
    with open(path, "w", newline="") as handle:
        csv.writer(handle).writerows([header, *rows])


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(96, 1, 8, 8)).astype(np.uint8)
    y = rng.integers(0, 3, 96)
    np.savez(folder / "images.npz", x_train=x[:80], y_train=y[:80], x_test=x[80:], y_test=y[80:],
             class_names=np.array(CLASS_NAMES))
    families = [("small_convnet", {"filters": (4,), "dense": 8}), ("mlp", {"hidden": (8,), "dropout": 0.3})]
    splits, ensemble = _make_run(folder / "run", folder / "images.npz", families=families)
    return folder, splits, ensemble


def _table(rows: int, seed: int):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=rows), rng.normal(size=rows)
    color = rng.choice(["red", "green", "blue"], rows)
    return a, b, color


@pytest.fixture(scope="module")
def table_runs(tmp_path_factory):
    """A classification and a regression run on a CSV with a categorical column."""
    folder = tmp_path_factory.mktemp("tables")
    a, b, color = _table(90, seed=1)
    label = np.where(a + (color == "red") > 0.5, "yes", "no")
    _write_table(folder / "classes.csv", ["a", "b", "color", "label"], zip(a, b, color, label))
    _write_table(folder / "values.csv", ["a", "b", "color", "price"], zip(a, b, color, 3 * a - b + 0.1))
    families = [("mlp", {"hidden": (8,), "dropout": 0.3}), ("wide_and_deep", {"hidden": (8,), "dropout": 0.2}),
                ("mlp", {"hidden": (8,)})]
    classes = _make_run(folder / "classes", folder / "classes.csv", target="label", families=families, lightgbm=True)
    values = _make_run(folder / "values", folder / "values.csv", target="price", families=families[:2])
    return folder, classes, values


def _scaled_table(run, numeric, codes):
    """The table as the run's members take it: numeric columns standardised (NaN -> 0), codes as they are."""
    scaler = Standardizer().load_state_dict(json.loads((run / "standardizer.json").read_text())["numeric"])
    return {"numeric": scaler.transform(np.asarray(numeric, np.float32)), "categorical": np.asarray(codes, np.int64)}


def test_images_npz_match_the_ensemble_and_the_csv_has_the_columns(image_run, tmp_path):
    folder, splits, ensemble = image_run
    predictions = predict_run(folder / "run", folder / "images.npz", out=tmp_path / "preds.csv", device="cpu")
    expected = ensemble.predict_proba(splits.test.x)  # x_test, standardised by the run's train statistics
    columns = predictions.columns
    probabilities = np.stack([columns[f"p_{n}"] for n in ("T_shirt_top", "Trouser", "a_b")], axis=1)
    np.testing.assert_allclose(probabilities, expected, rtol=1e-12)
    np.testing.assert_array_equal(columns["class"], expected.argmax(axis=1))
    assert list(columns["class_name"]) == [CLASS_NAMES[i] for i in expected.argmax(axis=1)]
    np.testing.assert_allclose(columns["confidence"], expected.max(axis=1))
    np.testing.assert_allclose(columns["entropy"], -np.sum(expected * np.log(expected), axis=1))
    with open(predictions.path, newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["row", "class", "class_name", "confidence", "entropy", "p_T_shirt_top", "p_Trouser", "p_a_b"]
    assert len(rows) == 1 + 16 and rows[1][2] == columns["class_name"][0]
    np.testing.assert_allclose(np.array([r[5:] for r in rows[1:]], float), expected, rtol=1e-6)


def test_idx_images_without_channel_axis_and_printed_table(image_run, tmp_path, capsys):
    folder, splits, ensemble = image_run
    raw = np.load(folder / "images.npz")["x_test"]
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", raw[:, 0])  # (N, 8, 8) as MNIST's IDX files
    parser = argparse.ArgumentParser(prog="topnet")
    add_predict_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["predict", "--run", str(folder / "run"), str(tmp_path / "t10k-images-idx3-ubyte.gz"),
                              "--device", "cpu"])
    assert run_predict(args) == 0
    out, err = capsys.readouterr()
    assert "added the channel axis: (16, 8, 8) -> (16, 1, 8, 8)" in err
    assert out.splitlines()[0].split() == ["row", "class", "class_name", "confidence", "entropy", "p_T_shirt_top",
                                           "p_Trouser", "p_a_b"]
    assert "... (6 more rows)" in out and out.strip().splitlines()[-1].startswith("16 rows; predicted classes:")
    same = predict_run(folder / "run", raw, device="cpu")  # an array in, the same rows out
    np.testing.assert_allclose(same.columns["p_Trouser"], ensemble.predict_proba(splits.test.x)[:, 1], rtol=1e-12)


def test_inputs_in_other_units_get_a_note(image_run):
    folder, _, _ = image_run
    raw = np.load(folder / "images.npz")["x_test"].astype(np.float32) / 255  # trained on 0-255 pixels
    notes = predict_run(folder / "run", raw, device="cpu").notes
    assert any("units the run was trained on" in note for note in notes)


def test_csv_classification_by_column_name_with_an_unseen_category(table_runs):
    folder, (splits, ensemble), _ = table_runs
    rows = [["7", "green", "no", "1.5", "0.2"], ["8", "purple", "yes", "-0.3", ""], ["9", "", "no", "0.1", "2.0"]]
    _write_table(folder / "new.csv", ["id", "color", "label", "a", "b"], rows)  # other order, target, an extra column
    predictions = predict_run(folder / "classes", folder / "new.csv", device="cpu")
    vocabulary = json.loads((folder / "classes" / "dataset.json").read_text())["csv"]["vocabularies"]["color"]
    assert vocabulary == ["<missing>", "blue", "green", "red"]
    x = _scaled_table(folder / "classes", [[1.5, 0.2], [-0.3, np.nan], [0.1, 2.0]], [[2], [0], [0]])  # purple -> 0
    expected = ensemble.predict_proba(x)
    np.testing.assert_allclose(np.stack([predictions.columns["p_no"], predictions.columns["p_yes"]], axis=1), expected,
                               rtol=1e-12)
    assert list(predictions.columns["class_name"]) == [["no", "yes"][i] for i in expected.argmax(axis=1)]
    assert "ignored columns the run did not train on: ['id']" in predictions.notes
    assert "column 'color': values not seen in training ['purple'] read as '<missing>'" in predictions.notes


def test_csv_regression_gives_prediction_and_member_spread(table_runs, tmp_path):
    folder, _, (splits, ensemble) = table_runs
    a, b, color = _table(6, seed=5)
    _write_table(tmp_path / "new.csv", ["a", "b", "color"], zip(a, b, color))
    predictions = predict_run(folder / "values", tmp_path / "new.csv", device="cpu")
    codes = [[["<missing>", "blue", "green", "red"].index(c)] for c in color]
    x = _scaled_table(folder / "values", np.stack([a, b], axis=1).astype(np.float32), codes)
    assert list(predictions.columns) == ["row", "prediction", "std"]
    np.testing.assert_allclose(predictions.columns["prediction"], ensemble.predict(x), rtol=1e-12)
    members = np.stack([m.predict(x) for m in ensemble.members_])
    np.testing.assert_allclose(predictions.columns["std"], members.std(axis=0), rtol=1e-12)
    assert predictions.summary().startswith("6 rows; prediction min")


def test_missing_columns_are_named(table_runs, tmp_path):
    folder, _, _ = table_runs
    _write_table(tmp_path / "new.csv", ["a", "label"], [["1.0", "yes"]])
    with pytest.raises(DataError, match=r"got no column \['b', 'color'\]; expected every feature column .*"
                                        r"\['a', 'b', 'color'\]"):
        predict_run(folder / "classes", tmp_path / "new.csv", device="cpu")
    with pytest.raises(DataError, match=r"expected a \.csv / \.tsv / .*\.parquet / \.pq file with the columns \['a', 'b', 'color'\]"):
        predict_run(folder / "classes", np.zeros((2, 3), np.float32), device="cpu")


def test_wrong_feature_count_names_got_and_expected(tmp_path):
    x = np.random.default_rng(0).normal(size=(60, 1, 12)).astype(np.float32)
    np.savez(tmp_path / "vectors.npz", x=x, y=np.arange(60) % 2)
    _make_run(tmp_path / "run", tmp_path / "vectors.npz", families=[("mlp", {"hidden": (4,)})])
    assert json.loads((tmp_path / "run" / "dataset.json").read_text())["kind"] == "vectors"
    with pytest.raises(DataError, match=r"INPUT shape: got \(5, 11\); expected \(rows, 1, 12\)"):
        predict_run(tmp_path / "run", x[:5, 0, :11], device="cpu")
    flat = predict_run(tmp_path / "run", x[:5, 0], device="cpu")  # (N, 12): the channel axis is added
    assert len(flat) == 5 and flat.notes == ["added the channel axis: (5, 12) -> (5, 1, 12)"]


@pytest.mark.parametrize("shape, message", [((3, 8, 8, 1), "channels-last; transpose"),
                                            ((3, 2, 8, 8), r"pass an array shaped \(rows, 1, 8, 8\)")])
def test_fit_shape_errors_say_how_to_fix(shape, message):
    with pytest.raises(DataError, match=message):
        fit_shape(np.zeros(shape), [1, 8, 8])
    assert fit_shape(np.zeros((3, 64)), [1, 8, 8])[0].shape == (3, 1, 8, 8)


def _mc_reference(ensemble, x, samples):
    """Member outputs with MC means for dropout networks, and the ensemble output per sample."""
    drawn = {}
    for member in ensemble.members_:
        if isinstance(member, NetworkMember) and any(isinstance(m, torch.nn.Dropout) for m in member.model.modules()):
            drawn[member.name] = mc_predict(member.model, member.inputs(x), samples, seed=0, device="cpu",
                                            return_samples=True).samples.double().numpy()
    outputs = {m.name: drawn[m.name].mean(axis=0) if m.name in drawn else m.predict(x) for m in ensemble.members_}
    per_sample = np.stack([ensemble.combine({**outputs, **{n: s[i] for n, s in drawn.items()}}) for i in range(samples)])
    return outputs, per_sample, drawn


def test_mc_samples_average_dropout_members_only(table_runs):
    folder, _, _ = table_runs
    table = folder / "classes.csv"
    predictions = predict_run(folder / "classes", table, mc_samples=6, device="cpu")
    assert "MC dropout (6 samples, seed 0) for ['00-mlp', '01-wide_and_deep']; deterministic: ['02-mlp', 'lightgbm']" \
        in predictions.notes  # 02-mlp has no dropout layers
    assert "mc_std" in predictions.columns and list(predictions.columns).index("mc_std") == 5
    again = predict_run(folder / "classes", table, mc_samples=6, device="cpu", batch_size=7)
    np.testing.assert_allclose(again.columns["mc_std"], predictions.columns["mc_std"], rtol=1e-5, atol=1e-9)
    assert predictions.columns["mc_std"].max() > 0


def test_mc_classification_matches_mc_predict(image_run):
    folder, splits, ensemble = image_run
    predictions = predict_run(folder / "run", folder / "images.npz", mc_samples=5, device="cpu")
    outputs, per_sample, drawn = _mc_reference(ensemble, splits.test.x, 5)
    assert sorted(drawn) == ["00-small_convnet", "01-mlp"]
    expected = ensemble.combine(outputs)
    predicted = expected.argmax(axis=1)
    np.testing.assert_allclose(predictions.columns["p_Trouser"], expected[:, 1], rtol=1e-9)
    np.testing.assert_allclose(predictions.columns["mc_std"], per_sample[:, np.arange(16), predicted].std(axis=0),
                               rtol=1e-6, atol=1e-12)


def test_mc_regression_draws_the_masks_of_mc_predict(table_runs, tmp_path):
    folder, _, (splits, ensemble) = table_runs
    a, b, color = _table(5, seed=6)
    _write_table(tmp_path / "new.csv", ["a", "b", "color"], zip(a, b, color))
    predictions = predict_run(folder / "values", tmp_path / "new.csv", mc_samples=4, device="cpu")
    codes = [[["<missing>", "blue", "green", "red"].index(c)] for c in color]
    x = _scaled_table(folder / "values", np.stack([a, b], axis=1).astype(np.float32), codes)
    samples = {}
    for member in ensemble.members_:  # mc_predict gives sigmoid(output) for one output: invert it
        p = mc_predict(member.model, member.inputs(x), 4, seed=0, device="cpu", return_samples=True).samples
        samples[member.name] = torch.logit(p.double()).numpy().reshape(4, -1)
    means = {name: s.mean(axis=0) for name, s in samples.items()}
    per_sample = np.stack([ensemble.combine({n: s[i] for n, s in samples.items()}) for i in range(4)])
    np.testing.assert_allclose(predictions.columns["prediction"], ensemble.combine(means), rtol=1e-4)
    mc_std = per_sample.std(axis=0)
    np.testing.assert_allclose(predictions.columns["mc_std"], mc_std, rtol=1e-3, atol=1e-6)
    spread = np.stack(list(means.values())).std(axis=0)
    np.testing.assert_allclose(predictions.columns["std"], np.sqrt(spread ** 2 + mc_std ** 2), rtol=1e-3, atol=1e-6)


def test_an_unfinished_run_says_how_to_finish_it(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "dataset.json").write_text("{}")
    with pytest.raises(CheckpointError, match=r"without \['standardizer.json', 'ensemble/ensemble.json'\].*--resume"):
        predict_run(tmp_path / "run", tmp_path / "x.npz")
    with pytest.raises(FileNotFoundError, match="a run directory written by `topnet run`"):
        predict_run(tmp_path / "nothing", tmp_path / "x.npz")
    with pytest.raises(ValueError, match="mc_samples: got -1"):
        predict_run(tmp_path / "run", tmp_path / "x.npz", mc_samples=-1)


@pytest.fixture(scope="module")
def folder_run(tmp_path_factory):
    """A run on a folder of PNGs with train/ and test/ subfolders (three colours of image)."""
    from PIL import Image

    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for split, count in (("train", 60), ("test", 9)):
        for index in range(count):
            name = ("red", "green", "blue")[index % 3]
            (folder / "data" / split / name).mkdir(parents=True, exist_ok=True)
            pixels = rng.integers(0, 60, (10, 14, 3), dtype=np.uint8)
            pixels[..., index % 3] += 180
            Image.fromarray(pixels).save(folder / "data" / split / name / f"{index:03d}.png")
    families = [("small_convnet", {"filters": (4,), "dense": 8}), ("mlp", {"hidden": (8,)})]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TOPNET_CACHE", str(folder / "cache"))  # decoded images stay in the test's folder
        splits, ensemble = _make_run(folder / "run", folder / "data", families=families)
    return folder, splits, ensemble


def test_a_folder_run_predicts_a_folder_one_row_per_file_as_trained(folder_run, tmp_path, monkeypatch):
    folder, splits, ensemble = folder_run
    monkeypatch.setenv("TOPNET_CACHE", str(tmp_path / "cache"))
    info = json.loads((folder / "run" / "dataset.json").read_text())
    assert info["kind"] == "image" and info["images"]["image_size"] == [14, 14] and info["images"]["channels"] == 3
    assert info["class_names"] == ["blue", "green", "red"] and info["num_rows"]["test"] == 9
    (folder / "data" / "test" / "notes.txt").write_text("not an image")
    predictions = predict_run(folder / "run", folder / "data" / "test", out=tmp_path / "preds.csv", device="cpu")
    expected = ensemble.predict_proba(splits.test.x)  # the run's own test split, standardised by the run
    by_path = dict(zip(splits.test.meta["paths"], expected))
    assert list(predictions.columns)[:3] == ["row", "path", "class"]
    got = np.stack([predictions.columns[f"p_{n}"] for n in info["class_names"]], axis=1)
    want = np.stack([by_path["test/" + p] for p in predictions.columns["path"]])
    np.testing.assert_allclose(got, want, rtol=1e-6)
    with open(predictions.path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 9 and rows[0]["path"] == "blue/002.png"
    one = predict_run(folder / "run", folder / "data" / "test" / "red" / "000.png", device="cpu")
    assert list(one.columns["path"]) == ["000.png"]
    np.testing.assert_allclose(one.columns["p_red"], [by_path["test/red/000.png"][2]], rtol=1e-6)


def test_a_folder_run_skips_unreadable_files_with_a_note(folder_run, tmp_path, monkeypatch):
    folder, _, _ = folder_run
    monkeypatch.setenv("TOPNET_CACHE", str(tmp_path / "cache"))
    new = tmp_path / "new"
    new.mkdir()
    (new / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    shutil.copy(folder / "data" / "test" / "red" / "000.png", new / "ok.png")
    predictions = predict_run(folder / "run", new, device="cpu")
    assert list(predictions.columns["path"]) == ["ok.png"]
    assert any("broken.png" in note for note in predictions.notes)
    (new / "ok.png").unlink()
    with pytest.raises(DataError, match="at least one readable image"):
        predict_run(folder / "run", new, device="cpu")


def test_a_parquet_table_run_predicts_parquet_and_csv_alike(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    a, b, color = _table(90, seed=3)
    when = np.datetime64("2024-01-01") + np.arange(90).astype("timedelta64[D]")
    label = np.where(a + (color == "red") > 0.5, "yes", "no")
    pq.write_table(pa.table({"a": a, "b": b, "color": color, "when": when, "label": label}), tmp_path / "t.parquet")
    splits, ensemble = _make_run(tmp_path / "run", tmp_path / "t.parquet", target="label",
                                 families=[("mlp", {"hidden": (8,)})], lightgbm=True)
    info = json.loads((tmp_path / "run" / "dataset.json").read_text())
    assert info["csv"]["datetime_columns"] == {"when": "date"} and "when_dayofweek" in info["feature_names"]
    new = pa.table({"when": when[:5], "color": ["red", "blue", "mauve", "red", None], "b": b[:5], "a": a[:5]})
    pq.write_table(new, tmp_path / "new.parquet")
    from_parquet = predict_run(tmp_path / "run", tmp_path / "new.parquet", device="cpu")
    _write_table(tmp_path / "new.csv", ["when", "color", "b", "a"],
                 zip(np.datetime_as_string(when[:5]), ["red", "blue", "mauve", "red", ""], b[:5], a[:5]))
    from_csv = predict_run(tmp_path / "run", tmp_path / "new.csv", device="cpu")
    np.testing.assert_allclose(from_parquet.columns["p_yes"], from_csv.columns["p_yes"], rtol=1e-6)
    assert any("mauve" in note for note in from_parquet.notes)

"""Scenario 10: bad inputs fail before the first optimizer step, with messages that name the value
and the fix; through the CLI the message is printed without a traceback and the exit code is 2."""
from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
from torch import nn

import topnet
from topnet.callbacks import Callback
from topnet.cli import main
from topnet.data import load
from topnet.errors import DataError
from topnet.budget import parse_budget
from topnet.configs.builders import complete_config

RNG = np.random.default_rng(0)
X = RNG.normal(size=(30, 4)).astype(np.float32)
Y = np.arange(30) % 3


class NoStep(Callback):
    """Fails the test if training reaches its first batch."""

    def on_batch_begin(self, state):
        raise AssertionError("training started: the bad input was not caught before the first step")


def fit(x, y, **kwargs):
    return lambda tmp_path: topnet.fit(nn.Linear(4, 3), (x, y), callbacks=[NoStep()], verbose=0, **kwargs)


def with_value(row, column, value):
    x = X.copy()
    x[row, column] = value
    return x


def corrupt_idx(tmp_path):
    header = struct.pack(">HBB", 0, 8, 3) + struct.pack(">III", 10, 28, 28)
    for name in ("train-images-idx3-ubyte", "t10k-images-idx3-ubyte"):
        (tmp_path / f"{name}.gz").write_bytes(gzip.compress(header + b"\0" * 100))  # 100 of 7840 pixel bytes
    for name in ("train-labels-idx1-ubyte", "t10k-labels-idx1-ubyte"):
        (tmp_path / f"{name}.gz").write_bytes(gzip.compress(struct.pack(">HBBI", 0, 8, 1, 10) + b"\0" * 10))
    return load("fashion-mnist", path=tmp_path)


def corrupt_cifar(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]:
        (folder / name).write_bytes(b"\x80\x04garbage")
    return load("cifar10", path=tmp_path)


def corrupt_csv(tmp_path):
    (tmp_path / "t.csv").write_text("a,b,label\n1,2,0\n3,4\n5,6,1\n")
    return load(str(tmp_path / "t.csv"), target="label")


# case -> (call with tmp_path, exception type, fragments the message must hold: the value, the fix)
API_CASES = {
    "label equal to the number of classes": (fit(X, np.where(Y == 2, 3, Y)), DataError, ["label 3", "num_classes=4"]),
    "negative label": (fit(X, Y - 1), DataError, ["label -1", "class ids in [0, 2]"]),
    "float labels for classification": (fit(X, Y + 0.5), DataError, ["label 0.5", "integer labels"]),
    "X/y length mismatch": (fit(X, Y[:20]), DataError, ["lengths [20, 30]", "one length"]),
    "NaN feature": (fit(with_value(3, 1, np.nan), Y), DataError, ["NaN/inf", "row 3", "impute or drop"]),
    "inf feature": (fit(with_value(4, 2, np.inf), Y), DataError, ["NaN/inf", "row 4", "impute or drop"]),
    "string columns": (fit(X.astype(str), Y), DataError, ["<U", "convert strings"]),
    "empty data": (fit(X[:0], Y[:0]), DataError, ["0 samples", "check the dataset"]),
    "a single class": (fit(X, np.zeros(30, np.int64)), DataError, ["only class 0", "at least two classes"]),
    "wrong dimensionality": (fit(X[:, :, None], Y), DataError, ["per-sample shapes (4, 1)", "input_shape"]),
    "wrong feature count at predict": (lambda tmp_path: topnet.predict(nn.Linear(4, 3), np.zeros((5, 7), np.float32)),
                                       DataError, ["per-sample shapes (7,)", "input_shape"]),
    "corrupt IDX file": (corrupt_idx, DataError, ["train-images-idx3-ubyte.gz", "truncated", "download it again"]),
    "corrupt CIFAR file": (corrupt_cifar, DataError, ["data_batch_1", "download it again"]),
    "corrupt CSV file": (corrupt_csv, DataError, ["line 3", "got 2 fields", "fix or remove that row"]),
    "unknown loss name": (fit(X, Y, loss="crossentropy"), ValueError, ["'crossentropy'", "did you mean 'cross_entropy'"]),
    "unknown configuration key": (lambda tmp_path: complete_config({"famly": "mlp"}), ValueError,
                                  ["'famly'", "did you mean 'family'"]),
    "malformed budget string": (lambda tmp_path: parse_budget("10 parsecs"), ValueError, ["'10 parsecs'", "'10m'"]),
}


@pytest.mark.parametrize("call, error, fragments", API_CASES.values(), ids=API_CASES.keys())
def test_bad_inputs_are_refused_through_the_api(tmp_path, call, error, fragments):
    with pytest.raises(error) as caught:
        call(tmp_path)
    for fragment in fragments:
        assert fragment in str(caught.value)


def npz(**arrays):
    def write(tmp_path):
        np.savez(tmp_path / "d.npz", **arrays)
        return ["train", "--data", str(tmp_path / "d.npz")]
    return write


def csv_file(text, target="label"):
    def write(tmp_path):
        (tmp_path / "d.csv").write_text(text)
        return ["train", "--data", str(tmp_path / "d.csv"), "--target", target]
    return write


def junk_npz(tmp_path):
    (tmp_path / "d.npz").write_bytes(b"PK\x03\x04junk")
    return ["train", "--data", str(tmp_path / "d.npz")]


def on_ok_data(*extra):
    def write(tmp_path):
        return [*npz(x=X, y=Y)(tmp_path), *extra]
    return write


def named(name, corrupt):
    def write(tmp_path):
        with pytest.raises(DataError):  # writes the damaged files (tested above)
            corrupt(tmp_path)
        return ["train", "--data", name, "--data-path", str(tmp_path)]
    return write


CLI_CASES = {
    "negative label": (npz(x=X, y=Y - 1), "label -1"),
    "inf feature": (npz(x=with_value(4, 2, np.inf), y=Y), "infinite values"),
    "string columns": (npz(x=X.astype(str), y=Y), "convert strings"),
    "X/y length mismatch": (npz(x=X, y=Y[:20]), "y has 20 samples but x has 30"),
    "empty data": (npz(x=X[:0], y=Y[:0]), "0 samples"),
    "a single class": (npz(x=X, y=np.zeros(30, np.int64)), "only class 0"),
    "wrong dimensionality": (npz(x=X[:, 0], y=Y), "per-sample shapes ()"),
    "corrupt npz": (junk_npz, "not a readable .npz file"),
    "corrupt IDX file": (named("fashion-mnist", corrupt_idx), "truncated"),
    "corrupt CIFAR file": (named("cifar10", corrupt_cifar), "not a readable CIFAR pickle"),
    "corrupt CSV file": (csv_file("a,b,label\n1,2,0\n3,4\n5,6,1\n"), "line 3"),
    "empty CSV file": (csv_file(""), "file is empty"),
    "unknown target column": (csv_file("a,b,label\n1,2,0\n3,4,1\n", target="lable"), "did you mean 'label'"),
    "unknown model name": (on_ok_data("--model", "resnet999"), "unknown model 'resnet999'"),
    "unknown optimizer name": (on_ok_data("--optimizer", "adamm"), "did you mean 'adam'"),
    "unknown key in --set": (lambda tmp_path: ["tune", *npz(x=X, y=Y)(tmp_path)[1:], "--budget", "1 trials",
                                               "--set", "famly=mlp"], "unknown configuration key 'famly'"),
    "malformed budget string": (lambda tmp_path: ["tune", *npz(x=X, y=Y)(tmp_path)[1:], "--budget", "10 parsecs"],
                                "'10 parsecs'"),
}


@pytest.mark.parametrize("argv, fragment", CLI_CASES.values(), ids=CLI_CASES.keys())
def test_the_cli_prints_the_message_without_a_traceback_and_exits_2(tmp_path, capsys, argv, fragment):
    arguments = argv(tmp_path)
    code = main([*arguments, "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("topnet: error: ") and fragment in err and "Traceback" not in err
    assert not (tmp_path / "out" / "metrics.json").exists()

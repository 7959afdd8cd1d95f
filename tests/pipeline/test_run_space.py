"""`topnet run --space FILE`: a user's search space is honoured, and checked before anything is written."""
from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from topnet.cli import main
from topnet.pipeline import RunConfig, resolve_config, run
from topnet.pipeline.config import read_space
from topnet.pipeline.search import search_space
from topnet.tune.tuner import resolve_space

ROOT = Path(__file__).resolve().parents[2]
SPACE = """
[params.family]
choices = ["mlp"]

[params.depth]
value = 1

[params.width]
choices = [8, 16]

[params.lr]
low = 1e-3
high = 3e-2
log = true

[params.batch_size]
value = 64
"""
# a short run: 2-epoch trials, 3-epoch retraining, no LightGBM, MC dropout or TensorBoard
TINY = dict(budget="25s", search_epochs=2, lr_find_steps=30, top_k=1, ensemble_size=1, max_epochs=3, min_epochs=1,
            lightgbm=False, mc_samples=0, tensorboard=False, verbose=0)


def write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def write_blobs(path: Path, n: int = 400) -> str:
    """Three Gaussian blobs in 8 dimensions: a tiny MLP separates them in an epoch."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, n)
    x = (rng.normal(size=(3, 8))[y] * 2.0 + rng.normal(size=(n, 8))).astype(np.float32)
    np.savez(path, x=x, y=y)
    return str(path)


def test_the_user_space_replaces_the_default_one(tmp_path):
    path = write(tmp_path / "space.toml", SPACE)
    images = SimpleNamespace(kind="images")  # the default would be convnets, trimmed for the CPU budget
    space = search_space(images, budget_s=300.0, device="cpu", space_file=path)
    assert list(space.params) == ["family", "depth", "width", "lr", "batch_size"]
    assert space.params["width"].choices == (8, 16) and space.baseline is None
    assert resolve_config(overrides={"space": path}).space == path  # --set space=FILE, or space = in run.toml


@pytest.mark.slow
def test_a_run_searches_only_the_user_space(tmp_path):
    out = tmp_path / "run"
    space = write(tmp_path / "space.toml", SPACE)
    run(RunConfig(data=write_blobs(tmp_path / "blobs.npz"), out=str(out), space=space, **TINY))
    assert json.loads((out / "config.json").read_text())["space"] == space
    trials = json.loads((out / "tune.json").read_text())["trials"]
    assert len(trials) >= 2
    for trial in trials:
        assert trial["family"] == "mlp" and trial["params"]["width"] in (8, 16), trial
        assert set(trial["params"]) == {"family", "width", "lr"}  # depth and batch_size are fixed
        assert 1e-3 <= trial["params"]["lr"] <= 3e-2
    for model in (out / "models").iterdir():  # the retrained networks have the space's fixed values too
        config = json.loads((model / "config.json").read_text())["metadata"]["config"]
        assert (config["family"], config["depth"], config["batch_size"]) == ("mlp", 1, 64)
        assert config["width"] in (8, 16)


@pytest.mark.parametrize("text, named", [
    (SPACE.replace("[params.width]", "[params.widht]"), r"unknown configuration key 'widht'.*did you mean 'width'"),
    (SPACE.replace('"mlp"', '"mpl"'), r"params\.family: unknown model family 'mpl'.*did you mean 'mlp'"),
    (SPACE + '[params.schedule]\nchoices = ["cosine", "one_cylce"]\n',
     r"params\.schedule: unknown schedule 'one_cylce'.*did you mean 'one_cycle'"),
    (SPACE + '[[rules]]\nwhen = { width = 8 }\nthen = { dropuot = 0.1 }\n',
     r"rules\[0\]\.then: unknown configuration key 'dropuot'.*did you mean 'dropout'"),
    (SPACE + '[[rules]]\nwhen = { width = 8 }\nthen = { augment = "flip_crp" }\n',
     r"rules\[0\]\.then\.augment: unknown augment 'flip_crp'.*did you mean 'flip_crop'"),
    (SPACE + '[baseline]\nfamily = "mpl"\n', r"baseline\.family: unknown model family 'mpl'"),
    (SPACE + '[[portfolio]]\nfamily = "mlp"\n\n[[portfolio]]\nfamily = "mpl"\n',
     r"portfolio\[1\]\.family: unknown model family 'mpl'"),
    (SPACE + "[params.dropout]\nlow = 0.0\nhigh = 0.5\nwhen = { family = \"mpl\" }\n",
     r"params\.dropout\.when\.family: unknown model family 'mpl'"),
])
def test_a_bad_space_fails_before_the_run_directory_is_written(text, named, tmp_path):
    path = write(tmp_path / "space.toml", text)
    out = tmp_path / "run"
    with pytest.raises(ValueError, match=re.escape(f"space {path!r}: ") + ".*" + named):
        run(RunConfig(data=write_blobs(tmp_path / "blobs.npz"), out=str(out), space=path, **TINY))
    assert not out.exists()
    with pytest.raises(ValueError, match=named):  # `topnet tune --space` reads the same format the same way
        resolve_space(path, None)


def test_a_missing_space_file_names_the_path_and_the_format(tmp_path):
    path = str(tmp_path / "nosuch.toml")
    with pytest.raises(FileNotFoundError, match=re.escape(f"space {path!r} is not a file") + ".*topnet tune --space"):
        RunConfig(space=path)


@pytest.mark.parametrize("text, message", [
    (SPACE.replace("[params.width]", "[params.widht]"), "did you mean 'width'"),
    (None, "is not a file"),
    ("[params.width\n", "space.toml"),  # invalid TOML: the file is named
])
def test_cli_exits_2_on_a_bad_space_file(text, message, tmp_path, capsys):
    space = tmp_path / "space.toml"
    if text is not None:
        space.write_text(text)
    out = tmp_path / "run"
    argv = ["run", "--data", write_blobs(tmp_path / "blobs.npz"), "--space", str(space), "--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not out.exists()


def test_the_space_in_docs_run_md_is_valid(tmp_path):
    text = (ROOT / "docs" / "run.md").read_text()
    section = text.split("## Your own search space", 1)[1]
    toml = re.search(r"```toml\n(.*?)```", section, flags=re.S).group(1)
    space = read_space(write(tmp_path / "space.toml", toml))
    assert space.baseline["family"] in space.params["family"].choices
    assert "topnet run --space space.toml" in section

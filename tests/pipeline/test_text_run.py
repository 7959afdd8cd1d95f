"""Text end to end on tiny data made here: a folder of ``.txt`` files and a table with a text
column through ``topnet run``, ``topnet train`` and ``topnet predict`` (issue 22)."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from topnet.cli import main
from topnet.data import TextVectorizer
from topnet.errors import DataError
from topnet.pipeline import RunConfig, predict_run, run

QUICK = {"budget": "40s", "lr_find_steps": 40, "top_k": 2, "mc_samples": 4, "max_epochs": 8, "verbose": 0}
WORDS = {"negative": ["bad", "awful", "poor", "hate", "boring"], "positive": ["good", "great", "fine", "love", "fun"]}
NOISE = ["the", "a", "movie", "plot", "actor", "scene", "it", "was", "and", "film", "story", "of"]
TEST_ONLY = "zyzzyva"  # a word only the folder's test/ texts have


def _review(rng, label: str, extra: tuple[str, ...] = ()) -> str:
    words = [*rng.choice(NOISE, rng.integers(4, 24)), *rng.choice(WORDS[label], 2), *extra]
    rng.shuffle(words)
    return " ".join(words).capitalize() + "."


@pytest.fixture(scope="module")
def reviews(tmp_path_factory):
    """reviews/{train,test}/{negative,positive}/*.txt: the sentiment words decide the class."""
    root = tmp_path_factory.mktemp("text") / "reviews"
    rng = np.random.default_rng(0)
    for split, count in (("train", 160), ("test", 40)):
        for label in WORDS:
            folder = root / split / label
            folder.mkdir(parents=True)
            for index in range(count // 2):
                extra = (TEST_ONLY,) if split == "test" else ()
                (folder / f"{index}.txt").write_text(_review(rng, label, extra), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def text_run(reviews):
    out = reviews.parent / "run"
    run(RunConfig(data=str(reviews), out=str(out), seed=0, **QUICK))
    return out


@pytest.mark.slow
def test_run_on_a_text_folder_searches_text_models_and_saves_the_vocabulary(text_run):
    dataset = json.loads((text_run / "dataset.json").read_text())
    assert dataset["kind"] == "text" and dataset["class_names"] == ["negative", "positive"]
    models = json.loads((text_run / "models.json").read_text())["models"]
    families = {m["family"] for m in models}
    assert families & {"text_cnn", "text_rnn", "text_transformer"} and "tfidf_linear" in families
    metrics = json.loads((text_run / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] > 0.8  # the sentiment words are in every text (chance 0.5)
    state = json.loads((text_run / "text_vectorizer.json").read_text())["x"]
    vectorizer = TextVectorizer().load_state_dict(state)
    # fitted on the train split only: the word only the test texts have is unknown (UNK = 1)
    assert vectorizer.transform([f"good {TEST_ONLY}"])[0, 1] == 1
    assert vectorizer.transform(["good"])[0, 0] > 1


@pytest.mark.slow
def test_predict_takes_a_folder_a_text_file_a_table_and_strings(text_run, reviews, tmp_path):
    folder = predict_run(text_run, reviews / "test" / "positive", out=tmp_path / "p.csv")
    assert len(folder.columns["class_name"]) == 20 and folder.columns["path"][0].endswith(".txt")
    assert np.mean(np.asarray(folder.columns["class_name"]) == "positive") > 0.8
    strings = predict_run(text_run, ["great fun, I love it", "awful and boring, I hate it"])
    assert list(strings.columns["class_name"]) == ["positive", "negative"]
    assert np.allclose(np.asarray(strings.columns["p_negative"]) + np.asarray(strings.columns["p_positive"]), 1.0)
    (tmp_path / "one.txt").write_text("good great fine", encoding="utf-8")
    assert list(predict_run(text_run, tmp_path / "one.txt").columns["class_name"]) == ["positive"]
    with open(tmp_path / "new.csv", "w", newline="") as handle:
        csv.writer(handle).writerows([["id", "text"], [1, "a great, fun film"], [2, "poor, bad plot"]])
    assert list(predict_run(text_run, tmp_path / "new.csv").columns["class_name"]) == ["positive", "negative"]
    with pytest.raises(FileNotFoundError, match="folder of .txt files"):
        predict_run(text_run, tmp_path / "missing.txt")
    with open(tmp_path / "no_text.csv", "w", newline="") as handle:
        csv.writer(handle).writerows([["id", "body"], [1, "good"]])
    with pytest.raises(DataError, match="'text'"):
        predict_run(text_run, tmp_path / "no_text.csv")
    with pytest.raises(DataError, match="strings"):
        predict_run(text_run, [1, 2])


@pytest.mark.slow
def test_topnet_train_on_a_text_folder(reviews, tmp_path, capsys):
    out = tmp_path / "trained"
    code = main(["train", "--data", str(reviews), "--epochs", "10", "--batch-size", "16", "--out", str(out), "--quiet"])
    assert code == 0, capsys.readouterr().err
    config = json.loads((out / "config.json").read_text())
    assert config["model"] == "text_cnn"  # the automatic choice for text
    assert json.loads((out / "metrics.json").read_text())["test"]["accuracy"] > 0.7
    assert (out / "text_vectorizer.json").exists()


@pytest.mark.slow
def test_a_table_with_a_text_column_runs_and_predicts(tmp_path):
    rng = np.random.default_rng(1)
    rows = []
    for index in range(240):
        label = ("negative", "positive")[index % 2]
        rows.append([round(float(rng.normal()), 3), rng.choice(["web", "shop"]), _review(rng, label), label])
    with open(tmp_path / "tickets.csv", "w", newline="") as handle:
        csv.writer(handle).writerows([["score", "channel", "comment", "label"], *rows])
    out = tmp_path / "run"
    run(RunConfig(data=str(tmp_path / "tickets.csv"), target="label", out=str(out), seed=0, **QUICK))
    dataset = json.loads((out / "dataset.json").read_text())
    assert dataset["csv"]["text_columns"] == ["comment"]
    assert json.loads((out / "metrics.json").read_text())["test"]["accuracy"] > 0.8
    with open(tmp_path / "new.csv", "w", newline="") as handle:
        csv.writer(handle).writerows([["comment", "channel", "score"],
                                      ["The plot was great and fun, I love it", "web", 0.1],
                                      ["Awful, boring film: I hate it", "shop", -0.2]])
    predictions = predict_run(out, tmp_path / "new.csv")
    assert list(predictions.columns["class_name"]) == ["positive", "negative"]
    trained = tmp_path / "trained"
    assert main(["train", "--data", str(tmp_path / "tickets.csv"), "--target", "label", "--epochs", "3",
                 "--batch-size", "16", "--out", str(trained), "--quiet"]) == 0
    assert json.loads((trained / "config.json").read_text())["model"] == "wide_and_deep"  # reads the text too

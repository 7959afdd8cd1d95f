"""Tests for topnet.data.text: the vocabulary is fitted on train only (Keras TextVectorization.adapt)."""
from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from topnet.data import Dataset, Splits, TextVectorizer, vectorize_text
from topnet.data.text import PAD, UNK, is_text
from topnet.errors import DataError

TRAIN = ["The cat sat on the mat.", "The dog ate the cat!", "A bird sang"]


def _texts(*values: str) -> np.ndarray:
    return np.array(values, dtype=object)


def test_fitted_on_train_only_unseen_words_are_unk_and_rows_are_post_padded():
    vectorizer = TextVectorizer(sequence_length=6).fit(TRAIN)
    vocabulary = vectorizer.vocabulary()
    assert vocabulary[:3] == ["[PAD]", "[UNK]", "the"] and (PAD, UNK) == (0, 1)
    assert vectorizer.vocabulary_size == len(vocabulary) == 2 + len({w for t in TRAIN for w in
                                                                       t.lower().strip(".!").split()})
    ids = vectorizer.transform(["the ZEBRA, sat", ""])
    assert ids.dtype == np.int64 and ids.shape == (2, 6)
    assert ids.tolist() == [[vocabulary.index("the"), UNK, vocabulary.index("sat"), 0, 0, 0], [0] * 6]
    assert vectorizer.truncated_ == 0


def test_standardize_options():
    text = "Hello, WORLD! naïve"
    assert TextVectorizer(sequence_length=8).fit([text]).vocabulary()[2:] == ["hello", "naïve", "world"]
    assert TextVectorizer(sequence_length=8, standardize="lower").fit([text]).vocabulary()[2:] == \
        ["hello,", "naïve", "world!"]
    assert TextVectorizer(sequence_length=8, standardize=None).fit([text]).vocabulary()[2:] == \
        ["Hello,", "WORLD!", "naïve"]


def test_max_tokens_and_min_frequency_keep_the_most_frequent_words():
    texts = ["a a a b b c", "a b d"]
    assert TextVectorizer(max_tokens=4).fit(texts).vocabulary() == ["[PAD]", "[UNK]", "a", "b"]
    kept = TextVectorizer(min_frequency=2).fit(texts)
    assert kept.vocabulary() == ["[PAD]", "[UNK]", "a", "b"]
    assert kept.transform(["c d a"])[0, :3].tolist() == [UNK, UNK, 2]


@pytest.mark.parametrize("lengths, expected", [([3] * 20, 8), (list(range(1, 101)), 96), ([40] * 19 + [1000], 88),
                                               ([1000] * 20, 128)])
def test_sequence_length_is_the_95th_percentile_rounded_up_to_8_within_8_and_max_length(lengths, expected):
    texts = [" ".join(["w"] * n) for n in lengths]
    vectorizer = TextVectorizer(max_length=128).fit(texts)
    # the rule, computed here: percentile, next multiple of 8, clipped to [8, max_length]
    reference = min(max(8, 8 * int(np.ceil(round(np.percentile(lengths, 95), 6) / 8))), 128)
    assert vectorizer.sequence_length == expected == reference
    assert vectorizer.transform(texts).shape == (len(texts), expected)


def test_truncation_is_counted_and_vectorize_text_warns_once():
    texts = _texts("one two three four five", "one two", "one two three")
    vectorizer = TextVectorizer(sequence_length=2).fit(texts)
    assert vectorizer.transform(texts).tolist() == [[2, 3], [2, 3], [2, 3]]  # cut at the end
    assert vectorizer.truncated_ == 2
    splits = Splits(train=Dataset(x=texts, y=np.array([0, 1, 0])))
    with pytest.warns(UserWarning, match=r"2 of 3 train texts are longer than 2 tokens and were truncated.*raise "
                                         r"sequence_length") as caught:
        vectorize_text(splits, sequence_length=2)
    assert len(caught) == 1


def test_state_dict_round_trip_gives_identical_ids():
    vectorizer = TextVectorizer(tokenizer="wordpiece", max_tokens=60).fit(TRAIN)
    state = json.loads(json.dumps(vectorizer.state_dict()))  # JSON-serialisable
    again = TextVectorizer().load_state_dict(state)
    probe = ["the cats sang on a mat", "zebra"]
    np.testing.assert_array_equal(again.transform(probe), vectorizer.transform(probe))
    assert again.sequence_length == vectorizer.sequence_length and again.vocabulary() == vectorizer.vocabulary()
    with pytest.raises(ValueError, match=r"missing \['tokenizer_json'\]"):
        TextVectorizer().load_state_dict({k: v for k, v in state.items() if k != "tokenizer_json"})


@pytest.mark.parametrize("tokenizer", ["wordpiece", "bpe"])
def test_subword_tokenizers_keep_pad_and_unk_and_split_unseen_words(tokenizer):
    vectorizer = TextVectorizer(tokenizer=tokenizer, max_tokens=100, sequence_length=12).fit(TRAIN * 3)
    assert vectorizer.vocabulary()[:2] == ["[PAD]", "[UNK]"]
    vocabulary = vectorizer.vocabulary()
    ids = vectorizer.transform(["the mate", "zzz"])  # "mate" is unseen but made of pieces seen in train
    pieces = [vocabulary[i] for i in ids[0] if i != PAD]
    assert pieces == ["the", "mat", "##e" if tokenizer == "wordpiece" else "e"]
    assert set(ids[1].tolist()) == {UNK, PAD} and ids[1, 0] == UNK  # "z" never seen


@pytest.mark.parametrize("options, message", [
    ({"max_tokens": 2}, r"max_tokens: got 2; expected an int >= 3"),
    ({"sequence_length": 0}, r"sequence_length: got 0; expected an int >= 1 or None"),
    ({"max_length": 1.5}, r"max_length: got 1.5; expected an int >= 1"),
    ({"min_frequency": True}, r"min_frequency: got True"),
    ({"standardize": "lowercase"}, r"unknown standardize 'lowercase'.*did you mean 'lower'"),
    ({"tokenizer": "words"}, r"unknown tokenizer 'words'.*\['bpe', 'word', 'wordpiece'\]"),
])
def test_bad_options_name_the_option_and_what_is_accepted(options, message):
    with pytest.raises(ValueError, match=message):
        TextVectorizer(**options)


def test_bad_texts_and_unfitted_use_are_clear_errors():
    with pytest.raises(DataError, match="at least one training text"):
        TextVectorizer().fit([])
    with pytest.raises(DataError, match="no tokens at all"):
        TextVectorizer().fit(["", " ... !!", "  "])
    with pytest.raises(TypeError, match=r"texts\[1\]: got None; expected a str"):
        TextVectorizer().fit(["fine", None])
    with pytest.raises(TypeError, match="not one string"):
        TextVectorizer().fit("a single text")
    with pytest.raises(RuntimeError, match=r"not fitted; call fit"):
        TextVectorizer().transform(["a"])


def test_without_tokenizers_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "tokenizers", None)  # import tokenizers -> ImportError
    with pytest.raises(ImportError, match=r"pip install 'topnet\[text\]'"):
        TextVectorizer().fit(["a b"])


def test_is_text():
    assert is_text(_texts("a", "b")) and is_text(np.array(["a", "b"]))
    assert not is_text(np.array([1, 2])) and not is_text(_texts("a", 1)) and not is_text(np.array([["a"]]))
    assert not is_text(["a", "b"])


def test_vectorize_text_with_a_text_array_fits_on_train_only():
    train = Dataset(x=_texts("good film", "bad film", "good plot"), y=np.array([1, 0, 1]), meta={"kind": "text"})
    test = Dataset(x=_texts("good acting", "awful film"), y=np.array([1, 0]))
    splits, vectorizers = vectorize_text(Splits(train=train, test=test), sequence_length=4)
    vectorizer = vectorizers["x"]
    assert "acting" not in vectorizer.vocabulary() and "awful" not in vectorizer.vocabulary()
    good, film = vectorizer.vocabulary().index("good"), vectorizer.vocabulary().index("film")
    assert splits.test.x.tolist() == [[good, UNK, 0, 0], [UNK, film, 0, 0]]
    assert splits.train.x.shape == (3, 4) and splits.train.y.tolist() == [1, 0, 1]
    info = {"x": {"vocabulary_size": vectorizer.vocabulary_size, "sequence_length": 4}}
    assert splits.train.meta == {"kind": "text", "text": info} and splits.test.meta == {"text": info}


def test_vectorize_text_with_a_table_dict_replaces_only_the_text_input():
    def table(texts, numbers):
        return Dataset(x={"numeric": np.array(numbers, np.float32)[:, None], "text": _texts(*texts)},
                       y=np.arange(len(texts)) % 2, meta={"text_columns": ["note"]})

    splits = Splits(train=table(["late delivery", "fast delivery"], [1, 2]), valid=table(["very late"], [3]))
    new, vectorizers = vectorize_text(splits, sequence_length=3)
    assert list(vectorizers) == ["text"] and set(new.valid.x) == {"numeric", "text"}
    late = vectorizers["text"].vocabulary().index("late")
    assert new.valid.x["text"].tolist() == [[UNK, late, 0]]
    np.testing.assert_array_equal(new.valid.x["numeric"], [[3.0]])
    assert new.valid.meta["text_columns"] == ["note"] and new.valid.meta["text"]["text"]["sequence_length"] == 3


def test_vectorize_text_without_text_returns_the_splits_unchanged():
    splits = Splits(train=Dataset(x=np.zeros((2, 3)), y=np.array([0, 1])))
    assert vectorize_text(splits) == (splits, {})


@pytest.mark.parametrize("sequence_length", [None, 3])
def test_fit_transform_is_fit_then_transform(sequence_length):
    texts = [" ".join(["w"] * n) + " end" for n in (1, 2, 30)] + ["", "w"]
    vectorizer = TextVectorizer(sequence_length=sequence_length, max_length=16)
    ids = vectorizer.fit_transform(texts)
    assert vectorizer.sequence_length == (sequence_length or 16) and vectorizer.truncated_ == 1
    np.testing.assert_array_equal(ids, TextVectorizer(sequence_length=sequence_length, max_length=16).fit(texts)
                                  .transform(texts))
    assert ids.flags.c_contiguous and ids[:, -1].tolist() == ([0, 3, 2, 0, 0] if sequence_length else [0, 0, 2, 0, 0])

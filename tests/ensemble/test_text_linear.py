"""TfidfLinearMember: features against references (the documented hash, scikit-learn's
TfidfTransformer), what it learns (a word, a word order), C / alpha on valid, time limit,
save/load without pickle, errors."""
from __future__ import annotations

import json
from collections import Counter
from itertools import pairwise

import numpy as np
import pytest
from scipy import sparse

from topnet.data import Dataset, split
from topnet.ensemble import Ensemble, TfidfLinearMember, load_member
from topnet.ensemble.text_linear import (
    ALPHA_GRID,
    C_GRID,
    bigram_buckets,
    inverse_document_frequency,
    ngram_counts,
    tfidf,
)

VOCAB = 40
LENGTH = 16


def reviews(rows: int, seed: int = 0, *, marker: int = 5) -> Dataset:
    """Post-padded "reviews" of random words (ids 9..39); class 1 iff the word ``marker`` occurs."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(9, VOCAB, size=(rows, LENGTH))
    y = rng.integers(0, 2, rows)
    ids[np.arange(rows), rng.integers(0, 6, rows)] = np.where(y == 1, marker, 6)
    ids[np.arange(LENGTH)[None, :] >= rng.integers(8, LENGTH + 1, rows)[:, None]] = 0
    return Dataset(ids, y.astype(np.int64))


def word_order(rows: int, seed: int = 0) -> Dataset:
    """Every document has words 7 and 8 once, side by side: class 1 for "7 8", 0 for "8 7"."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(9, VOCAB, size=(rows, LENGTH))
    y = rng.integers(0, 2, rows)
    start = rng.integers(0, LENGTH - 1, rows)
    ids[np.arange(rows), start] = np.where(y == 1, 7, 8)
    ids[np.arange(rows), start + 1] = np.where(y == 1, 8, 7)
    return Dataset(ids, y.astype(np.int64))


def accuracy(member: TfidfLinearMember, data: Dataset) -> float:
    return float((member.predict(data.x).argmax(axis=1) == data.y).mean())


def reference_counts(ids: np.ndarray, vocab_size: int, buckets: int) -> np.ndarray:
    """Counts written out one token at a time, with the hash as the docs state it (Python ints)."""
    dense = np.zeros((len(ids), vocab_size + buckets))
    for row, document in enumerate(ids.tolist()):
        words = [token for token in document if token != 0]  # post-padded: pads only at the end
        pairs = Counter((a * vocab_size + b) * 2654435761 % 2**32 % buckets for a, b in pairwise(words))
        for column, count in [*Counter(words).items(), *((vocab_size + h, c) for h, c in pairs.items())]:
            dense[row, column] += count
    return dense


def test_counts_and_hash_match_the_documented_formula():
    ids = reviews(30).x
    counts = ngram_counts(ids, VOCAB, ngrams=2, buckets=64)
    assert isinstance(counts, sparse.csr_matrix) and counts.has_sorted_indices
    np.testing.assert_array_equal(counts.toarray(), reference_counts(ids, VOCAB, 64))
    assert ngram_counts(ids, VOCAB, ngrams=1).shape == (30, VOCAB)
    big = np.array([10**6 - 1, 123_457])  # products far past 2**64: still the exact value mod 2**32
    expected = [(a * 10**6 + b) * 2654435761 % 2**32 % 2**18 for a, b in zip(big.tolist(), big[::-1].tolist())]
    assert bigram_buckets(big, big[::-1], 10**6, 2**18).tolist() == expected


def test_tfidf_matches_scikit_learn():
    text = pytest.importorskip("sklearn.feature_extraction.text")
    ids = reviews(50).x
    ids[3] = 0  # an empty document stays a zero row
    counts = ngram_counts(ids, VOCAB, buckets=128)
    ours = tfidf(counts, inverse_document_frequency(counts))
    theirs = text.TfidfTransformer(sublinear_tf=True, smooth_idf=True, norm="l2").fit_transform(counts)
    np.testing.assert_allclose(ours.toarray(), theirs.toarray(), rtol=0, atol=1e-6)
    member = TfidfLinearMember(vocab_size=VOCAB, buckets=128, C=1.0).fit(Dataset(ids, np.arange(50) % 2))
    np.testing.assert_allclose(member.features(ids).toarray(), theirs.toarray(), rtol=0, atol=1e-6)


def test_learns_the_word_that_decides_the_class():
    member = TfidfLinearMember(vocab_size=VOCAB).fit(reviews(400), reviews(200, seed=1))
    p = member.predict(reviews(300, seed=2).x)
    assert p.shape == (300, 2) and p.dtype == np.float64 and np.allclose(p.sum(axis=1), 1.0)
    assert accuracy(member, reviews(300, seed=2)) > 0.95


def test_bigrams_learn_word_order_that_unigrams_cannot():
    train, valid, test = word_order(600), word_order(200, seed=1), word_order(400, seed=2)
    bigrams = TfidfLinearMember(vocab_size=VOCAB, ngrams=2).fit(train, valid)
    unigrams = TfidfLinearMember(vocab_size=VOCAB, ngrams=1).fit(train, valid)
    assert accuracy(bigrams, test) > 0.95
    assert accuracy(unigrams, test) < 0.65


def test_C_is_chosen_on_valid_from_the_grid():
    member = TfidfLinearMember(vocab_size=VOCAB).fit(reviews(300), reviews(150, seed=1))
    assert list(member.valid_losses_) == list(C_GRID)
    assert member.C_ == min(member.valid_losses_, key=member.valid_losses_.get)
    assert TfidfLinearMember(vocab_size=VOCAB).fit(reviews(100)).C_ == 4.0  # no valid: the default
    fixed = TfidfLinearMember(vocab_size=VOCAB, C=0.7).fit(reviews(100), reviews(50, seed=1))
    assert fixed.C_ == 0.7 and list(fixed.valid_losses_) == [0.7]


def test_time_limit_stops_the_grid_after_one_fit():
    member = TfidfLinearMember(vocab_size=VOCAB, time_limit=0.0).fit(reviews(300), reviews(150, seed=1))
    assert list(member.valid_losses_) == [C_GRID[0]] and member.C_ == C_GRID[0]
    assert member.predict(reviews(5).x).shape == (5, 2)


def test_multiclass_with_a_class_missing_from_train(tmp_path):
    rng = np.random.default_rng(0)
    ids = rng.integers(9, VOCAB, size=(300, LENGTH))
    y = rng.choice([0, 1, 3], 300)  # class 2 never occurs
    ids[:, 2] = 2 + y
    train = Dataset(ids, y, class_names=("a", "b", "c", "d"))
    member = TfidfLinearMember(vocab_size=VOCAB, C=4.0).fit(train)
    p = member.predict(ids)
    assert p.shape == (300, 4) and np.all(p[:, 2] == 0) and np.allclose(p.sum(axis=1), 1.0)
    assert float((p.argmax(axis=1) == y).mean()) > 0.95


@pytest.mark.parametrize("classes", [2, 3])
def test_save_load_round_trip_without_pickle(classes, tmp_path):
    data = reviews(200) if classes == 2 else Dataset(reviews(200).x, np.arange(200) % 3)
    member = TfidfLinearMember("text", vocab_size=VOCAB, buckets=512, class_weight={0: 1.0, 1: 2.0}).fit(data, data)
    config = json.loads(json.dumps(member.save(tmp_path / "m")))
    assert config["kind"] == "tfidf_linear" and sorted(p.name for p in (tmp_path / "m").iterdir()) == [
        "arrays.safetensors"]
    reloaded = load_member(tmp_path / "m", config)
    assert isinstance(reloaded, TfidfLinearMember) and reloaded.class_weight == {0: 1.0, 1: 2.0}
    assert reloaded.C_ == member.C_ and reloaded.buckets == 512
    np.testing.assert_array_equal(reloaded.predict(data.x), member.predict(data.x))


def test_balanced_class_weight_favours_the_rare_class():
    data = reviews(400)
    rare = np.flatnonzero(data.y == 1)[:20]
    imbalanced = data.take(np.concatenate([np.flatnonzero(data.y == 0), rare]))
    plain = TfidfLinearMember(vocab_size=VOCAB, C=0.5).fit(imbalanced)
    balanced = TfidfLinearMember(vocab_size=VOCAB, C=0.5, class_weight="balanced").fit(imbalanced)
    assert balanced.predict(data.x)[:, 1].mean() > plain.predict(data.x)[:, 1].mean()


def test_regression_counts_a_word(tmp_path):
    rng = np.random.default_rng(0)
    ids = rng.integers(9, VOCAB, size=(500, LENGTH))
    mentions = rng.integers(0, 4, 500)
    ids[np.arange(LENGTH)[None, :] < mentions[:, None]] = 5
    data = Dataset(ids, mentions.astype(np.float32))
    train, valid = data.take(np.arange(400)), data.take(np.arange(400, 500))
    member = TfidfLinearMember(task="regression", vocab_size=VOCAB).fit(train, valid)
    assert member.alpha_ in ALPHA_GRID and list(member.valid_losses_) == list(ALPHA_GRID)
    values = member.predict(valid.x)
    assert values.shape == (100,) and np.corrcoef(values, valid.y)[0, 1] > 0.9
    config = json.loads(json.dumps(member.save(tmp_path / "r")))
    np.testing.assert_array_equal(load_member(tmp_path / "r", config).predict(valid.x), values)


def test_in_an_ensemble_saved_and_loaded(tmp_path):
    data = reviews(600)
    splits = split(Dataset(data.x, data.y), valid=0.2, blend=0.2, test=0.1, seed=0)
    members = [TfidfLinearMember("words", vocab_size=VOCAB), TfidfLinearMember("unigrams", vocab_size=VOCAB, ngrams=1)]
    ensemble = Ensemble(members).fit(splits)
    ensemble.save(tmp_path / "ens")
    reloaded = Ensemble.load(tmp_path / "ens")
    np.testing.assert_allclose(reloaded.predict_proba(splits.test.x), ensemble.predict_proba(splits.test.x),
                               rtol=0, atol=1e-12)


@pytest.mark.parametrize(("x", "match"), [
    (np.zeros((4, 6), np.float32), "float32 of shape \\(4, 6\\).*TextVectorizer"),
    (np.zeros(4, np.int64), "shape \\(4,\\).*TextVectorizer"),
    ({"text": np.zeros((4, 6), np.int64)}, "dict of inputs"),
    (np.full((4, 6), VOCAB), "vocab_size=40"),
    (np.full((4, 6), -1), "token ids in \\[-1, -1\\]"),
])
def test_inputs_that_are_not_token_ids_are_refused(x, match):
    fitted = TfidfLinearMember(vocab_size=VOCAB, C=1.0).fit(reviews(50))
    with pytest.raises(ValueError, match=match):
        fitted.predict(x)
    with pytest.raises(ValueError, match=match):
        TfidfLinearMember(vocab_size=VOCAB).fit(Dataset(x, np.arange(4) % 2))


@pytest.mark.parametrize("kwargs", [{"vocab_size": 1}, {"vocab_size": 40.0}, {"vocab_size": VOCAB, "ngrams": 3},
                                    {"vocab_size": VOCAB, "buckets": 0}, {"vocab_size": VOCAB, "C": 0.0},
                                    {"vocab_size": VOCAB, "class_weight": "auto"}])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        TfidfLinearMember(**kwargs)


def test_predict_before_fit_says_so():
    with pytest.raises(ValueError, match="not fitted"):
        TfidfLinearMember(vocab_size=VOCAB).predict(reviews(3).x)

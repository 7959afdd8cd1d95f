"""Turn texts into padded token ids, with a vocabulary fitted on the training split only.

`TextVectorizer` is Keras's ``TextVectorization`` (``adapt`` is `fit`) on Hugging Face's
``tokenizers`` (Rust, multi-threaded; ``pip install 'topnet[text]'``): standardise (by default
NFKC, lower case, punctuation and symbols replaced by spaces), split on whitespace, map each
token to an id and pad or truncate every row to ``sequence_length`` ids. Id 0 is ``[PAD]``,
id 1 is ``[UNK]``: a word the training texts did not have (or had too rarely) maps to 1, so a
model never sees the vocabulary of its validation or test texts. ``tokenizer="wordpiece"`` or
``"bpe"`` learn subwords instead of whole words.

`vectorize_text` does this for every text input of a `Splits` (a 1-D array of strings as ``x``,
or ``x["text"]`` of a table read by `read_table`): fitted on ``train``, applied to every split.

Example:
    >>> vectorizer = TextVectorizer(sequence_length=6).fit(["The cat sat.", "The dog ran!"])
    >>> vectorizer.vocabulary()
    ['[PAD]', '[UNK]', 'the', 'cat', 'dog', 'ran', 'sat']
    >>> vectorizer.transform(["the zebra sat"]).tolist()  # "zebra" was not in train: UNK, 1
    [[2, 1, 6, 0, 0, 0]]
"""
from __future__ import annotations

import dataclasses
import itertools
import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from topnet.data.dataset import Dataset, Splits
from topnet.errors import DataError, format_message, unknown_name

__all__ = ["PAD", "STANDARDIZE", "TOKENIZERS", "UNK", "TextVectorizer", "is_text", "vectorize_text"]

PAD, UNK = 0, 1
SPECIAL_TOKENS = ["[PAD]", "[UNK]"]  # ids 0 and 1, in this order
STANDARDIZE = (None, "lower_and_strip_punctuation", "lower", "strip_punctuation")
TOKENIZERS = ("word", "wordpiece", "bpe")
PUNCTUATION = r"[\p{P}\p{S}]"  # Unicode punctuation and symbols (Keras strips ASCII punctuation)
CHUNK = 2048  # texts encoded at once: tokenizers' Encodings take ~25 KB per IMDB review, so memory stays bounded
_STATE_KEYS = ("max_tokens", "sequence_length", "max_length", "min_frequency", "standardize", "tokenizer",
               "auto_sequence_length", "tokenizer_json")


def _tokenizers() -> Any:
    try:
        import tokenizers
    except ImportError:
        raise ImportError("TextVectorizer needs the tokenizers package, which is not installed; "
                          "install it with: pip install 'topnet[text]'") from None
    return tokenizers


def _check_int(name: str, value: Any, minimum: int, optional: bool = False) -> None:
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        expected = f"an int >= {minimum}" + (" or None" if optional else "")
        raise ValueError(format_message(name, value, expected))


def is_text(array: Any) -> bool:
    """Whether ``array`` is a 1-D NumPy array of strings (dtype str, or object holding only str).

    Example:
        >>> is_text(np.array(["a b", "c"], dtype=object)), is_text(np.array([1, 2]))
        (True, False)
    """
    if not isinstance(array, np.ndarray) or array.ndim != 1:
        return False
    if array.dtype.kind == "U":
        return True
    return array.dtype == object and len(array) > 0 and all(isinstance(value, str) for value in array)


def _as_texts(texts: Any) -> list[str]:
    """``texts`` as a list of str; TypeError naming the first value that is not one."""
    if isinstance(texts, (str, bytes)):
        raise TypeError(format_message("texts", texts[:40], "a sequence of strings, not one string",
                                       "wrap it in a list: [text]"))
    if isinstance(texts, np.ndarray) and texts.ndim != 1:
        raise ValueError(format_message("texts", f"an array of shape {texts.shape}", "a 1-D array of strings"))
    values = texts.tolist() if isinstance(texts, np.ndarray) else list(texts)
    bad = next((i for i, value in enumerate(values) if not isinstance(value, str)), None)
    if bad is not None:
        raise TypeError(format_message(f"texts[{bad}]", values[bad], "a str",
                                       "convert the column to strings (a missing text is '')"))
    return values


class TextVectorizer:
    """Token ids of texts, from a vocabulary fitted on training texts (Keras ``TextVectorization``).

    Args:
        max_tokens: the most tokens in the vocabulary, ``[PAD]`` and ``[UNK]`` included (the
            most frequent words are kept). Subword tokenizers keep every character of the
            training texts even past this cap.
        sequence_length: ids per row: shorter rows are padded with 0 at the end, longer ones
            cut at the end. None: chosen by `fit`, the 95th percentile of the training texts'
            token counts rounded up to a multiple of 8, at least 8 and at most ``max_length``.
        max_length: the longest ``sequence_length`` that `fit` may choose.
        min_frequency: tokens seen fewer times in the training texts map to ``[UNK]``.
        standardize: ``"lower_and_strip_punctuation"`` (NFKC, lower case, punctuation and
            symbols replaced by spaces), ``"lower"``, ``"strip_punctuation"`` or None.
        tokenizer: ``"word"`` (whole words), ``"wordpiece"`` or ``"bpe"`` (subwords).

    Attributes:
        sequence_length: an int once fitted.
        truncated_: how many rows of the last `transform` were longer than ``sequence_length``.

    Raises:
        ValueError: an option out of range, naming it and what is accepted.
    """

    def __init__(self, max_tokens: int = 20000, sequence_length: int | None = None, max_length: int = 512,
                 min_frequency: int = 1, standardize: str | None = "lower_and_strip_punctuation",
                 tokenizer: str = "word") -> None:
        _check_int("max_tokens", max_tokens, 3)
        _check_int("sequence_length", sequence_length, 1, optional=True)
        _check_int("max_length", max_length, 1)
        _check_int("min_frequency", min_frequency, 1)
        if standardize not in STANDARDIZE:
            raise unknown_name("standardize", standardize, [str(s) for s in STANDARDIZE])
        if tokenizer not in TOKENIZERS:
            raise unknown_name("tokenizer", tokenizer, TOKENIZERS)
        self.max_tokens = int(max_tokens)
        self.sequence_length = None if sequence_length is None else int(sequence_length)
        self.max_length = int(max_length)
        self.min_frequency = int(min_frequency)
        self.standardize = standardize
        self.tokenizer = tokenizer
        self.truncated_ = 0
        self._auto_length = sequence_length is None  # a refit chooses the length again
        self._tokenizer: Any = None

    def _new_tokenizer(self) -> tuple[Any, Any]:
        """An untrained ``tokenizers.Tokenizer`` and its trainer."""
        tk = _tokenizers()
        models, trainers, normalizers = tk.models, tk.trainers, tk.normalizers
        model, trainer = {"word": (models.WordLevel, trainers.WordLevelTrainer),
                          "wordpiece": (models.WordPiece, trainers.WordPieceTrainer),
                          "bpe": (models.BPE, trainers.BpeTrainer)}[self.tokenizer]
        tokenizer = tk.Tokenizer(model(unk_token="[UNK]"))
        steps = {"lower_and_strip_punctuation": [normalizers.NFKC(), normalizers.Lowercase()],
                 "lower": [normalizers.Lowercase()], "strip_punctuation": [normalizers.NFKC()]}.get(self.standardize, [])
        if self.standardize in ("lower_and_strip_punctuation", "strip_punctuation"):
            steps.append(normalizers.Replace(tk.Regex(PUNCTUATION), " "))
        if steps:
            tokenizer.normalizer = normalizers.Sequence(steps)
        tokenizer.pre_tokenizer = tk.pre_tokenizers.WhitespaceSplit()
        return tokenizer, trainer(vocab_size=self.max_tokens, min_frequency=self.min_frequency,
                                  special_tokens=SPECIAL_TOKENS, show_progress=False)

    def fit(self, texts: Sequence[str] | np.ndarray) -> TextVectorizer:
        """Learn the vocabulary (and, if it was None, ``sequence_length``) from training texts.

        Raises:
            DataError: no texts, or no token (seen ``min_frequency`` times) in any of them.
            TypeError: a value that is not a str.
        """
        self._fit(_as_texts(texts))
        return self

    def fit_transform(self, texts: Sequence[str] | np.ndarray) -> np.ndarray:
        """`fit`, then `transform` the same texts (encoding them once less)."""
        values = _as_texts(texts)
        rows = self._fit(values)
        return self._padded(*(rows or _encode_rows(self._tokenizer, values, self.sequence_length)))

    def _fit(self, values: list[str]) -> tuple[np.ndarray, np.ndarray, int] | None:
        """Train the tokenizer; when ``sequence_length`` is chosen here, also the rows `_encode_rows` gives."""
        if not values:
            raise DataError(format_message("texts", [], "at least one training text", "fit on the train split"))
        tokenizer, trainer = self._new_tokenizer()
        tokenizer.train_from_iterator(values, trainer, length=len(values))
        if tokenizer.get_vocab_size() <= len(SPECIAL_TOKENS):
            raise DataError(f"texts: got {len(values)} text(s) with no tokens at all once standardized "
                            f"(standardize={self.standardize!r}, min_frequency={self.min_frequency}); expected "
                            "words to learn a vocabulary from; check that the text column is the right one")
        self._tokenizer = tokenizer
        if not self._auto_length:
            return None
        rows = _encode_rows(tokenizer, values, self.max_length)
        p95 = round(float(np.percentile(rows[0], 95)), 6)  # 88.00000000000001 is 88
        self.sequence_length = min(max(8, 8 * math.ceil(p95 / 8)), self.max_length)
        return rows

    def _fitted(self) -> Any:
        if self._tokenizer is None:
            raise RuntimeError("this TextVectorizer is not fitted; call fit(train_texts) (or load_state_dict) first")
        return self._tokenizer

    def transform(self, texts: Sequence[str] | np.ndarray) -> np.ndarray:
        """``(n, sequence_length)`` int64 ids: padded with 0 and truncated at the end; sets ``truncated_``."""
        tokenizer, values = self._fitted(), _as_texts(texts)
        return self._padded(*_encode_rows(tokenizer, values, self.sequence_length))

    def _padded(self, lengths: np.ndarray, ids: np.ndarray, limit: int) -> np.ndarray:
        """``(n, sequence_length)`` from `_encode_rows`' flat ids (each row's first ``limit``)."""
        kept = np.minimum(lengths, limit)
        out = np.full((len(lengths), limit), PAD, np.int64)  # (n, limit)
        out[np.arange(limit) < kept[:, None]] = ids  # row-major: each row's ids, then its padding
        self.truncated_ = int((lengths > self.sequence_length).sum())
        return out if limit == self.sequence_length else np.ascontiguousarray(out[:, :self.sequence_length])

    @property
    def vocabulary_size(self) -> int:
        """The number of ids, ``[PAD]`` and ``[UNK]`` included (an embedding's ``num_embeddings``)."""
        return self._fitted().get_vocab_size()

    def vocabulary(self) -> list[str]:
        """The tokens in id order: ``["[PAD]", "[UNK]", most frequent, ...]``."""
        vocab = self._fitted().get_vocab()
        return sorted(vocab, key=vocab.__getitem__)

    def state_dict(self) -> dict[str, Any]:
        """The options and the fitted tokenizer (its JSON string): everything JSON can hold."""
        options = {name: getattr(self, name) for name in _STATE_KEYS[:6]}
        return {**options, "auto_sequence_length": self._auto_length, "tokenizer_json": self._fitted().to_str()}

    def load_state_dict(self, state: dict[str, Any]) -> TextVectorizer:
        """Restore a vectorizer from `state_dict`'s output; returns self.

        Raises:
            ValueError: a key missing, or options out of range.
        """
        missing = [key for key in _STATE_KEYS if key not in state]
        if missing:
            raise ValueError(format_message("state", sorted(state), f"the keys {list(_STATE_KEYS)} (missing "
                                            f"{missing})", "pass what TextVectorizer.state_dict() returned"))
        self.__init__(**{name: state[name] for name in _STATE_KEYS[:6]})
        self._auto_length = bool(state["auto_sequence_length"])
        self._tokenizer = _tokenizers().Tokenizer.from_str(state["tokenizer_json"])
        return self

    def __repr__(self) -> str:
        return (f"TextVectorizer(max_tokens={self.max_tokens}, sequence_length={self.sequence_length}, "
                f"tokenizer={self.tokenizer!r})")


def _encode_rows(tokenizer: Any, values: list[str], limit: int) -> tuple[np.ndarray, np.ndarray, int]:
    """``(lengths (n,), the first limit ids of each row, flat, limit)``, encoding `CHUNK` texts at a time."""
    encode = getattr(tokenizer, "encode_batch_fast", tokenizer.encode_batch)  # fast: no offsets
    lengths, pieces = np.empty(len(values), np.int64), [np.empty(0, np.int64)]
    for start in range(0, len(values), CHUNK):
        encodings = encode(values[start:start + CHUNK], add_special_tokens=False)
        lengths[start:start + len(encodings)] = [len(e) for e in encodings]
        pieces.append(np.fromiter(itertools.chain.from_iterable(e.ids[:limit] for e in encodings), np.int64))
    return lengths, np.concatenate(pieces), limit


def text_inputs(x: Any) -> list[str]:
    """The text inputs of a dataset's ``x``: ``["x"]`` for a text array, else the dict keys holding text."""
    if isinstance(x, dict):
        return [key for key, array in x.items() if is_text(array)]
    return ["x"] if is_text(x) else []


def vectorize_text(splits: Splits, **options: Any) -> tuple[Splits, dict[str, TextVectorizer]]:
    """Replace every text input of ``splits`` by token ids, fitting one `TextVectorizer` per input on train.

    Args:
        splits: text inputs are ``x`` itself (a 1-D array of strings; key ``"x"``) or the
            entries of a dict ``x`` holding strings (``x["text"]`` from `read_table`).
        **options: `TextVectorizer` options (``max_tokens``, ``sequence_length``...).

    Returns:
        The new `Splits`, each dataset's ``meta["text"]`` set to ``{key: {"vocabulary_size": V,
        "sequence_length": L}}``, and ``{key: fitted vectorizer}``. Splits without text come
        back unchanged, with ``{}``.

    Warns:
        UserWarning: once per input when training texts were truncated, with their count.

    Example:
        >>> train = Dataset(x=np.array(["good film", "bad film"], dtype=object), y=np.array([1, 0]))
        >>> new, vectorizers = vectorize_text(Splits(train=train))
        >>> new.train.x.shape, new.train.meta["text"]
        ((2, 8), {'x': {'vocabulary_size': 5, 'sequence_length': 8}})
    """
    keys = text_inputs(splits.train.x)
    if not keys:
        return splits, {}
    vectorizers = {key: TextVectorizer(**options) for key in keys}
    train_ids = {key: v.fit_transform(_input(splits.train, key, "train")) for key, v in vectorizers.items()}
    info = {key: {"vocabulary_size": v.vocabulary_size, "sequence_length": v.sequence_length}
            for key, v in vectorizers.items()}
    parts = {}
    for name, data in splits.items():
        x = data.x
        for key, vectorizer in vectorizers.items():
            ids = train_ids.pop(key) if name == "train" else vectorizer.transform(_input(data, key, name))
            if name == "train" and vectorizer.truncated_:
                warnings.warn(f"{key}: {vectorizer.truncated_} of {len(ids)} train texts are longer than "
                              f"{vectorizer.sequence_length} tokens and were truncated; raise sequence_length "
                              f"(or max_length, now {vectorizer.max_length}) to keep more of each text",
                              UserWarning, stacklevel=2)
            x = ids if key == "x" else {**x, key: ids}
        parts[name] = dataclasses.replace(data, x=x, meta={**data.meta, "text": info})
    return Splits(**parts), vectorizers


def _input(data: Dataset, key: str, split: str) -> Any:
    if key == "x" and not isinstance(data.x, dict):
        return data.x
    if not isinstance(data.x, dict) or key not in data.x:
        found = sorted(data.x) if isinstance(data.x, dict) else f"an array of shape {data.x.shape}"
        raise DataError(format_message(f"{split}.x", found, f"the text input {key!r} that train has",
                                       "give every split the same inputs"))
    return data.x[key]

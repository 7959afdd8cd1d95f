"""A TF-IDF + linear member for text: the classic strong baseline, as one member of an ensemble.

Word unigrams and bigrams weighted by TF-IDF, fed to logistic regression (ridge for regression),
is the baseline text networks are measured against; as a member it lets an ensemble of networks
do at least as well as that baseline. The member takes the int64 token ids ``(N, length)`` of
``topnet.data.TextVectorizer`` (post-padded with ``PAD = 0``; ``UNK = 1``).

Features, one row per document (pads ignored):

- column ``id`` (``0 .. vocab_size - 1``): how often token ``id`` occurs;
- with ``ngrams=2``, column ``vocab_size + bigram_bucket(a, b)``: how often the pair ``a b`` occurs,
  hashed into ``buckets`` columns by ``(a * vocab_size + b) * 2654435761 mod 2**32 mod buckets``
  (uint64 arithmetic, so the same ids give the same columns on every machine).

Counts become TF-IDF as scikit-learn's ``TfidfTransformer(sublinear_tf=True, smooth_idf=True,
norm="l2")`` computes it: ``1 + log(count)``, times ``idf = ln((1 + N) / (1 + df)) + 1`` from
train, each row scaled to unit length. The member keeps only arrays (idf, coefficients,
intercepts, classes) and predicts with SciPy, so saving writes them to safetensors beside the
JSON config: no pickle.

Example:
    >>> from topnet.data import Dataset
    >>> rng = np.random.default_rng(0)
    >>> ids = rng.integers(2, 50, size=(200, 10)); y = (ids == 5).any(axis=1).astype(np.int64)
    >>> member = TfidfLinearMember(vocab_size=50, C=4.0).fit(Dataset(ids, y))
    >>> float((member.predict(ids).argmax(axis=1) == y).mean()) > 0.95
    True
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from topnet.ensemble._optional import require
from topnet.ensemble._tasks import (
    TimeBox,
    classification_targets,
    not_fitted,
    regression_targets,
    spread_columns,
)
from topnet.ensemble.member_base import Member
from topnet.ensemble.temperature import softmax
from topnet.errors import format_message

__all__ = ["TfidfLinearMember", "bigram_buckets", "inverse_document_frequency", "ngram_counts", "tfidf", "token_ids"]

ARRAYS_FILE = "arrays.safetensors"
_ARRAYS = ("idf_", "coef_", "intercept_", "classes_")
PAD = 0  # TextVectorizer's padding id
HASH_MULTIPLIER = 2654435761  # Knuth's multiplicative hash: about 2**32 / golden ratio, odd
C_GRID = (0.5, 1.0, 2.0, 4.0, 8.0)  # inverse L2 strengths tried on valid, weakest regularisation last
ALPHA_GRID = (0.1, 1.0, 10.0)  # ridge strengths tried on valid
DEFAULT_C, DEFAULT_ALPHA = 4.0, 1.0  # without a valid split
_EPS = 1e-15  # log-loss clip


def token_ids(x: Any, vocab_size: int) -> np.ndarray:
    """``x`` checked as ``(N, length)`` integer token ids below ``vocab_size``, as int64.

    Raises:
        ValueError: not a 2-D integer array, or ids outside ``[0, vocab_size)``.
    """
    fix = "this member takes token ids from topnet.data.TextVectorizer"
    ids = None if isinstance(x, dict) else np.asarray(x)
    if ids is None or ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer):
        got = f"a dict of inputs {sorted(x)}" if ids is None else f"{ids.dtype} of shape {ids.shape}"
        raise ValueError(format_message("x", got, "(N, length) int64 token ids", fix))
    if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ValueError(format_message("x", f"token ids in [{ids.min()}, {ids.max()}]",
                                        f"ids in [0, vocab_size={vocab_size})",
                                        "pass the vocab_size of the TextVectorizer that made the ids"))
    return ids.astype(np.int64, copy=False)


def bigram_buckets(first: np.ndarray, second: np.ndarray, vocab_size: int, buckets: int) -> np.ndarray:
    """The hash bucket ``0 .. buckets - 1`` of each id pair ``(first, second)``.

    ``(a * vocab_size + b) * 2654435761 mod 2**32 mod buckets``: uint64 products wrap modulo
    2**64, which leaves them exact modulo 2**32, so the result does not depend on the platform.

    Example:
        >>> bigram_buckets(np.array([7]), np.array([8]), 100, 2**18).tolist()
        [36228]
    """
    key = first.astype(np.uint64) * np.uint64(vocab_size) + second.astype(np.uint64)
    hashed = (key * np.uint64(HASH_MULTIPLIER)) & np.uint64(2**32 - 1)
    return (hashed % np.uint64(buckets)).astype(np.int64)


def ngram_counts(ids: np.ndarray, vocab_size: int, ngrams: int = 2, buckets: int = 2**18) -> Any:
    """Unigram (and hashed bigram) counts of each row of ``ids``, pads ignored.

    Args:
        ids: ``(N, length)`` int64 token ids.

    Returns:
        A ``scipy.sparse.csr_matrix`` ``(N, vocab_size + buckets)`` (``(N, vocab_size)`` for
        ``ngrams=1``) of float64 counts, column indices sorted.
    """
    from scipy import sparse

    num_rows, length = ids.shape
    rows = np.broadcast_to(np.arange(num_rows)[:, None], ids.shape)
    real = ids != PAD
    row_parts, column_parts = [rows[real]], [ids[real]]
    if ngrams == 2 and length > 1:
        pairs = real[:, :-1] & real[:, 1:]
        row_parts.append(rows[:, 1:][pairs])
        column_parts.append(vocab_size + bigram_buckets(ids[:, :-1][pairs], ids[:, 1:][pairs], vocab_size, buckets))
    row_index, columns = np.concatenate(row_parts), np.concatenate(column_parts)
    width = vocab_size + (buckets if ngrams == 2 else 0)
    counts = sparse.csr_matrix((np.ones(len(columns)), (row_index, columns)), shape=(num_rows, width))
    counts.sum_duplicates()  # one entry per (row, column), sorted
    return counts


def inverse_document_frequency(counts: Any) -> np.ndarray:
    """Smoothed idf ``ln((1 + N) / (1 + df)) + 1`` of each column (scikit-learn's ``smooth_idf``)."""
    document_frequency = np.bincount(counts.indices, minlength=counts.shape[1])
    return np.log((1.0 + counts.shape[0]) / (1.0 + document_frequency)) + 1.0


def tfidf(counts: Any, idf: np.ndarray) -> Any:
    """``(1 + log(count)) * idf``, each row scaled to unit L2 norm (empty rows stay zero)."""
    weights = counts.copy()
    weights.data = (1.0 + np.log(weights.data)) * idf[weights.indices]
    row_of_entry = np.repeat(np.arange(weights.shape[0]), np.diff(weights.indptr))
    norms = np.sqrt(np.bincount(row_of_entry, weights=weights.data**2, minlength=weights.shape[0]))
    weights.data /= norms[row_of_entry]  # an entry's row has a positive norm
    return weights


class TfidfLinearMember(Member):
    """TF-IDF of word unigrams and hashed bigrams, then a linear model, as an ensemble member.

    Args:
        name: member name.
        task: ``"classification"`` (logistic regression: liblinear for two classes, multinomial
            saga for more; both measured fastest on 20,000 documents x 282,144 features) or
            ``"regression"`` (ridge; several targets allowed).
        vocab_size: token ids lie in ``[0, vocab_size)`` (``TextVectorizer.vocabulary_size``).
        ngrams: 1 (unigrams) or 2 (unigrams and hashed bigrams).
        buckets: columns the bigrams are hashed into.
        C: inverse L2 strength; None chooses it from ``C_GRID`` by valid log-loss (4.0 without valid).
        alpha: ridge strength; None chooses it from ``ALPHA_GRID`` by valid MSE (1.0 without valid).
        time_limit: stop trying grid values when the next fit would end past this many seconds
            (None: no limit); the first fit always runs.
        class_weight: scikit-learn's ``class_weight``: None, ``"balanced"`` or ``{class id: weight}``.
        seed: the solver's ``random_state``.

    Attributes:
        idf_ ``(features,)``; coef_ ``(outputs, features)``; intercept_ ``(outputs,)``; classes_:
        class ids seen in train; num_classes_: probability columns; outputs_: regression targets;
        C_ / alpha_: the strength used; valid_losses_: ``{strength: valid loss}`` of the fits tried.

    Raises:
        ValueError: a bad argument here; at ``fit``/``predict``, inputs that are not token ids.
    """

    kind = "tfidf_linear"

    def __init__(self, name: str = "tfidf_linear", task: str = "classification", *, vocab_size: int,
                 ngrams: int = 2, buckets: int = 2**18, C: float | None = None, alpha: float | None = None,
                 time_limit: float | None = None, class_weight: str | dict[int, float] | None = None,
                 seed: int = 0) -> None:
        super().__init__(name, task)
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 2:
            raise ValueError(format_message("vocab_size", vocab_size, "an int >= 2 (PAD, UNK and the words)",
                                            "pass TextVectorizer.vocabulary_size"))
        if ngrams not in (1, 2):
            raise ValueError(format_message("ngrams", ngrams, "1 (unigrams) or 2 (unigrams and bigrams)"))
        if isinstance(buckets, bool) or not isinstance(buckets, int) or buckets < 1:
            raise ValueError(format_message("buckets", buckets, "a positive int"))
        for what, value in (("C", C), ("alpha", alpha)):
            if value is not None and not value > 0:
                raise ValueError(format_message(what, value, "a positive float, or None to choose it on valid"))
        if class_weight is not None and class_weight != "balanced" and not isinstance(class_weight, dict):
            raise ValueError(format_message("class_weight", class_weight, "None, 'balanced' or {class id: weight}"))
        self.vocab_size = vocab_size
        self.ngrams = ngrams
        self.buckets = buckets
        self.C = C
        self.alpha = alpha
        self.time_limit = time_limit
        self.class_weight = class_weight
        self.seed = seed

    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "coef_")

    def features(self, x: Any, idf: np.ndarray | None = None) -> Any:
        """The TF-IDF rows of token ids ``x`` (``idf``: train's, the fitted one by default)."""
        counts = ngram_counts(token_ids(x, self.vocab_size), self.vocab_size, self.ngrams, self.buckets)
        return tfidf(counts, self.idf_ if idf is None else idf)

    def _model(self, strength: float) -> Any:
        linear_model = require("sklearn.linear_model", "scikit-learn", "the TF-IDF linear member")
        if self.task == "regression":
            return linear_model.Ridge(alpha=strength)
        solver = "liblinear" if len(self.classes_) == 2 else "saga"  # saga restarts from the last fit
        return linear_model.LogisticRegression(C=strength, solver=solver, max_iter=1000, random_state=self.seed,
                                               class_weight=self.class_weight, warm_start=solver == "saga")

    def _outputs(self, features: Any, coef: np.ndarray, intercept: np.ndarray) -> np.ndarray:
        """Probabilities ``(N, num_classes)`` or values ``(N,)`` / ``(N, K)`` from the linear scores."""
        scores = np.asarray(features @ coef.T) + intercept  # (N, outputs)
        if self.task == "regression":
            return scores[:, 0] if self.outputs_ == 1 else scores
        if len(self.classes_) == 2:  # scikit-learn's binary model: one score, sigmoid
            positive = 1.0 / (1.0 + np.exp(-scores[:, 0]))
            present = np.stack([1.0 - positive, positive], axis=1)
        else:
            present = softmax(scores)
        return spread_columns(present, self.classes_, self.num_classes_)

    def _loss(self, outputs: np.ndarray, y: np.ndarray) -> float:
        if self.task == "regression":
            return float(np.mean((outputs - y) ** 2))
        seen = y < outputs.shape[1]  # a valid class beyond train's ids gets probability 0
        p = np.where(seen, outputs[np.arange(len(y)), np.where(seen, y, 0)], 0.0)
        return float(-np.mean(np.log(np.clip(p, _EPS, 1.0))))

    def _grid(self, has_valid: bool) -> tuple[float, ...]:
        fixed, grid, default = ((self.alpha, ALPHA_GRID, DEFAULT_ALPHA) if self.task == "regression"
                                else (self.C, C_GRID, DEFAULT_C))
        if fixed is not None:
            return (float(fixed),)
        return grid if has_valid else (default,)

    def fit(self, train: Any, valid: Any = None) -> TfidfLinearMember:
        """Learn idf on ``train``, then fit the linear model for each strength tried; with ``valid``,
        keep the one with the lowest valid loss (log-loss; MSE for regression)."""
        self._check()
        box = TimeBox(self.time_limit)
        counts = ngram_counts(token_ids(train.x, self.vocab_size), self.vocab_size, self.ngrams, self.buckets)
        idf = inverse_document_frequency(counts)
        if self.task == "regression":
            y, self.num_classes_, self.classes_ = regression_targets(train, multi_output=True), 0, np.zeros(0, np.int64)
            self.outputs_ = y.shape[1] if y.ndim == 2 else 1
        else:
            y, self.num_classes_ = classification_targets(train)
            self.classes_, self.outputs_ = np.unique(y), 1
        scored = None
        if valid is not None and len(valid):
            valid_y = (regression_targets(valid, multi_output=True) if self.task == "regression"
                       else np.asarray(valid.y).astype(np.int64))
            scored = (self.features(valid.x, idf), valid_y)
        strength, self.coef_, self.intercept_ = self._fit_grid(tfidf(counts, idf), y, scored, box)
        self.idf_ = idf
        self.C_, self.alpha_ = (None, strength) if self.task == "regression" else (strength, None)
        self.clear_cache()
        return self

    def _fit_grid(self, x: Any, y: np.ndarray, scored: tuple[Any, np.ndarray] | None,
                  box: TimeBox) -> tuple[float, np.ndarray, np.ndarray]:
        """``(strength, coef, intercept)`` of the fit with the lowest loss on ``scored = (valid x, y)``."""
        self.valid_losses_, best, model = {}, None, None
        for strength in self._grid(scored is not None):
            model = model or self._model(strength)  # one model: saga starts from the previous solution
            model.set_params(**{"alpha" if self.task == "regression" else "C": strength}).fit(x, y)
            coef, intercept = np.atleast_2d(model.coef_).copy(), np.atleast_1d(model.intercept_).astype(np.float64)
            loss = 0.0 if scored is None else self._loss(self._outputs(scored[0], coef, intercept), scored[1])
            if scored is not None:
                self.valid_losses_[strength] = loss
            if best is None or loss < best[0]:
                best = (loss, strength, coef, intercept)
            box.step_done()
            if not box.fits_another():
                break
        return best[1:]

    def predict(self, x: Any) -> np.ndarray:
        if not self.is_fitted:
            raise not_fitted("TF-IDF linear", self.name)
        return self._outputs(self.features(x), self.coef_, self.intercept_)

    def config(self) -> dict[str, Any]:
        class_weight = self.class_weight
        if isinstance(class_weight, dict):  # JSON keys are strings
            class_weight = {str(key): float(value) for key, value in class_weight.items()}
        return {**super().config(), "vocab_size": self.vocab_size, "ngrams": self.ngrams, "buckets": self.buckets,
                "C": self.C, "alpha": self.alpha, "time_limit": self.time_limit, "class_weight": class_weight,
                "seed": self.seed, "C_chosen": getattr(self, "C_", None), "alpha_chosen": getattr(self, "alpha_", None),
                "num_classes": getattr(self, "num_classes_", None), "outputs": getattr(self, "outputs_", None)}

    def save(self, directory: str | Path) -> dict[str, Any]:
        """Write idf, coefficients, intercepts and classes (``arrays.safetensors``); return the JSON config."""
        from safetensors.numpy import save

        from topnet.io import atomic_write_bytes

        if not self.is_fitted:
            raise not_fitted("TF-IDF linear", self.name)
        arrays = {key.rstrip("_"): np.ascontiguousarray(getattr(self, key)) for key in _ARRAYS}
        Path(directory).mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(Path(directory) / ARRAYS_FILE, save(arrays))
        return self.config()

    @classmethod
    def load(cls, directory: str | Path, config: dict[str, Any], **options: Any) -> TfidfLinearMember:
        from safetensors.numpy import load

        class_weight = config.get("class_weight")
        if isinstance(class_weight, dict):
            class_weight = {int(key): value for key, value in class_weight.items()}
        member = cls(config["name"], config["task"], vocab_size=config["vocab_size"], ngrams=config.get("ngrams", 2),
                     buckets=config.get("buckets", 2**18), C=config.get("C"), alpha=config.get("alpha"),
                     time_limit=config.get("time_limit"), class_weight=class_weight, seed=config.get("seed", 0))
        arrays = load((Path(directory) / ARRAYS_FILE).read_bytes())
        for key in _ARRAYS:
            setattr(member, key, arrays[key.rstrip("_")])
        member.classes_ = member.classes_.astype(np.int64)
        member.C_, member.alpha_ = config.get("C_chosen"), config.get("alpha_chosen")
        member.num_classes_, member.outputs_ = int(config.get("num_classes") or 0), int(config.get("outputs") or 1)
        member.valid_losses_ = {}
        return member

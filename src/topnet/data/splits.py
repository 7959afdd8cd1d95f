"""Split a dataset into train / valid / blend / test, stratified by class.

``valid`` is for model selection and early stopping, ``blend`` for ensemble weights and
calibration, ``test`` is scored once at the end. For classification every class is spread over
the splits in proportion (each split's count of a class is within one of its share); totals are
exact. The split is a pure function of ``seed``.

How stratification works: samples are shuffled within their class, the j-th of the n_c samples
of class c gets the key ``(j + u_c) / n_c`` (``u_c`` a random offset), and sorting by that key
interleaves the classes evenly, so any run of consecutive samples holds each class in proportion.
The sorted order is then cut into test, valid, blend and train.

Example:
    >>> import numpy as np
    >>> data = Dataset(x=np.arange(100.0)[:, None], y=np.repeat([0, 1], 50))
    >>> splits = split(data, valid=0.2, blend=0.1, test=0.1, seed=0)
    >>> [len(d) for _, d in splits.items()], np.bincount(splits.valid.y).tolist()
    ([60, 20, 10, 10], [10, 10])
"""
from __future__ import annotations

import numpy as np

from topnet.data.dataset import Dataset, Splits
from topnet.errors import DataError
from topnet.seeding import derive_seed

__all__ = ["split"]

_ORDER = ("test", "valid", "blend")  # the order the pool is cut in


def _stratified_order(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """All indices, ordered so that every prefix holds each class in proportion."""
    keys = np.empty(len(labels))
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        keys[members] = (np.arange(len(members)) + rng.random()) / len(members)
    tie_break = rng.random(len(labels))
    return np.lexsort((tie_break, keys))


def _sizes(n: int, fractions: dict[str, float]) -> dict[str, int]:
    sizes = {name: int(round(n * fraction)) for name, fraction in fractions.items() if fraction > 0}
    for name, size in sizes.items():
        if size == 0:
            raise DataError(f"{name}={fractions[name]} of {n} samples gives an empty {name} split; "
                            f"expected at least one sample; use a larger {name} or set {name}=0")
    if n - sum(sizes.values()) < 1:
        raise DataError(f"fractions {fractions} of {n} samples leave no training samples; "
                        "expected their sum to be below 1; use smaller fractions")
    return sizes


def split(data: Dataset | Splits, *, valid: float = 0.1, blend: float = 0.1, test: float = 0.1,
          seed: int = 0, stratify: bool = True) -> Splits:
    """Split a dataset (or the ``train`` of a `Splits`) into train, valid, blend and test.

    Args:
        data: a `Dataset` to split, or a `Splits` whose ``train`` is split; splits it already
            has (e.g. a predefined ``test``) are kept and their fraction is ignored.
        valid: fraction of the pool for model selection; 0 for none.
        blend: fraction of the pool for ensemble weights and calibration; 0 for none.
        test: fraction of the pool scored once at the end; 0 for none.
        seed: the split is a function of this seed (through ``derive_seed(seed, "split")``).
        stratify: keep class proportions in every split (classification with a single target
            array only; regression is always split at random).

    Returns:
        ``Splits`` with ``train`` and each split whose fraction is above 0 (or that was given).

    Raises:
        DataError: for a fraction outside [0, 1), fractions that sum to 1 or more, or a split
            that would be empty.
        TypeError: when ``data`` is neither a `Dataset` nor a `Splits`.
    """
    fractions = {"valid": valid, "blend": blend, "test": test}
    for name, fraction in fractions.items():
        if not isinstance(fraction, (int, float)) or not 0 <= fraction < 1:
            raise DataError(f"{name}: got {fraction!r}; expected a fraction in [0, 1); e.g. {name}=0.1")
    if sum(fractions.values()) >= 1:
        raise DataError(f"fractions: got valid={valid}, blend={blend}, test={test} (sum "
                        f"{sum(fractions.values()):g}); expected a sum below 1 to leave training data")
    if isinstance(data, Splits):
        kept = {name: dataset for name, dataset in data.items() if name != "train"}
        pool = data.train
    elif isinstance(data, Dataset):
        kept, pool = {}, data
    else:
        raise TypeError(f"data: got {type(data).__name__}; expected a Dataset or Splits")
    fractions = {name: fractions[name] for name in _ORDER if name not in kept}
    sizes = _sizes(len(pool), fractions)
    rng = np.random.default_rng(derive_seed(seed, "split"))
    labels = pool.y
    if stratify and isinstance(labels, np.ndarray) and pool.task == "classification" and labels.ndim == 1:
        order = _stratified_order(labels, rng)
    else:
        order = rng.permutation(len(pool))
    parts, start = dict(kept), 0
    for name in _ORDER:
        if name in sizes:
            parts[name] = pool.take(np.sort(order[start:start + sizes[name]]))
            start += sizes[name]
    parts["train"] = pool.take(np.sort(order[start:]))
    return Splits(**parts)

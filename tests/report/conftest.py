"""Synthetic run directories, written the way the pipeline documents them (topnet.report.schema).

Each fixture writes its run and builds its report once per session (matplotlib takes ~1 s per
report on the 2-core machine); tests only read them.
"""
from __future__ import annotations

import base64
import csv
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest

from topnet.report.html import build_report

EVIL_CLASS = "<script>alert(1)</script>"
EVIL_COLUMN = "<script>alert(2)</script>"
PASSWORD = "hunter2"
STORAGE = f"postgresql://alice:{PASSWORD}@db.internal:5432/optuna"


def _json(root: Path, name: str, document: object) -> None:
    (root / name).parent.mkdir(parents=True, exist_ok=True)
    (root / name).write_text(json.dumps(document, indent=2))


def _history(root: Path, name: str, columns: dict[str, list[float]]) -> None:
    (root / "histories").mkdir(exist_ok=True)
    with open(root / "histories" / f"{name}.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["epoch", *columns])
        for epoch, row in enumerate(zip(*columns.values())):
            writer.writerow([epoch, *row])


def _curve(start: float, end: float, epochs: int = 6) -> list[float]:
    return list(np.round(np.linspace(start, end, epochs), 4))


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _common(root: Path, data: str) -> None:
    _json(root, "config.json", {"data": data, "budget": "10m", "seed": 0, "storage": STORAGE, "out": str(root)})
    _json(root, "environment.json", {"topnet": "0.1.0", "torch": "2.13.0", "seed": 0,
                                     "argv": ["topnet", "run", "--storage", STORAGE]})


def write_image_run(root: Path) -> Path:
    """Image classification, 3 classes (one named like a script), 8x8 images, every optional part."""
    rng = np.random.default_rng(0)
    _common(root, "fake-images.npz")
    _json(root, "dataset.json", {"name": "fake-images.npz", "task": "classification", "kind": "image",
                                 "class_names": ["T-shirt", EVIL_CLASS, "Bag & Co"],
                                 "num_rows": {"train": 300, "valid": 60, "blend": 60, "test": 60}})
    _json(root, "metrics.json", {"test": {"accuracy": 0.9333, "nll": 0.21, "ece": 0.018, "brier": 0.1,
                                          "balanced_accuracy": 0.9211, "f1_macro": 0.9305, "roc_auc": 0.9871,
                                          "pr_auc": 0.9712},
                                 "best_single": {"name": "resnet_a", "accuracy": 0.9, "nll": 0.3, "ece": 0.04,
                                                 "balanced_accuracy": 0.8899, "f1_macro": 0.895, "roc_auc": 0.9702,
                                                 "pr_auc": 0.9433},
                                 "budget_s": 600, "elapsed_s": 571.4,
                                 "search": {"trials": 5, "baseline_trial": 0, "baseline_valid": 0.88, "best_trial": 3,
                                            "best_valid": 0.92, "best_is_baseline": False, "blend_baseline": 0.86,
                                            "blend_found": 0.895},
                                 "phases": {"lr_find": {"budget_s": 30, "elapsed_s": 12.5, "status": "done"},
                                            "search": {"budget_s": 360, "elapsed_s": 355, "status": "done"},
                                            "ensemble": {"budget_s": 60, "elapsed_s": 20, "status": "done"}}})
    _history(root, "resnet_a", {"accuracy": _curve(0.6, 0.95), "loss": _curve(1.0, 0.15),
                                "val_accuracy": _curve(0.6, 0.9), "val_loss": _curve(1.0, 0.3)})
    _history(root, "xception_b", {"accuracy": _curve(0.5, 0.93), "loss": _curve(1.1, 0.2),
                                  "val_accuracy": _curve(0.5, 0.88), "val_loss": _curve(1.1, 0.35)})
    lrs = np.geomspace(1e-5, 1.0, 40)
    losses = 1.1 + 0.05 * rng.normal(size=40) - 0.6 * np.exp(-((np.log10(lrs) + 2) ** 2)) + np.where(lrs > 0.3, 3.0, 0)
    _json(root, "lr_find.json", {"lrs": lrs.tolist(), "losses": losses.tolist(), "smoothed_losses": losses.tolist(),
                                 "suggestions": {"steepest": 3e-3, "minimum": 1e-3, "valley": 2e-3, "descent_end": 0.05},
                                 "rule": "valley", "diverged": True})
    trials = [{"number": n, "state": "PRUNED" if n % 3 == 2 else "COMPLETE", "value": round(0.7 + 0.02 * n, 3),
               "params": {"lr": 1e-3 * (n + 1), "family": "resnet" if n % 2 else "xception"}, "duration_s": 20.0}
              for n in range(10)]
    _json(root, "tune.json", {"metric": "val_accuracy", "direction": "maximize", "trials": trials,
                              "importances": {"lr": 0.7, "family": 0.3}})
    _json(root, "models.json", {"metric": "accuracy", "greater_is_better": True, "selected": "resnet_a", "models": [
        {"name": "resnet_a", "family": "resnet", "num_params": 12345, "valid": 0.92, "blend": 0.9, "test": 0.9},
        {"name": "xception_b", "family": "xception", "num_params": 23456, "valid": 0.9, "blend": 0.89, "test": 0.88},
        {"name": "lightgbm", "family": "lightgbm", "valid": 0.85, "blend": 0.86, "test": 0.85}]})
    _json(root, "ensemble.json", {
        "members": ["resnet_a", "xception_b", "lightgbm"], "combiner": "weighted",
        "weights": {"resnet_a": 0.5, "xception_b": 0.3, "lightgbm": 0.2},
        "blend_loss": {"uniform": 0.3, "weighted": 0.25, "caruana": 0.26, "stacking": 0.27},
        "diversity": {"names": ["resnet_a", "xception_b", "lightgbm"], "losses": {"resnet_a": 0.3},
                      "measures": {"disagreement": [[0, 0.1, 0.2], [0.1, 0, 0.15], [0.2, 0.15, 0]],
                                   "error_correlation": [[1, 0.6, None], [0.6, 1, 0.3], [None, 0.3, 1]]}}})
    _json(root, "calibration.json", {"temperature": 1.4, "fitted_on": "blend", "before": {"ece": 0.05, "nll": 0.3, "brier": 0.12},
                                     "after": {"ece": 0.018, "nll": 0.21, "brier": 0.1}})
    y = np.arange(60) % 3
    logits = 3.0 * np.eye(3)[y] + rng.normal(size=(60, 3))
    (root / "predictions").mkdir()
    np.savez(root / "predictions" / "test.npz", y_true=y, proba=_softmax(logits / 1.4), proba_uncalibrated=_softmax(logits),
             x=rng.random((60, 8, 8)).astype(np.float32))
    return root


def write_regression_run(root: Path) -> Path:
    """Tabular regression: RMSE/MAE, a script-like column name, stacking (no weights), no LR finder or search."""
    rng = np.random.default_rng(1)
    _common(root, "houses.csv")
    _json(root, "dataset.json", {"name": "houses.csv", "task": "regression", "kind": "tabular", "target": "price",
                                 "feature_names": ["rooms", EVIL_COLUMN, "age"]})
    _json(root, "metrics.json", {"test": {"rmse": 0.512, "mae": 0.401, "r2": 0.8312}, "best_single": {"name": "mlp_a", "mse": 0.36, "mae": 0.45},
                                 "budget_s": 300, "elapsed_s": 280})
    _history(root, "mlp_a", {"loss": _curve(1.0, 0.3), "mae": _curve(0.8, 0.45), "val_loss": _curve(1.0, 0.36),
                             "val_mae": _curve(0.8, 0.47)})
    _json(root, "models.json", {"metric": "rmse", "greater_is_better": False, "models": [
        {"name": "mlp_a", "family": "mlp", "num_params": 999, "valid": 0.55, "blend": 0.6, "test": 0.6},
        {"name": "lightgbm", "family": "lightgbm", "valid": 0.58, "blend": 0.57, "test": 0.59}]})
    _json(root, "ensemble.json", {"members": ["mlp_a", "lightgbm"], "combiner": "stacking", "weights": None,
                                  "blend_loss": {"uniform": 0.33, "stacking": 0.3},
                                  "diversity": {"names": ["mlp_a", "lightgbm"], "measures": {"error_correlation": [[1, 0.4], [0.4, 1]]}}})
    x = rng.normal(size=(40, 3))
    y = x @ np.array([1.0, -0.5, 0.2])
    (root / "predictions").mkdir()
    np.savez(root / "predictions" / "test.npz", y_true=y, y_pred=y + 0.3 * rng.normal(size=40),
             y_std=np.abs(rng.normal(size=40)), x=x)
    return root


def write_partial_run(root: Path) -> Path:
    """A killed run: the config, early metrics and one history only."""
    _json(root, "config.json", {"data": "fashion-mnist", "storage": STORAGE})
    _json(root, "metrics.json", {"test": {"accuracy": 0.8}, "budget_s": 900, "elapsed_s": 100})
    _history(root, "base", {"loss": _curve(1.0, 0.5), "val_loss": _curve(1.0, 0.6)})
    return root


@pytest.fixture(scope="session")
def image_run(tmp_path_factory) -> Path:
    root = write_image_run(tmp_path_factory.mktemp("image_run"))
    build_report(root)
    return root


@pytest.fixture(scope="session")
def regression_run(tmp_path_factory) -> Path:
    root = write_regression_run(tmp_path_factory.mktemp("regression_run"))
    build_report(root)
    return root


@pytest.fixture(scope="session")
def partial_run(tmp_path_factory) -> Path:
    root = write_partial_run(tmp_path_factory.mktemp("partial_run"))
    build_report(root)
    return root


def image_sources(page: str) -> list[str]:
    return re.findall(r'<img [^>]*src="([^"]*)"', page)


def decode_png(uri: str) -> np.ndarray:
    """The pixels of a ``data:image/png;base64,`` URI (fails if it is anything else)."""
    prefix = "data:image/png;base64,"
    assert uri.startswith(prefix), uri[:60]
    data = base64.b64decode(uri[len(prefix):], validate=True)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    from matplotlib.image import imread

    return imread(io.BytesIO(data), format="png")


def external_references(page: str) -> list[str]:
    """Anything in the page that could make a browser fetch something: URLs in src/href, <link>, <script>, url(), @import."""
    found = [v for v in re.findall(r'(?:src|href|srcset|action|poster|data)\s*=\s*["\']?([^"\'\s>]*)', page, flags=re.I)
             if not v.startswith(("data:image/png;base64,", "#"))]
    found += re.findall(r"<\s*(?:link|script|iframe|object|embed|base)\b[^>]*>", page, flags=re.I)
    found += re.findall(r"url\s*\(|@import|(?<![\w])//[A-Za-z0-9]", page.split("<body>")[0], flags=re.I)
    return found


@pytest.fixture(scope="session")
def tools():
    """The helpers and constants above, for the test modules (conftest is not importable by name)."""
    import types

    return types.SimpleNamespace(image_sources=image_sources, decode_png=decode_png, external_references=external_references,
                                 write_image_run=write_image_run, write_regression_run=write_regression_run,
                                 write_partial_run=write_partial_run, EVIL_CLASS=EVIL_CLASS, EVIL_COLUMN=EVIL_COLUMN,
                                 PASSWORD=PASSWORD, STORAGE=STORAGE)

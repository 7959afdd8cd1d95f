"""The run directory of ``topnet run``: the files the pipeline writes and the report reads.

Every file but the directory itself is optional: a partial run (killed, or still going) renders
what it has, and the report notes what is missing. JSON files hold one object; keys below are
the ones the report reads (more are allowed). Times are seconds; scores are plain floats.

    config.json           the resolved configuration (shown redacted)
    environment.json      versions, hardware, seed (``topnet.report.run_dir.environment``)
    dataset.json          DatasetInfo: task, kind, class and feature names, split sizes
    metrics.json          Metrics: test scores of the ensemble and the best single model
                          (accuracy, AUCs, ... or RMSE, MAE, R²), time
                          (written last: its presence marks a finished run)
    histories/NAME.csv    one per model, CSVLogger's columns: epoch, loss, val_loss, accuracy, ...
                          (``history.csv`` at the top, as ``topnet train`` writes it, also works)
    lr_find.json          LRFind: ``dataclasses.asdict(LRFinderResult)``
    tune.json             Tune: the search's trials and parameter importances
    models.json           Models: every kept model with its valid, blend and test scores
    ensemble.json         EnsembleSummary: combiner, weights, blend loss per combiner, diversity
                          (the loadable ensemble itself lives in ``ensemble/``)
    calibration.json      Calibration: temperature and test ECE/NLL/Brier before and after it
    predictions/test.npz  arrays on the test split (``np.savez``; read without pickle):
                          y_true (N,); classification: proba (N, C) of the calibrated ensemble,
                          proba_uncalibrated (N, C); regression: y_pred (N,), y_std (N,);
                          x (N, ...) inputs as loaded (before standardisation), or
                          x_sample (K, ...) with sample_index (K,) rows of y_true it belongs to
                          and, for a folder of images, sample_path (K,) the file of each

Example:
    >>> redact_url("postgresql://alice:s3cret@db.example/optuna")
    'postgresql://alice:***@db.example/optuna'
"""
from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

import numpy as np

__all__ = ["DatasetInfo", "Metrics", "Phase", "LRFind", "Trial", "Tune", "ModelRow", "Models", "EnsembleSummary",
           "Calibration", "RunData", "read_run", "redact_url", "redact", "JSON_FILES", "PREDICTIONS"]


class DatasetInfo(TypedDict, total=False):
    name: str                      # dataset name or path, e.g. "fashion-mnist"
    task: str                      # "classification" or "regression"
    kind: str                      # "image" or "tabular"
    class_names: list[str]         # index = class id
    feature_names: list[str]       # tabular columns, in input order
    target: str                    # the target column (CSV)
    num_rows: dict[str, int]       # {"train", "valid", "blend", "test"}
    images: dict[str, Any]         # a folder of images: image_size, fit, channels, source, skipped, ignored


class Phase(TypedDict, total=False):
    budget_s: float                # what the budget split gave the phase
    elapsed_s: float               # what it used
    status: str                    # "done", "skipped", "timed out", ...


class Metrics(TypedDict, total=False):
    """``metrics.json``. ``test`` holds the chosen ensemble's test scores (`topnet.scores`):

    classification: ``accuracy``, ``nll``, ``ece``, ``brier`` (of the calibrated probabilities),
    ``balanced_accuracy``, ``f1_macro``, ``roc_auc`` and ``pr_auc`` (binary: of class 1;
    more classes: one-vs-rest, macro average); regression: ``rmse``, ``mae``, ``r2``. A score
    the test split leaves undefined (an AUC with a class absent from test, R² of constant
    targets) is None, and ``"undefined": {score: why}`` says why.
    """

    test: dict[str, Any]           # the chosen ensemble's scores (above)
    best_single: dict[str, Any]    # the same keys for the best single model, plus "name"
    budget_s: float
    elapsed_s: float
    search: dict[str, Any]         # what the search bought: baseline vs best trial on valid, their members on blend
    phases: dict[str, Phase]       # in the order they ran


class LRFind(TypedDict, total=False):
    lrs: list[float]
    losses: list[float]
    smoothed_losses: list[float]
    suggestions: dict[str, float]  # {rule: lr}
    rule: str                      # the rule whose suggestion was used
    diverged: bool


class Trial(TypedDict, total=False):
    number: int
    state: str                     # "COMPLETE", "PRUNED", "FAIL", ...
    value: float | None
    params: dict[str, Any]
    duration_s: float


class Tune(TypedDict, total=False):
    metric: str                    # e.g. "val_accuracy"
    direction: str                 # "maximize" or "minimize"
    trials: list[Trial]
    importances: dict[str, float]  # {param: importance}, summing to about 1


class ModelRow(TypedDict, total=False):
    name: str
    family: str                    # builder name, "lightgbm", ...
    num_params: int
    valid: float                   # scores in Models.metric
    blend: float
    test: float
    test_metrics: dict[str, Any]   # every test score, as in Metrics.test; {"error": why} for non-finite predictions


class Models(TypedDict, total=False):
    metric: str                    # e.g. "accuracy" or "rmse"
    greater_is_better: bool
    selected: str                  # the model selection picked on valid (its blend score shows the bias)
    models: list[ModelRow]
    ensemble: ModelRow             # the ensemble's scores (family: its combiner)


class EnsembleSummary(TypedDict, total=False):
    members: list[str]
    combiner: str                  # the combiner chosen
    weights: dict[str, float] | None   # {member: weight}; None for stacking
    blend_loss: dict[str, float]   # {combiner: cross-fitted blend log-loss (MSE for regression)}
    diversity: dict[str, Any]      # DiversityTable.to_dict(): {"names", "losses", "measures": {name: (M, M)}}


class Calibration(TypedDict, total=False):
    temperature: float
    fitted_on: str                 # "blend"
    before: dict[str, float]       # test {"ece", "nll", "brier"} before temperature scaling
    after: dict[str, float]


JSON_FILES = ("config.json", "environment.json", "dataset.json", "metrics.json", "lr_find.json", "tune.json",
              "models.json", "ensemble.json", "calibration.json")
PREDICTIONS = "predictions/test.npz"

_CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<user>[^:/@\s]*):[^@\s]*@")
_SECRET_PARAM = re.compile(r"(?i)(?P<key>password|passwd|pwd|secret|token)=[^&\s]+")


def redact_url(text: str) -> str:
    """Replace the password of every URL in ``text`` (``user:pass@`` → ``user:***@``, ``password=…``).

    Example:
        >>> redact_url("--storage mysql://bob:p%40ss@h:3306/db?password=x&ssl=1")
        '--storage mysql://bob:***@h:3306/db?password=***&ssl=1'
    """
    text = _CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:***@", str(text))
    return _SECRET_PARAM.sub(lambda m: f"{m['key']}=***", text)


def redact(value: Any) -> Any:
    """``redact_url`` applied to every string inside nested dicts and lists (keys included).

    Example:
        >>> redact({"storage": ["sqlite:///a.db", "postgresql://u:p@h/db"]})
        {'storage': ['sqlite:///a.db', 'postgresql://u:***@h/db']}
    """
    if isinstance(value, str):
        return redact_url(value)
    if isinstance(value, dict):
        return {redact(k): redact(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    return value


@dataclass
class RunData:
    """Everything read from one run directory; None where a part is missing.

    Attributes:
        notes: ``{file: why it is missing or was not read}``, for the report's notes.
    """

    path: Path
    config: dict[str, Any] | None = None
    environment: dict[str, Any] | None = None
    dataset: DatasetInfo | None = None
    metrics: Metrics | None = None
    lr_find: LRFind | None = None
    tune: Tune | None = None
    models: Models | None = None
    ensemble: EnsembleSummary | None = None
    calibration: Calibration | None = None
    histories: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    predictions: dict[str, np.ndarray] | None = None
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def task(self) -> str:
        """``"classification"`` or ``"regression"``: from dataset.json, else from what was written."""
        task = (self.dataset or {}).get("task")
        if task in ("classification", "regression"):
            return task
        test = (self.metrics or {}).get("test") or {}
        if any(k in test for k in ("rmse", "mae", "mse")) or (self.predictions or {}).get("y_pred") is not None:
            return "regression"
        return "classification"

    @property
    def class_names(self) -> list[str]:
        """The class names, or ``["0", "1", ...]`` from the predictions' width."""
        names = (self.dataset or {}).get("class_names")
        if names:
            return [str(n) for n in names]
        proba = (self.predictions or {}).get("proba")
        return [str(i) for i in range(proba.shape[1])] if proba is not None else []


def read_run(path: str | Path) -> RunData:
    """Read a run directory, tolerating missing or damaged optional parts (each gets a note).

    Raises:
        FileNotFoundError: ``path`` is not a directory.
        ValueError: it holds none of the run files (not a run directory).

    Example:
        >>> import tempfile; d = Path(tempfile.mkdtemp())
        >>> _ = (d / "metrics.json").write_text('{"test": {"accuracy": 0.9}}')
        >>> run = read_run(d)
        >>> run.metrics["test"], run.task, run.notes["tune.json"]
        ({'accuracy': 0.9}, 'classification', 'missing')
    """
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"run directory {str(root)!r} does not exist; expected the --out directory of `topnet run`")
    run = RunData(path=root)
    for name in JSON_FILES:
        setattr(run, name.removesuffix(".json"), _read_json(root / name, run.notes))
    files = sorted((root / "histories").glob("*.csv")) or [p for p in [root / "history.csv"] if p.exists()]
    for file in files:
        history = _read_history(file, run.notes)
        if history:
            run.histories["model" if file.parent == root else file.stem] = history
    if not files:
        run.notes["histories/"] = "missing"
    run.predictions = _read_predictions(root / PREDICTIONS, run.notes)
    if all(getattr(run, n.removesuffix(".json")) is None for n in JSON_FILES) and not files and run.predictions is None:
        raise ValueError(f"{str(root)!r} holds none of the run files {list(JSON_FILES)}; "
                         "expected the --out directory of `topnet run`")
    return run


def _read_json(file: Path, notes: dict[str, str]) -> Any:
    if not file.exists():
        notes[file.name] = "missing"
        return None
    try:
        document = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        notes[file.name] = f"could not be read ({error})"
        return None
    if not isinstance(document, dict):
        notes[file.name] = f"holds a {type(document).__name__}; expected a JSON object"
        return None
    return document


def _read_history(file: Path, notes: dict[str, str]) -> dict[str, np.ndarray]:
    key = f"histories/{file.name}"
    try:
        with open(file, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        notes[key] = f"could not be read ({error})"
        return {}
    if not rows:
        notes[key] = "has no rows"
        return {}
    return {column: np.array([_number(row.get(column)) for row in rows]) for column in rows[0] if column}


def _number(cell: Any) -> float:
    try:
        value = float(cell)
    except (TypeError, ValueError):  # "NA" (CSVLogger's missing cell), empty
        return math.nan
    return value


def _read_predictions(file: Path, notes: dict[str, str]) -> dict[str, np.ndarray] | None:
    if not file.exists():
        notes[PREDICTIONS] = "missing"
        return None
    try:
        with np.load(file, allow_pickle=False) as archive:  # never unpickle a file from disk
            arrays = {k: archive[k] for k in archive.files}
    except (OSError, ValueError) as error:
        notes[PREDICTIONS] = f"could not be read ({error})"
        return None
    rows = len(arrays.get("y_true", ()))
    bad = [k for k in ("proba", "proba_uncalibrated", "y_pred", "y_std", "x") if k in arrays and len(arrays[k]) != rows]
    if "y_true" not in arrays or bad:
        notes[PREDICTIONS] = f"holds {sorted(arrays)} with {rows} y_true rows; expected y_true and arrays of its length"
        return None
    if len(arrays.get("x_sample", ())) != len(arrays.get("sample_index", ())):
        arrays.pop("x_sample", None), arrays.pop("sample_index", None), arrays.pop("sample_path", None)
        notes["x_sample"] = "x_sample and sample_index differ in length; thumbnails left out"
    return arrays

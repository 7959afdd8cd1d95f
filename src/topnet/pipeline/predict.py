"""``topnet predict``: a finished run's ensemble on new rows or images, with its uncertainty.

`predict_run` reads the inputs (`read_inputs`: ``.npz``, ``.npy``, IDX; a table file for runs
on a table; a folder, manifest or image file for runs on a folder of images; a folder or file of
text, with the run's vocabulary, for runs on text), checks them against the run's ``dataset.json``, applies the run's
standardisation (``standardizer.json``, fitted on its train split) and the saved ensemble
(``ensemble/``, temperature included, as ``Ensemble.combine`` applies it), and returns one
row per input:

- classification: ``row, [path], class, class_name, confidence, entropy, p_<class name>...``
  (``path``: the image file, for image inputs);
  ``confidence`` is the largest probability, ``entropy`` the predictive entropy in nats.
- regression: ``row, prediction, std``; ``std`` is the spread (population std) of the
  members' predictions around each other.

With ``mc_samples > 0`` every network member with dropout layers predicts the mean of that
many MC dropout passes (masks fixed by ``seed``: the same masks on any batch size or
device); members without dropout, and LightGBM, stay deterministic. The column ``mc_std`` is
then the standard deviation over the MC samples of the ensemble's own output: the probability
of the predicted class (classification), or the prediction (regression), each sample combined
as the ensemble combines its members. For regression ``std`` becomes
``sqrt(member spread² + mc_std²)``.
"""
from __future__ import annotations

import csv
import io
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from topnet.data import Standardizer
from topnet.errors import CheckpointError, format_message
from topnet.pipeline.predict_inputs import read_inputs

__all__ = ["predict_run", "read_inputs", "Predictions", "class_columns"]

_RUN_FILES = ("dataset.json", "standardizer.json", "ensemble/ensemble.json")
_SHOWN = 10  # rows Predictions.format shows


def class_columns(names: list[str]) -> list[str]:
    """``p_<name>`` headers for the class probabilities: CSV-safe, unique, in class order.

    Example:
        >>> class_columns(["T-shirt/top", "Trouser", "a b", "a_b", ""])
        ['p_T_shirt_top', 'p_Trouser', 'p_a_b', 'p_a_b_2', 'p_4']
    """
    headers: list[str] = []
    for index, name in enumerate(names):
        base = "p_" + (re.sub(r"[^0-9A-Za-z_]+", "_", str(name)).strip("_") or str(index))
        header, count = base, 1
        while header in headers:
            count += 1
            header = f"{base}_{count}"
        headers.append(header)
    return headers


@dataclass
class Predictions:
    """One row per input: the columns of the predictions CSV, in order.

    Attributes:
        columns: ``{header: (N,) array}`` (see the module docstring for the headers).
        task: ``"classification"`` or ``"regression"``.
        notes: what the reader should know (ignored columns, unseen categories, MC members...).
        path: the CSV file written, or None.
    """

    columns: dict[str, np.ndarray]
    task: str
    notes: list[str] = field(default_factory=list)
    path: Path | None = None

    def __len__(self) -> int:
        return len(self.columns["row"])

    def _cells(self, start: int, stop: int) -> list[list[str]]:
        return [[_cell(values[i]) for values in self.columns.values()] for i in range(start, min(stop, len(self)))]

    def to_csv(self) -> str:
        """The table as CSV text (header row first; floats with 7 significant digits)."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(list(self.columns))
        writer.writerows(self._cells(0, len(self)))
        return buffer.getvalue()

    def format(self, num_rows: int = _SHOWN) -> str:
        """The first ``num_rows`` rows as an aligned table, then a summary line."""
        rows = [list(self.columns), *self._cells(0, num_rows)]
        widths = [max(len(row[j]) for row in rows) for j in range(len(rows[0]))]
        lines = ["  ".join(cell.rjust(width) for cell, width in zip(row, widths)) for row in rows]
        if len(self) > num_rows:
            lines.append(f"... ({len(self) - num_rows} more rows)")
        return "\n".join([*lines, self.summary()])

    def summary(self) -> str:
        """One line: rows, and the class counts and mean confidence, or the prediction's range."""
        if self.task == "classification":
            names, counts = np.unique(self.columns["class_name"].astype(str), return_counts=True)
            share = ", ".join(f"{n} {c}" for n, c in sorted(zip(names, counts), key=lambda p: -p[1]))
            return f"{len(self)} rows; predicted classes: {share}; mean confidence {np.mean(self.columns['confidence']):.3f}"
        values = self.columns["prediction"]
        return (f"{len(self)} rows; prediction min {np.min(values):.4g}, mean {np.mean(values):.4g}, "
                f"max {np.max(values):.4g}; mean std {np.mean(self.columns['std']):.4g}")


def _cell(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        return format(float(value), ".7g")
    return str(value)


def _read_run(run: Path) -> tuple[dict[str, Any], dict[str, Standardizer]]:
    """``dataset.json`` and the standardizers of a finished run."""
    if not run.is_dir():
        raise FileNotFoundError(format_message("--run", str(run), "a run directory written by `topnet run`",
                                               "check the path (the run's --out)"))
    absent = [name for name in _RUN_FILES if not (run / name).is_file()]
    if absent:
        raise CheckpointError(f"--run {str(run)!r}: got a directory without {absent}; expected a finished "
                              "`topnet run` directory (dataset.json, standardizer.json, ensemble/); finish the run "
                              f"with: topnet run --out {run} --resume")
    info = json.loads((run / "dataset.json").read_text(encoding="utf-8"))
    states = json.loads((run / "standardizer.json").read_text(encoding="utf-8"))
    return info, {key: Standardizer().load_state_dict(state) for key, state in states.items()}


def _standardize(x: Any, scalers: dict[str, Standardizer]) -> Any:
    if isinstance(x, dict):
        return {key: scalers[key].transform(value) if key in scalers else value for key, value in x.items()}
    if "x" in scalers:
        return scalers["x"].transform(x)
    return x if np.issubdtype(np.asarray(x).dtype, np.integer) else np.asarray(x, np.float32)  # token ids stay ints


def _units_notes(x: Any, scalers: dict[str, Standardizer]) -> list[str]:
    """A note when the inputs sit far from the training data: another mean or another scale
    (0-1 pixels for a run trained on 0-255 ones, say)."""
    if isinstance(x, dict) or "x" not in scalers or len(x) == 0:
        return []
    scaler, array = scalers["x"], np.asarray(x, np.float64)
    channels = array.reshape(len(array), array.shape[1], -1)  # (rows, channels, values)
    means, stds = np.nanmean(channels, axis=(0, 2)), np.nanstd(channels, axis=(0, 2))
    ratio = stds / scaler.std_
    far = (np.abs(means - scaler.mean_) / scaler.std_ > 3) | ((stds > 0) & ((ratio < 0.1) | (ratio > 10)))
    if not np.any(far):
        return []
    channel = int(np.argmax(far))
    return [f"the inputs have mean {means[channel]:.4g} and std {stds[channel]:.4g} on channel {channel}, the run's "
            f"training inputs {scaler.mean_[channel]:.4g} and {scaler.std_[channel]:.4g}: pass them in the units the run was trained on "
            "(e.g. 0-255 pixels, not 0-1), else the predictions mean little"]


def _token_ids(x: Any, run: Path, info: dict[str, Any]) -> tuple[Any, list[str]]:
    """New texts as token ids, with the vocabulary the run fitted on its train split."""
    from topnet.data.text import TextVectorizer

    path = run / "text_vectorizer.json"
    if not path.is_file():
        raise CheckpointError(format_message("--run", str(run), "a run on text with its text_vectorizer.json",
                                             "the run directory is incomplete; run topnet run again"))
    states, notes = json.loads(path.read_text(encoding="utf-8")), []
    for key, state in states.items():
        vectorizer = TextVectorizer().load_state_dict(state)
        texts = x[key] if isinstance(x, dict) and key in x else x["text"] if isinstance(x, dict) else x
        ids = vectorizer.transform(texts)
        if vectorizer.truncated_:
            notes.append(f"{vectorizer.truncated_} text(s) longer than {vectorizer.sequence_length} tokens were "
                         "truncated, as in training")
        if isinstance(x, dict) and info["text"].get(key, {}).get("table_input") is None:
            x = {**x, key: ids}
        else:
            x = ids  # a folder of text, or a table whose only input is text
    return x, notes


def _has_dropout(member: Any) -> bool:
    from topnet.ensemble import NetworkMember
    from topnet.train.regularizers import DROPOUT_TYPES

    return isinstance(member, NetworkMember) and any(
        isinstance(m, DROPOUT_TYPES) and m.p > 0 for m in member.model.modules())


def _classification_samples(member: Any, x: Any, mc_samples: int, seed: int, batch_size: int,
                            device: torch.device) -> np.ndarray:
    """``(S, N, C)`` class probabilities of ``mc_samples`` MC dropout passes (``mc_predict``)."""
    from topnet.uncertainty import mc_predict

    result = mc_predict(member.model, member.inputs(x), mc_samples, seed=seed, batch_size=batch_size,
                        device=device, return_samples=True)
    samples = result.samples.double().numpy()
    if samples.ndim == 2 or samples.shape[2] == 1:  # one binary logit: sigmoid of the positive class
        positive = samples.reshape(samples.shape[0], samples.shape[1])
        return np.stack([1.0 - positive, positive], axis=2)
    return samples


def _regression_samples(member: Any, x: Any, mc_samples: int, seed: int, batch_size: int,
                        device: torch.device) -> np.ndarray:
    """``(S, N)`` predictions of ``mc_samples`` MC dropout passes (the masks ``mc_predict`` draws)."""
    from topnet.data.batches import num_samples, to_tensors, tree_map
    from topnet.ensemble.members import network_outputs
    from topnet.train.checks import call_model
    from topnet.uncertainty import sampled_dropout

    model, inputs = member.model.to(device), to_tensors(member.inputs(x), device)
    total = num_samples(inputs)
    out = np.empty((mc_samples, total))
    with torch.no_grad():
        for sample in range(mc_samples):
            for first in range(0, total, batch_size):
                batch = tree_map(lambda t: t[first:first + batch_size], inputs)
                with sampled_dropout(model, sample, seed=seed, row_offset=first) as sampled:
                    logits = call_model(sampled, batch)
                out[sample, first:first + batch_size] = network_outputs(logits.float().cpu(), "regression").reshape(-1)
    return out


def _ensemble_outputs(ensemble: Any, x: Any, mc_samples: int, seed: int, batch_size: int,
                      device: torch.device) -> tuple[dict[str, np.ndarray], np.ndarray | None, list[str]]:
    """The members' outputs (MC means for dropout networks), the ensemble's output per MC sample
    ``(S, N, ...)`` (None without MC) and notes."""
    draw = _classification_samples if ensemble.task_ == "classification" else _regression_samples
    samples = {m.name: draw(m, x, mc_samples, seed, batch_size, device)
               for m in ensemble.members_ if mc_samples > 0 and _has_dropout(m)}
    outputs = {m.name: samples[m.name].mean(axis=0) if m.name in samples else m.predict(x) for m in ensemble.members_}
    notes = []
    if mc_samples > 0 and not samples:
        notes.append("no ensemble member has dropout layers: --mc-samples changes nothing (mc_std is 0)")
    elif samples:
        notes.append(f"MC dropout ({mc_samples} samples, seed {seed}) for {sorted(samples)}; "
                     f"deterministic: {sorted(set(outputs) - set(samples))}")
    if mc_samples == 0:
        return outputs, None, notes
    per_sample = np.stack([ensemble.combine({**outputs, **{name: s[i] for name, s in samples.items()}})
                           for i in range(mc_samples)]) if samples else None
    return outputs, per_sample, notes


def _classification(ensemble: Any, outputs: dict[str, np.ndarray], per_sample: np.ndarray | None,
                    mc_samples: int, names: list[str]) -> dict[str, np.ndarray]:
    probabilities = np.asarray(ensemble.combine(outputs), np.float64)  # (N, C), temperature applied
    predicted = probabilities.argmax(axis=1)
    rows = np.arange(len(predicted))
    columns = {"row": rows, "class": predicted, "class_name": np.array(names, dtype=object)[predicted],
               "confidence": probabilities[rows, predicted],
               "entropy": -np.sum(probabilities * np.log(np.clip(probabilities, 1e-300, None)), axis=1)}
    if mc_samples > 0:
        columns["mc_std"] = np.zeros(len(rows)) if per_sample is None else per_sample[:, rows, predicted].std(axis=0)
    columns.update({header: probabilities[:, i] for i, header in enumerate(class_columns(names))})
    return columns


def _regression(ensemble: Any, outputs: dict[str, np.ndarray], per_sample: np.ndarray | None,
                mc_samples: int) -> dict[str, np.ndarray]:
    values = {name: np.asarray(v, np.float64).reshape(len(v), -1) for name, v in outputs.items()}
    if any(v.shape[1] != 1 for v in values.values()):
        raise ValueError(format_message("ensemble outputs", {k: v.shape for k, v in values.items()},
                                        "one value per row (a single regression target)"))
    prediction = np.asarray(ensemble.combine(outputs), np.float64).reshape(-1)
    spread = np.std(np.stack([v[:, 0] for v in values.values()]), axis=0)  # the members' disagreement
    columns = {"row": np.arange(len(prediction)), "prediction": prediction, "std": spread}
    if mc_samples > 0:
        mc_std = np.zeros(len(prediction)) if per_sample is None else per_sample.reshape(mc_samples, -1).std(axis=0)
        columns["std"], columns["mc_std"] = np.sqrt(spread ** 2 + mc_std ** 2), mc_std
    return columns


def predict_run(run_dir: str | os.PathLike, input: Any, *, mc_samples: int = 0,  # noqa: A002 - the CLI's INPUT
                out: str | os.PathLike | None = None, device: str = "auto", batch_size: int = 256,
                seed: int = 0) -> Predictions:
    """Predict with a finished run's ensemble: classes and probabilities, or values, and uncertainty.

    Args:
        run_dir: the directory ``topnet run`` wrote (``--out``).
        input: a ``.npz`` (array ``x``, else ``x_test``, else its only array), ``.npy``, IDX or
            (for runs on a table) ``.csv`` / ``.tsv`` / ``.parquet`` file; for runs on a folder
            of images also a folder, an image manifest or an image file; or an array shaped
            like the run's inputs.
            Raw values, as the run read its data: the run's standardisation is applied here.
        mc_samples: MC dropout passes for network members with dropout (0: none).
        out: write the table there as CSV (atomically); None: only return it.
        device: ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``.
        batch_size: rows per forward pass.
        seed: fixes the MC dropout masks.

    Returns:
        `Predictions` (``columns``, ``notes``; ``path`` when ``out`` was given).

    Raises:
        FileNotFoundError / CheckpointError: no run, or an unfinished one.
        DataError: inputs that do not fit the run (shape, missing columns, unreadable file).

    Example (not run by the doctests: it needs a finished run):
        predictions = predict_run("runs/price", "new_houses.csv", mc_samples=30, out="preds.csv")
        predictions.columns["prediction"][:3], predictions.notes
    """
    from topnet.ensemble import Ensemble
    from topnet.io import atomic_write_text
    from topnet.train.loop import resolve_device

    for name, value in (("mc_samples", mc_samples), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < (0 if name == "mc_samples" else 1):
            raise ValueError(format_message(name, value, "a non-negative int" if name == "mc_samples" else "a positive int"))
    run = Path(run_dir)
    info, scalers = _read_run(run)
    x, notes, paths = read_inputs(input, info)
    if info.get("text"):
        x, text_notes = _token_ids(x, run, info)
        notes += text_notes
    notes += _units_notes(x, scalers)
    resolved = resolve_device(device)
    ensemble = Ensemble.load(run / "ensemble", device=str(resolved))
    for member in ensemble.members_:
        if hasattr(member, "batch_size"):
            member.batch_size = batch_size
    outputs, per_sample, mc_notes = _ensemble_outputs(ensemble, _standardize(x, scalers), mc_samples, seed,
                                                      batch_size, resolved)
    if ensemble.task_ == "classification":
        names = [str(n) for n in (ensemble.class_names_ or info.get("class_names") or range(ensemble.num_classes_))]
        columns = _classification(ensemble, outputs, per_sample, mc_samples, names)
    else:
        columns = _regression(ensemble, outputs, per_sample, mc_samples)
    if paths is not None:  # one row per image file: name it next to its row number
        columns = {"row": columns.pop("row"), "path": np.asarray(paths, dtype=object), **columns}
    predictions = Predictions(columns, ensemble.task_, notes + mc_notes)
    if out is not None:
        predictions.path = Path(out)
        atomic_write_text(predictions.path, predictions.to_csv())
    return predictions


"""The report's figures: each a small function from plain arrays and dicts to PNG bytes.

Figures are drawn on matplotlib's ``Figure`` directly (the Agg renderer, no pyplot state and no
display), so they are safe in threads and on servers. Text from the run (class, model and
parameter names) goes through ``_label``, which keeps matplotlib from reading ``$...$`` as maths.

Example:
    >>> png = lr_finder_curve([1e-4, 1e-3, 1e-2], [2.3, 1.9, 3.0], [2.3, 2.0, 2.4], {"valley": 1e-3})
    >>> png[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
    True
"""
from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["learning_curves", "lr_finder_curve", "search_history", "param_importances", "ensemble_weights",
           "diversity_heatmap", "confusion_matrix", "reliability_diagram", "least_sure_images", "predicted_vs_true"]

_DPI = 100


def _figure(width: float, height: float) -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError("the report's plots need matplotlib: pip install 'topnet[plots]' (or matplotlib)") from error
    return Figure(figsize=(width, height), dpi=_DPI)


def _png(figure: Any) -> bytes:
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _label(text: Any, width: int = 24) -> str:
    """A name as plain text for matplotlib: ``$`` escaped, cut to ``width`` characters."""
    text = str(text)
    text = text if len(text) <= width else text[: width - 1] + "…"
    return text.replace("$", r"\$")


def learning_curves(histories: Mapping[str, Mapping[str, Sequence[float]]]) -> bytes:
    """Loss (and the first other metric) per epoch: training dashed, validation solid, a colour per model.

    Args:
        histories: ``{model: {"epoch": [...], "loss": [...], "val_loss": [...], ...}}`` (CSVLogger columns).
    """
    metrics = [c for h in histories.values() for c in h if c not in ("epoch", "lr") and not c.startswith("val_")]
    panels = ["loss"] + [m for m in dict.fromkeys(metrics) if m != "loss"][:1]
    figure = _figure(5.0 * len(panels), 3.6)
    for index, metric in enumerate(panels):
        axes = figure.add_subplot(1, len(panels), index + 1)
        for colour, (name, history) in enumerate(histories.items()):
            epochs = np.asarray(history.get("epoch", np.arange(len(next(iter(history.values()))))))
            for prefix, style in (("", "--"), ("val_", "-")):
                if prefix + metric in history:
                    axes.plot(epochs + 1, history[prefix + metric], style, color=f"C{colour % 10}",
                              label=f"{_label(name)} ({'valid' if prefix else 'train'})")
        axes.set_xlabel("epoch")
        axes.set_ylabel(_label(metric))
        axes.legend(fontsize=7)
    return _png(figure)


def lr_finder_curve(lrs: Sequence[float], losses: Sequence[float], smoothed: Sequence[float],
                    suggestions: Mapping[str, float], rule: str | None = None) -> bytes:
    """Training loss against learning rate (log x), each rule's suggestion a vertical line (``rule``'s solid)."""
    figure = _figure(7.0, 3.8)
    axes = figure.add_subplot()
    axes.plot(lrs, losses, color="0.75", linewidth=0.8, label="loss")
    axes.plot(lrs, smoothed, color="C0", label="smoothed loss")
    for index, (name, lr) in enumerate(suggestions.items()):
        axes.axvline(lr, color=f"C{index + 1}", linestyle="-" if name == rule else "--", label=f"{_label(name)}: {lr:.2g}")
    axes.set_xscale("log")
    axes.set_xlabel("learning rate")
    axes.set_ylabel("training loss")
    finite = [v for v in smoothed if math.isfinite(v)]
    if finite and min(max(finite), 1.5 * finite[0]) > min(finite):  # keep the blow-up from squashing the rest
        low, high = min(finite), min(max(finite), 1.5 * finite[0])
        axes.set_ylim(low - 0.05 * (high - low), high)
    axes.legend(fontsize=7)
    return _png(figure)


def search_history(numbers: Sequence[int], values: Sequence[float | None], states: Sequence[str],
                   maximize: bool = True, metric: str = "value") -> bytes:
    """Each trial's value (complete: filled, pruned: hollow) and the best so far (a step line)."""
    figure = _figure(5.5, 3.6)
    axes = figure.add_subplot()
    numbers = np.asarray(numbers)
    values = np.array([math.nan if v is None else float(v) for v in values])
    complete = np.array([s == "COMPLETE" for s in states])
    axes.scatter(numbers[complete], values[complete], s=18, color="C0", label="complete")
    axes.scatter(numbers[~complete], values[~complete], s=18, facecolors="none", edgecolors="C1", label="pruned / other")
    best = np.where(complete, values, -math.inf if maximize else math.inf)
    best = np.maximum.accumulate(best) if maximize else np.minimum.accumulate(best)
    shown = np.isfinite(best)
    axes.step(numbers[shown], best[shown], where="post", color="C2", label="best so far")
    axes.set_xlabel("trial")
    axes.set_ylabel(_label(metric))
    axes.legend(fontsize=7)
    return _png(figure)


def _bars(values: Mapping[str, float], xlabel: str) -> bytes:
    names = sorted(values, key=lambda k: values[k])
    figure = _figure(5.0, 1.0 + 0.3 * len(names))
    axes = figure.add_subplot()
    axes.barh([_label(n, 32) for n in names], [values[n] for n in names], color="C0")
    for row, name in enumerate(names):
        axes.text(values[name], row, f" {values[name]:.3f}", va="center", fontsize=8)
    axes.set_xlabel(xlabel)
    axes.margins(x=0.2)
    return _png(figure)


def param_importances(importances: Mapping[str, float]) -> bytes:
    """Horizontal bars of each parameter's importance, largest at the top."""
    return _bars(importances, "importance")


def ensemble_weights(weights: Mapping[str, float]) -> bytes:
    """Horizontal bars of each member's weight in the ensemble."""
    return _bars(weights, "weight")


def diversity_heatmap(names: Sequence[str], measures: Mapping[str, Any]) -> bytes:
    """One annotated heat map per pairwise measure (``{measure: (M, M)}``, None/NaN shown as "–")."""
    import matplotlib

    size = len(names)
    figure = _figure(max(3.2, 1.4 + 0.6 * size) * len(measures), max(2.8, 1.2 + 0.5 * size))
    for index, (measure, matrix) in enumerate(measures.items()):
        matrix = np.array([[math.nan if v is None else v for v in row] for row in matrix], dtype=float)
        axes = figure.add_subplot(1, len(measures), index + 1)
        cmap = matplotlib.colormaps["viridis"].with_extremes(bad="0.85")  # undefined (NaN) cells in grey
        image = axes.imshow(matrix, cmap=cmap, vmin=0.0 if measure == "disagreement" else -1.0, vmax=1.0)
        axes.set_xticks(range(size), [_label(n, 14) for n in names], rotation=45, ha="right", fontsize=8)
        axes.set_yticks(range(size), [_label(n, 14) for n in names] if index == 0 else [], fontsize=8)
        for (i, j), value in np.ndenumerate(matrix):  # dark text on grey (NaN) and on viridis's bright top
            bright = np.isnan(value) or image.norm(value) > 0.6
            axes.text(j, i, "–" if np.isnan(value) else f"{value:.2f}", ha="center", va="center", fontsize=7,
                      color="k" if bright else "w")
        axes.set_title(_label(measure.replace("_", " ")), fontsize=9)
        figure.colorbar(image, ax=axes, shrink=0.8)
    return _png(figure)


def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int], class_names: Sequence[str]) -> bytes:
    """Counts per (true, predicted) class; colour is the row-normalised share (recall on the diagonal)."""
    size = len(class_names)
    counts = np.zeros((size, size), dtype=np.int64)
    np.add.at(counts, (np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)), 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.nan_to_num(counts / counts.sum(axis=1, keepdims=True))
    side = min(10.0, 2.5 + 0.55 * size)
    figure = _figure(side + 1.0, side)
    axes = figure.add_subplot()
    image = axes.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    labels = [_label(n, 16) for n in class_names]
    axes.set_xticks(range(size), labels, rotation=45, ha="right", fontsize=8)
    axes.set_yticks(range(size), labels, fontsize=8)
    if size <= 20:
        for (i, j), count in np.ndenumerate(counts):
            axes.text(j, i, str(count), ha="center", va="center", fontsize=7, color="w" if share[i, j] > 0.5 else "k")
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    figure.colorbar(image, ax=axes, shrink=0.8, label="share of the true class")
    return _png(figure)


def reliability_diagram(y_true: Sequence[int], after: Any, before: Any | None = None, num_bins: int = 15) -> bytes:
    """Accuracy against confidence per bin, before (grey) and after (blue) calibration; counts below."""
    from topnet.uncertainty.calibration import expected_calibration_error
    from topnet.uncertainty.calibration import reliability_diagram as bins

    figure = _figure(5.5, 5.0)
    top, bottom = figure.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    top.plot([0, 1], [0, 1], ":", color="k", linewidth=0.8, label="perfectly calibrated")
    for name, proba, colour in (("before", before, "0.55"), ("after", after, "C0")):
        if proba is None:
            continue
        diagram = bins(proba, y_true, num_bins)
        filled = diagram["count"] > 0
        ece = expected_calibration_error(proba, y_true, num_bins)
        top.plot(diagram["confidence"][filled], diagram["accuracy"][filled], "o-", color=colour,
                 label=f"{name} calibration (ECE {ece:.3f})")
        centres = (diagram["edges"][:-1] + diagram["edges"][1:]) / 2
        bottom.bar(centres, diagram["count"], width=1 / num_bins, color=colour, alpha=0.6)
    top.set_ylabel("accuracy")
    top.set_xlim(0, 1)
    top.set_ylim(0, 1)
    top.legend(fontsize=7, loc="upper left")
    bottom.set_xlabel("confidence (top probability)")
    bottom.set_ylabel("rows")
    return _png(figure)


def _display(image: np.ndarray) -> np.ndarray:
    """One image as (H, W) or (H, W, 3) floats in [0, 1], from (H, W), (H, W, C) or (C, H, W)."""
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 3 and image.shape[0] in (1, 3) and image.shape[-1] not in (1, 3):
        image = np.moveaxis(image, 0, -1)  # (C, H, W) -> (H, W, C)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    low, high = np.nanmin(image), np.nanmax(image)
    return (image - low) / (high - low) if high > low else np.zeros_like(image)


def least_sure_images(images: Sequence[Any], true: Sequence[str], predicted: Sequence[str],
                      entropy: Sequence[float], columns: int = 6) -> bytes:
    """Thumbnails with their true and predicted class and the predictive entropy (nats)."""
    rows = max(1, math.ceil(len(images) / columns))
    figure = _figure(1.5 * columns, 1.85 * rows)
    for index, image in enumerate(images):
        axes = figure.add_subplot(rows, columns, index + 1)
        axes.imshow(_display(image), cmap="gray", interpolation="nearest")
        wrong = true[index] != predicted[index]
        axes.set_title(f"true: {_label(true[index], 12)}\npred: {_label(predicted[index], 12)}\nH = {entropy[index]:.2f}",
                       fontsize=7, color="C3" if wrong else "k")
        axes.axis("off")
    return _png(figure)


def predicted_vs_true(y_true: Sequence[float], y_pred: Sequence[float]) -> bytes:
    """Regression: each test row's prediction against its target, with the identity line."""
    figure = _figure(4.8, 4.4)
    axes = figure.add_subplot()
    axes.scatter(y_true, y_pred, s=6, alpha=0.5, color="C0")
    low, high = float(np.nanmin([np.min(y_true), np.min(y_pred)])), float(np.nanmax([np.max(y_true), np.max(y_pred)]))
    axes.plot([low, high], [low, high], ":", color="k", linewidth=0.8)
    axes.set_xlabel("true")
    axes.set_ylabel("predicted")
    return _png(figure)

"""Callbacks and TensorBoard on one run (Chollet 7.2).

One training run watched by the chapter's callbacks: ``ModelCheckpoint`` keeps the weights of
the best epoch by validation loss, ``EarlyStopping`` stops when validation accuracy stops
improving, ``ReduceLROnPlateau`` halves the rate when validation loss stalls, ``CSVLogger``
writes the history, the chapter's custom ``ActivationLogger`` saves every layer's activations
on one validation image after each epoch, and ``TensorBoard`` writes scalars, weight, gradient
and activation histograms and the graph. The model is an MLP with dropout on a Fashion-MNIST
subset; the best checkpoint is loaded back and scored once on test. The table says what each
callback did; the notes give the folders and the ``tensorboard --logdir`` command.

    topnet recipe run callbacks-tensorboard --out runs/callbacks
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import topnet
from topnet.callbacks import (ActivationLogger, Callback, CSVLogger, EarlyStopping, ModelCheckpoint,
                              ReduceLROnPlateau, TensorBoard)
from topnet.io import load_weights
from topnet.nn import create_model
from topnet.recipes.common import data_line, images_of, load_data, resolve_seeds, scaled, subsets, train_model
from topnet.recipes.table import RecipeResult, mean_spread

__all__ = ["run", "ActivationLogger"]

FULL = {"num_train": 10000, "num_valid": 2000, "num_test": 10000, "epochs": 15, "patience": 3}
QUICK = {"num_train": 256, "num_valid": 128, "num_test": 256, "epochs": 2, "patience": 1}


def run(data: Any = "fashion-mnist", seeds: Any = None, quick: bool = False, out: Any = None,
        device: Any = "auto", batch_size: int = 64) -> RecipeResult:
    """Train once per seed with every callback watching; return what each did, and where the logs are."""
    sizes = QUICK if quick else FULL
    seeds = resolve_seeds(seeds, quick)
    out = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="topnet-recipe-callbacks-"))
    splits = scaled(subsets(load_data(data), sizes["num_train"], sizes["num_valid"], sizes["num_test"]))
    input_shape, num_classes = images_of(splits)
    result = RecipeResult("callbacks-tensorboard", "Chollet 7.2: one run, six callbacks (first seed)",
                          ["callback", "what it did"])
    test_accuracy = []
    for seed in seeds:
        folder = out / f"seed-{seed}"
        callbacks = {
            "checkpoint": ModelCheckpoint(folder / "best.safetensors", monitor="val_loss", save_best_only=True,
                                          save_weights_only=True),
            "stop": EarlyStopping(monitor="val_accuracy", patience=sizes["patience"]),
            "plateau": ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=1),
            "csv": CSVLogger(folder / "history.csv"),
            "activations": ActivationLogger(splits.valid.x[:1], folder / "activations"),
            "tensorboard": TensorBoard(folder / "tensorboard", histogram_freq=1),
        }
        trained = train_model(lambda: create_model("mlp", input_shape=input_shape, num_classes=num_classes,
                                                   hidden=(300, 100), dropout=0.2, initializer="auto"),
                              topnet.data.Splits(train=splits.train, valid=splits.valid), seed=seed,
                              epochs=sizes["epochs"], batch_size=batch_size, callbacks=list(callbacks.values()),
                              device=device)
        load_weights(trained.model, folder / "best.safetensors")  # the best epoch by val_loss
        test_accuracy.append(topnet.evaluate(trained.model, splits.test, metrics=["accuracy"], device=device)["accuracy"])
        if seed == seeds[0]:
            describe(result, trained, callbacks, folder, sizes["epochs"])
    result.add_row("(best checkpoint on test)", f"test accuracy {mean_spread(test_accuracy)} over {len(seeds)} seed(s)")
    result.describe(seeds, device, data=data_line(splits, data, "x / 255"),
                    training=f"MLP 300-100 ReLU, dropout 0.2, Adam, at most {sizes['epochs']} epochs, batch {batch_size}")
    result.notes.append(f"logs: {out} (one folder per seed)")
    result.notes.append(f"open TensorBoard: tensorboard --logdir {out / f'seed-{seeds[0]}' / 'tensorboard'}")
    result.raw = {"test_accuracy": test_accuracy}
    result.save(out)
    return result


def describe(result: RecipeResult, trained: Any, callbacks: dict[str, Callback], folder: Path, max_epochs: int) -> None:
    """One row per callback, from the run's history and the files it left."""
    history, epochs = trained.history, trained.epochs_run
    rates = history["learning_rate"]
    cuts = [f"after epoch {i + 1}: {rates[i]:.2g} → {rates[i + 1]:.2g}" for i in range(len(rates) - 1)
            if rates[i + 1] < rates[i]]
    stop = callbacks["stop"]
    stopped = (f"stopped after epoch {stop.stopped_epoch + 1} (of at most {max_epochs}): val_accuracy did not improve "
               f"for {stop.patience} epoch(s)" if stop.stopped_epoch else f"did not stop: all {epochs} epochs ran")
    events = sorted({str(p.parent.relative_to(folder)) for p in (folder / "tensorboard").rglob("events.out.tfevents*")})
    result.add_row("ModelCheckpoint", f"best val_loss {min(history['val_loss']):.4f} at epoch {trained.best_epoch}; "
                                      f"weights in {folder / 'best.safetensors'}")
    result.add_row("EarlyStopping", stopped)
    result.add_row("ReduceLROnPlateau", "halved the rate " + "; ".join(cuts) if cuts else "never cut the rate")
    result.add_row("CSVLogger", f"{len(read_lines(folder / 'history.csv')) - 1} rows in {folder / 'history.csv'}")
    result.add_row("ActivationLogger", f"{len(list((folder / 'activations').glob('*.npz')))} npz files in "
                                       f"{folder / 'activations'}")
    result.add_row("TensorBoard", f"event files in {', '.join(events)} (scalars, histograms, graph) under {folder}")


def read_lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []
